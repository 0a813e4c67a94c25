"""JobScheduler: FIFO queue with a slot limit, permissions, cancel/stop/delete, clean shutdown."""

import sys
import threading
import time

import pytest
import torch

from test_engine import TinyNet, make_colour_data, quick_config
from vitcore.errors import RunError, VitcoreError
from vitcore.runs.store import RunStore
from vitcore.train.priority import current_thread_nice, lower_current_thread_priority
from vitcore.train.scheduler import (
    JobScheduler,
    SchedulerConfig,
    SchedulerPermissionError,
    config_from_env,
    slot_count_for,
    training_threads_for,
)

MODEL_CONFIG = {"kind": "tiny", "num_classes": 3}
CPU = torch.device("cpu")
TOKEN = "instructor-secret"


class GatedNet(TinyNet):
    """TinyNet whose forward pass waits for `gate` (up to `wait_s`), so a test decides when training goes on."""

    def __init__(self, gate: threading.Event, wait_s: float):
        super().__init__(3)
        self.gate = gate
        self.wait_s = wait_s

    def forward(self, images, return_attention=False):
        self.gate.wait(timeout=self.wait_s)
        return super().forward(images)


class Builder:
    """Model builder that records, for every job start, which runs had already finished."""

    def __init__(self, store, gate):
        self.store = store
        self.gate = gate
        self.wait_s = 0.05  # per forward pass while the gate is closed: slow but moving (stop works)
        self.starts = []  # (thread name, finished run ids at that moment)
        self.nice_values = []  # the building (= training) thread's nice value at every job start

    def __call__(self, model_config):
        finished = {s.id for s in self.store.list_runs() if s.status == "finished"}
        self.starts.append((threading.current_thread().name, finished))
        self.nice_values.append(current_thread_nice())
        return GatedNet(self.gate, self.wait_s)


def our_threads(run_ids):
    names = {f"train-{run_id}" for run_id in run_ids}
    return [thread for thread in threading.enumerate() if thread.name in names]


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def setup(tmp_path):
    store = RunStore(tmp_path / "runs")
    gate = threading.Event()
    builder = Builder(store, gate)
    scheduler = JobScheduler(store, SchedulerConfig(admin_token=TOKEN), CPU, model_builder=builder)
    yield store, gate, builder, scheduler
    gate.set()
    assert scheduler.shutdown(timeout=30)


def test_limit_one_queues_the_second_job_until_the_first_finishes(setup):
    store, gate, builder, scheduler = setup
    builder.wait_s = 60.0  # blocked until the gate opens
    data = make_colour_data()
    assert scheduler.slots == 1
    first = scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="alice", name="first")
    second = scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), lambda: data, owner="bob", name="second")
    assert scheduler.active_runs() == [first, second]
    assert scheduler.training_runs() == [first]  # the one that trains, not the one that waits
    assert scheduler.queue_position(first) is None and scheduler.queue_position(second) == 1
    waiting = scheduler.snapshot(second)
    assert waiting.status == "queued" and "waiting for a free training slot (next in line)" == waiting.message
    assert store.get(second).status()["status"] == "queued"  # every session sees it at once
    assert {s.id for s in store.list_runs()} == {first, second}
    assert wait_until(lambda: scheduler.snapshot(first).status == "running" and len(builder.starts) == 1)
    time.sleep(0.2)  # the first job is blocked (gate closed): the second must still wait
    assert scheduler.queue_position(second) == 1 and len(builder.starts) == 1

    gate.set()
    assert scheduler.wait_until_idle(timeout=60)
    assert [store.get(r).status()["status"] for r in (first, second)] == ["finished", "finished"]
    assert [name for name, _ in builder.starts] == [f"train-{first}", f"train-{second}"]
    assert first in builder.starts[1][1]  # the second started only after the first had finished
    final = scheduler.snapshot(second)
    assert final.status == "finished" and not final.is_alive and scheduler.queue_position(second) is None
    assert scheduler.active_runs() == [] and not our_threads([first, second])


