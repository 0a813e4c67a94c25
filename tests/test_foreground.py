"""A CPU training run pauses between steps while students' pictures are answered (vitcore.train.foreground)."""

import threading
import time

import pytest
import torch

from test_engine import TinyNet, fresh_model, make_colour_data, quick_config
from vitcore.errors import VitcoreError
from vitcore.runs.store import RunStore
from vitcore.train.engine import fit
from vitcore.train.foreground import ForegroundActivity, TrainingYield
from vitcore.train.scheduler import JobScheduler, SchedulerConfig, YIELD_ENV, config_from_env


class FakeTime:
    """A clock that only moves when the code under test sleeps (or the test says so): no real waiting."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []  # every sleep asked for, in seconds

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def make_yield(fake: FakeTime, quiet_s=1.5, max_pause_s=4.0):
    activity = ForegroundActivity(clock=fake.clock)
    return activity, TrainingYield(activity, quiet_s, max_pause_s, clock=fake.clock, sleep=fake.sleep)


def test_quiet_time_is_zero_while_work_runs_and_counts_from_its_end():
    fake = FakeTime()
    activity = ForegroundActivity(clock=fake.clock)
    assert activity.seconds_quiet() == float("inf")  # nothing ever ran
    with activity.running():
        fake.now += 3.0
        assert activity.seconds_quiet() == 0.0
        with activity.running():  # two students at once
            pass
        assert activity.seconds_quiet() == 0.0  # the first is still running
    fake.now += 0.25
    assert activity.seconds_quiet() == pytest.approx(0.25)


def test_work_that_raises_still_ends():
    fake = FakeTime()
    activity = ForegroundActivity(clock=fake.clock)
    with pytest.raises(ValueError):
        with activity.running():
            raise ValueError("a broken picture")
    fake.now += 1.0
    assert activity.seconds_quiet() == pytest.approx(1.0)


def test_trainer_waits_until_the_pictures_have_been_quiet_long_enough():
    fake = FakeTime()
    activity, pause = make_yield(fake, quiet_s=1.5)
    assert pause.before_step() == 0.0 and fake.sleeps == []  # nobody uploaded: no waiting at all
    with activity.running():
        fake.now += 0.4  # a prediction takes 0.4 s
    fake.now += 0.5  # the trainer comes back 0.5 s after it ended
    assert pause.before_step() == pytest.approx(1.0)  # waits out the remaining 1.0 s of quiet
    assert activity.seconds_quiet() == pytest.approx(1.5)


def test_a_class_that_never_stops_clicking_slows_training_to_half_speed_not_to_a_halt():
    fake = FakeTime()
    activity, pause = make_yield(fake, quiet_s=1.5, max_pause_s=4.0)  # saves up 3 pauses: 12 s of credit
    trained = paused = 0.0
    with activity.running():  # uploads never stop
        assert pause.before_step() == pytest.approx(4.0)  # the longest single pause, from the saved credit
        for _ in range(200):  # then steps of 1 s each
            fake.now += 1.0
            trained += 1.0
            paused += pause.before_step()
    assert paused <= trained + 12.0 - 4.0 + 1e-9  # never more pausing than training plus the saved credit
    assert paused >= trained - 12.0  # ... and it does keep pausing: half speed, not full speed
    assert pause.paused_s_total == pytest.approx(paused + 4.0)


def test_a_burst_after_a_calm_stretch_gets_the_full_pause_again():
    fake = FakeTime()
    activity, pause = make_yield(fake, quiet_s=1.5, max_pause_s=4.0)
    for _ in range(3):  # three bursts in a row spend all the credit
        with activity.running():
            assert pause.before_step() == pytest.approx(4.0)
    with activity.running():
        assert pause.before_step() == 0.0  # no credit left: the step runs
        fake.now += 2.0  # a 2 s step earns 2 s
        assert pause.before_step() == pytest.approx(2.0)
    for _ in range(30):  # a calm minute of training
        fake.now += 2.0
        assert pause.before_step() == 0.0
    with activity.running():
        assert pause.before_step() == pytest.approx(4.0)  # the class uploads: full pause again


def test_a_stop_request_ends_the_pause_and_zero_turns_pausing_off():
    fake = FakeTime()
    activity, pause = make_yield(fake)
    with activity.running():
        asked = []

        def stop_after_three_looks():
            asked.append(1)
            return len(asked) > 3

        assert pause.before_step(stop_after_three_looks) < 0.5  # three polls of 0.05 s, then it stops waiting
        _, never = make_yield(fake, quiet_s=0.0)
        assert never.before_step() == 0.0


def test_fit_asks_before_every_step_and_every_validation():
    calls = []
    result = fit(fresh_model(), make_colour_data(), quick_config(epochs=2, max_train_batches_per_epoch=3),
                 before_step=lambda: calls.append(1))
    assert result.status == "finished"
    assert len(calls) == 2 * (3 + 1)  # 3 steps and 1 validation pass per epoch


class CountingNet(TinyNet):
    """TinyNet that counts its training forward passes and takes a little time for each."""

    def __init__(self):
        super().__init__(3)
        self.training_calls = 0

    def forward(self, images, return_attention=False):
        if self.training:
            self.training_calls += 1
            time.sleep(0.02)
        return super().forward(images)


def test_a_scheduled_cpu_run_holds_still_while_a_picture_is_answered(tmp_path):
    store = RunStore(tmp_path / "runs")
    models = []

    def build(model_config):
        torch.manual_seed(0)
        models.append(CountingNet())
        return models[-1]

    config = SchedulerConfig(yield_quiet_s=0.3, yield_max_pause_s=30.0)
    scheduler = JobScheduler(store, config, torch.device("cpu"), model_builder=build)
    try:
        run_id = scheduler.submit({"kind": "tiny", "num_classes": 3}, quick_config(epochs=200), make_colour_data(),
                                  owner="teacher")
        deadline = time.monotonic() + 30
        while not (models and models[0].training_calls >= 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert models and models[0].training_calls >= 3  # it trains
        with scheduler.foreground.running():  # a student's picture is being answered
            at_start = models[0].training_calls
            time.sleep(1.0)  # ~50 steps' worth of time
            during = models[0].training_calls - at_start
        assert during <= 1  # at most the step that was already under way
        time.sleep(0.3 + 0.5)  # quiet for longer than yield_quiet_s: training goes on
        assert models[0].training_calls > at_start + during
        assert scheduler.snapshot(run_id).paused_s >= 0.9  # the pause is counted (the Train page's progress line)
        assert scheduler.snapshot(run_id).status == "running"
        scheduler.stop(run_id, requester="teacher")
    finally:
        assert scheduler.shutdown(timeout=30)


def test_cpu_runs_yield_unless_turned_off_and_the_setting_comes_from_the_environment(tmp_path):
    store = RunStore(tmp_path / "runs")
    cpu = JobScheduler(store, SchedulerConfig(), torch.device("cpu"))
    assert isinstance(cpu._step_yield_for_new_job(), TrainingYield)
    off = JobScheduler(store, SchedulerConfig(yield_quiet_s=0), torch.device("cpu"))
    assert off._step_yield_for_new_job() is None
    assert config_from_env({YIELD_ENV: "2.5"}).yield_quiet_s == 2.5
    assert config_from_env({}).yield_quiet_s == SchedulerConfig().yield_quiet_s
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(VitcoreError, match="seconds"):
            config_from_env({YIELD_ENV: bad})


def test_many_threads_marking_work_at_once_keep_an_exact_count():
    activity = ForegroundActivity()
    start = threading.Barrier(8)

    def student():
        start.wait()
        for _ in range(200):
            with activity.running():
                pass

    threads = [threading.Thread(target=student) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0.0 < activity.seconds_quiet() < 5.0  # all ended (a leaked count would read 0.0 forever)