def test_training_threads_leave_a_core_and_auto_device_is_pinned(setup):
    store, gate, builder, scheduler = setup
    gate.set()
    run_id = scheduler.submit(MODEL_CONFIG, quick_config(epochs=1, device="auto"), make_colour_data(), owner="a")
    assert scheduler.wait_until_idle(timeout=60)
    saved = store.get(run_id).config()["train_config"]
    assert saved["device"] == "cpu" and saved["num_threads"] == training_threads_for(CPU)
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert training_threads_for(CPU) == max(1, cores - 1)


def test_cancel_queued_and_permission_checks(setup):
    store, gate, builder, scheduler = setup
    builder.wait_s = 60.0  # the first job holds the only slot until the gate opens
    data = make_colour_data()
    running = scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="alice")
    queued = [scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="bob") for _ in range(3)]
    assert [scheduler.queue_position(r) for r in queued] == [1, 2, 3]

    with pytest.raises(SchedulerPermissionError, match="only the session that started this run"):
        scheduler.cancel(queued[0], requester="mallory")
    with pytest.raises(SchedulerPermissionError):
        scheduler.cancel(queued[0], requester="mallory", admin_token="guess")
    with pytest.raises(SchedulerPermissionError):
        scheduler.cancel(queued[0], requester=None)
    with pytest.raises(SchedulerPermissionError):
        scheduler.stop(running, requester="bob")
    assert scheduler.queue_position(queued[0]) == 1  # refused means untouched

    scheduler.cancel(queued[0], requester="bob")  # the owner
    scheduler.cancel(queued[2], requester="mallory", admin_token=TOKEN)  # the instructor
    assert scheduler.active_runs() == [running, queued[1]] and scheduler.queue_position(queued[1]) == 1
    assert store.get(queued[0]).status()["status"] == "stopped"
    assert scheduler.snapshot(queued[0]).message == "cancelled before it started"
    with pytest.raises(RunError, match="training already; stop it instead"):
        scheduler.cancel(running, requester="alice")
    with pytest.raises(RunError, match="not waiting"):
        scheduler.cancel(queued[0], requester="bob")
    with pytest.raises(RunError):
        scheduler.cancel("no-such-run", requester="bob")

    gate.set()
    assert scheduler.wait_until_idle(timeout=60)
    statuses = {r: store.get(r).status()["status"] for r in [running, *queued]}
    assert statuses == {running: "finished", queued[0]: "stopped", queued[1]: "finished", queued[2]: "stopped"}


def test_no_admin_token_configured_means_nobody_is_admin(tmp_path):
    store = RunStore(tmp_path)
    scheduler = JobScheduler(store, SchedulerConfig(admin_token=""), CPU)
    run = store.create_run("x", MODEL_CONFIG, {}, [], "", "", owner="alice")
    assert not scheduler.is_admin("") and not scheduler.is_admin(None)
    with pytest.raises(SchedulerPermissionError):
        scheduler.delete(run.id, requester="bob", admin_token="")
    scheduler.delete(run.id, requester="alice")
    assert store.list_runs() == []


def test_stop_and_delete_a_running_job(setup):
    store, gate, builder, scheduler = setup
    data = make_colour_data()
    to_stop = scheduler.submit(MODEL_CONFIG, quick_config(epochs=50), data, owner="alice")
    to_delete = scheduler.submit(MODEL_CONFIG, quick_config(epochs=50), data, owner="bob")
    assert wait_until(lambda: scheduler.snapshot(to_stop).step >= 1)
    scheduler.stop(to_stop, requester="alice")
    assert wait_until(lambda: scheduler.snapshot(to_delete).status == "running")  # the slot passed on
    stopped = store.get(to_stop)
    assert stopped.status()["status"] == "stopped" and stopped.has_checkpoint

    with pytest.raises(SchedulerPermissionError):
        scheduler.delete(to_delete, requester="alice")
    scheduler.delete(to_delete, requester="bob")
    assert not (store.root / to_delete).exists() and scheduler.snapshot(to_delete) is None
    assert [s.id for s in store.list_runs()] == [to_stop]
    assert not our_threads([to_stop, to_delete]) and scheduler.active_runs() == []
    scheduler.delete(to_stop, requester="mallory", admin_token=TOKEN)  # an ended run, by the instructor
    assert store.list_runs() == []


def test_delete_refuses_a_run_active_in_another_process(setup):
    store, gate, builder, scheduler = setup
    run = store.create_run("cli", MODEL_CONFIG, {}, [], "", "", owner="cli")
    run.set_status("running", "epoch 1")  # pid = this process and not in the queue: someone else's job
    with pytest.raises(RunError, match="outside this queue"):
        scheduler.delete(run.id, requester="cli")
    assert run.path.is_dir()


def test_shutdown_stops_everything_and_joins_every_thread(tmp_path):
    store = RunStore(tmp_path)
    gate = threading.Event()
    scheduler = JobScheduler(store, SchedulerConfig(max_jobs=2), CPU, model_builder=Builder(store, gate))
    assert scheduler.slots == 2
    data = make_colour_data()
    run_ids = [scheduler.submit(MODEL_CONFIG, quick_config(epochs=50), data, owner=f"s{i}") for i in range(4)]
    assert wait_until(lambda: all(scheduler.snapshot(r).step >= 1 for r in run_ids[:2]))
    assert scheduler.running_count() == 2 and scheduler.queue_position(run_ids[3]) == 2
    assert len(our_threads(run_ids)) == 2

    assert scheduler.shutdown(timeout=30)
    assert not our_threads(run_ids)
    statuses = [store.get(r).status()["status"] for r in run_ids]
    assert statuses == ["stopped", "stopped", "interrupted", "interrupted"]
    assert all(store.get(r).has_checkpoint for r in run_ids[:2])
    with pytest.raises(VitcoreError, match="shutting down"):
        scheduler.submit(MODEL_CONFIG, quick_config(), data, owner="s")
    assert scheduler.active_runs() == []


def test_slot_counts_and_environment(monkeypatch):
    config = SchedulerConfig(max_concurrent_cpu=3, max_concurrent_per_gpu=2)
    assert slot_count_for(CPU, config) == 3
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert slot_count_for(torch.device("cuda"), config) == 8
    assert slot_count_for(torch.device("cuda:1"), config) == 2
    assert slot_count_for(torch.device("cuda"), SchedulerConfig(max_jobs=5)) == 5

    from_env = config_from_env({"VIT_CLASSROOM_MAX_JOBS": " 3 ", "VIT_CLASSROOM_ADMIN_TOKEN": "t0k"})
    assert from_env.max_jobs == 3 and from_env.admin_token == "t0k"
    empty = config_from_env({})
    assert empty.max_jobs is None and empty.admin_token is None and slot_count_for(CPU, empty) == 1
    with pytest.raises(VitcoreError, match="VIT_CLASSROOM_MAX_JOBS must be a whole number"):
        config_from_env({"VIT_CLASSROOM_MAX_JOBS": "many"})
    with pytest.raises(VitcoreError, match="at least 1"):
        config_from_env({"VIT_CLASSROOM_MAX_JOBS": "0"})


def test_resume_through_the_queue(setup):
    store, gate, builder, scheduler = setup
    data = make_colour_data()
    run_id = scheduler.submit(MODEL_CONFIG, quick_config(epochs=10), data, owner="alice")
    assert wait_until(lambda: scheduler.snapshot(run_id).step >= 2)
    scheduler.stop(run_id, requester="alice")
    assert scheduler.wait_until_idle(timeout=30)
    with pytest.raises(SchedulerPermissionError):
        scheduler.resume(run_id, data, requester="bob")
    gate.set()
    assert scheduler.resume(run_id, data, requester="alice") == run_id
    assert scheduler.wait_until_idle(timeout=60)
    assert scheduler.snapshot(run_id).status == "finished"
    assert [record["epoch"] for record in store.get(run_id).read_metrics()] == list(range(1, 11))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_cpu_training_thread_yields_to_pages_with_a_higher_nice_value(setup):
    store, gate, builder, scheduler = setup
    gate.set()
    page_nice = current_thread_nice()  # this thread plays a page script: it must keep its priority
    run_id = scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), make_colour_data(), owner="a")
    assert scheduler.wait_until_idle(timeout=60)
    assert store.get(run_id).config()["train_config"]["cpu_nice"] == SchedulerConfig().training_nice == 10
    assert builder.nice_values == [min(19, page_nice + 10)]  # the training thread runs at a lower priority
    assert current_thread_nice() == page_nice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_lowering_priority_touches_only_the_calling_thread():
    before = current_thread_nice()
    seen = {}

    def worker():
        seen["returned"] = lower_current_thread_priority(3)
        seen["inside"] = current_thread_nice()
        seen["child"] = []
        child = threading.Thread(target=lambda: seen["child"].append(current_thread_nice()))  # like torch's OpenMP workers
        child.start()
        child.join()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["returned"] == seen["inside"] == min(19, before + 3)
    assert seen["child"] == [seen["inside"]]  # threads it starts inherit the lower priority
    assert current_thread_nice() == before  # the caller's own thread is untouched
    assert lower_current_thread_priority(0) is None  # 0 = leave it alone


def test_cpu_nice_is_validated():
    with pytest.raises(ValueError, match="cpu_nice"):
        quick_config(cpu_nice=25)


def test_one_session_cannot_fill_the_queue(setup):
    store, gate, builder, scheduler = setup
    builder.wait_s = 60.0  # every job blocks until the gate opens
    data = make_colour_data()
    limit = scheduler.config.max_active_per_owner
    mine = [scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="alice") for _ in range(limit)]
    runs_before = {summary.id for summary in store.list_runs()}
    with pytest.raises(VitcoreError, match=f"already have {limit} runs queued or training"):
        scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="alice")
    assert {summary.id for summary in store.list_runs()} == runs_before  # no run folder for the refused one
    other = scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="bob")  # others still get a turn
    assert scheduler.active_count_of("alice") == limit and scheduler.active_count_of("bob") == 1
    scheduler.cancel(mine[-1], "alice")  # a free place again
    scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="alice")
    assert scheduler.active_count_of("alice") == limit
    gate.set()
    assert scheduler.wait_until_idle(timeout=60)
    assert store.get(other).status()["status"] == "finished"


def test_simultaneous_submits_from_one_session_cannot_pass_the_limit_together(setup, monkeypatch):
    """Two quick clicks: creating a run folder takes a moment, and the per-session check must not be passed twice."""
    import vitcore.train.scheduler as scheduler_module

    store, gate, builder, scheduler = setup
    builder.wait_s = 60.0  # every job blocks until the gate opens

    class SlowToCreateJob(scheduler_module.TrainingJob):
        def __init__(self, *args, **kwargs):
            time.sleep(0.3)  # a slow disk: every submitter is inside `submit` before the first is queued
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scheduler_module, "TrainingJob", SlowToCreateJob)
    data = make_colour_data()
    limit = scheduler.config.max_active_per_owner
    clicks = limit + 3
    start_together = threading.Barrier(clicks)
    accepted, refused = [], []

    def click():
        start_together.wait(timeout=10)
        try:
            accepted.append(scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="alice"))
        except VitcoreError as error:
            refused.append(str(error))

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(accepted) == limit and len(refused) == clicks - limit
    assert all(f"already have {limit} runs" in message for message in refused)
    assert {summary.id for summary in store.list_runs()} == set(accepted)  # no folder for a refused click
    assert scheduler.active_count_of("alice") == limit

    class DiskFullJob(SlowToCreateJob):
        def __init__(self, *args, **kwargs):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(scheduler_module, "TrainingJob", DiskFullJob)
    for _ in range(limit + 1):  # a submit that fails while creating its run gives its place back
        with pytest.raises(OSError):
            scheduler.submit(MODEL_CONFIG, quick_config(epochs=1), data, owner="bob")
    assert scheduler.active_count_of("bob") == 0
    gate.set()
    assert scheduler.wait_until_idle(timeout=60)
