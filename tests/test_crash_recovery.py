"""Crashes and faults: a SIGKILLed training process, corrupt run files, a full disk, NaN and OOM.

Already covered elsewhere (not repeated here):
- tests/test_runs.py: atomic save keeps the old checkpoint on ENOSPC (save_checkpoint_atomic alone),
  corrupt config.json in the listing, truncated checkpoint.pt -> RunError, stale-heartbeat detection;
- tests/test_engine.py: NaN loss -> "failed" with "try a lower learning rate"
  (test_nan_loss_fails_with_a_clear_message, test_huge_learning_rate_is_caught).
This file adds the end-to-end versions: a real process killed mid-run and resumed, faults inside a
real `fit`, and what each broken file means for the rest of the run list.
"""

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test_engine import TinyNet, fresh_model, make_colour_data, quick_config
from vitcore.cli import main as cli_main
from vitcore.errors import RunError
from vitcore.runs.checkpoint import load_model_from_run
from vitcore.runs.store import RunStore
from vitcore.train.engine import fit
from vitcore.train.job import TrainingJob

REPO_ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition, timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


@pytest.fixture
def synth_folder(tmp_path) -> Path:
    """A tiny 5-class folder dataset (8 train + 4 val per class, 32 px) written by `data synth`."""
    out = tmp_path / "synth"
    code = cli_main(["data", "synth", "--out", str(out), "--train-per-class", "8", "--val-per-class", "4",
                     "--size", "32", "--seed", "1"])
    assert code == 0
    return out


def test_sigkilled_training_is_detected_readable_and_resumable(tmp_path, synth_folder, monkeypatch):
    runs = tmp_path / "runs"
    cache = tmp_path / "cache"
    monkeypatch.setenv("VIT_CLASSROOM_CACHE", str(cache))  # the in-process resume reads the same cache
    env = {**os.environ, "VIT_CLASSROOM_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vitcore", "train", "--model", "cnn", "--preset", "hw4", "--data", str(synth_folder),
         "--epochs", "50", "--device", "cpu", "--runs-dir", str(runs)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        def first_checkpoint_written():
            folders = list(runs.glob("*/checkpoint.pt"))
            if not folders:
                return False
            metrics = folders[0].parent / "metrics.jsonl"
            return metrics.is_file() and metrics.read_text().count("\n") >= 1

        assert wait_for(first_checkpoint_written, timeout=90), process.stderr.read1().decode(errors="replace")
        assert process.poll() is None, "training ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)  # reaped: a zombie would still look alive to kill(pid, 0)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    store = RunStore(runs)
    (run_summary,) = store.list_runs()
    run = run_summary.run
    assert run_summary.status == "running"  # what the killed process left behind
    assert store.recover_interrupted() == [run.id]
    status = run.status()
    assert status["status"] == "interrupted" and "resume it from the last checkpoint" in status["message"]
    assert store.recover_interrupted() == []  # idempotent

    with open(run.path / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 999, "train_loss": 0.1, "val_')  # a crash in the middle of a metrics write
    logged = run.read_metrics()
    assert logged and [record["epoch"] for record in logged] == list(range(1, len(logged) + 1))

    model, model_config, class_names = load_model_from_run(run, "cpu")
    assert model_config.arch == "hw4" and class_names == sorted(p.name for p in (synth_folder / "train").iterdir())
    with torch.no_grad():
        size = model_config.image_size
        assert model(torch.rand(2, 3, size, size)).shape == (2, 5)

    checkpoint_epochs = run.load_checkpoint()["epochs_completed"]
    assert checkpoint_epochs >= 1
    train_config = run.config()["train_config"]
    train_config["epochs"] = checkpoint_epochs + 2  # finish quickly: two more epochs
    run.update_config(train_config=train_config)

    from vitcore.data.sources import load_dataset

    data = load_dataset(str(synth_folder))
    job = TrainingJob.resume(store, run.id, data)
    job.start()
    assert job.join(timeout=120)
    snapshot = job.snapshot()
    assert snapshot.status == "finished", snapshot.message
    steps_per_epoch = snapshot.steps_per_epoch
    assert snapshot.iteration_steps[0] == checkpoint_epochs * steps_per_epoch + 1  # continued, not from 0
    epochs = [record["epoch"] for record in run.read_metrics()]
    assert epochs == list(range(1, checkpoint_epochs + 3))  # every epoch once, none lost after the partial line
    assert run.status()["status"] == "finished"


def _trained_run(store: RunStore, name: str):
    data = make_colour_data()
    run = store.create_run(name, {"kind": "tiny", "num_classes": 3}, {},
                           data.class_names, data.dataset_id, data.source, owner="s")
    result = fit(fresh_model(), data, quick_config(epochs=1), run=run)
    assert result.status == "finished"
    return run


def test_truncated_checkpoint_and_corrupt_config_break_only_their_own_run(tmp_path, capsys):
    store = RunStore(tmp_path)
    healthy, truncated, bad_config = (_trained_run(store, name) for name in ("healthy", "truncated", "badconfig"))
    blob = truncated.checkpoint_path.read_bytes()
    truncated.checkpoint_path.write_bytes(blob[: len(blob) // 2])
    (bad_config.path / "config.json").write_text('{"name": "badconfig", "model_config": ')

    with pytest.raises(RunError, match=f"checkpoint.pt in {truncated.id} is corrupt"):
        load_model_from_run(truncated, "cpu")
    with pytest.raises(RunError, match=f"run {bad_config.id} has a corrupt config.json"):
        load_model_from_run(bad_config, "cpu")
    with pytest.raises(RunError, match="corrupt config.json"):
        TrainingJob.resume(store, bad_config.id, make_colour_data())

    summaries = {summary.id: summary for summary in store.list_runs()}
    assert set(summaries) == {healthy.id, truncated.id, bad_config.id}
    assert summaries[healthy.id].error is None and summaries[healthy.id].epochs_completed == 1
    assert summaries[truncated.id].error is None and summaries[truncated.id].has_checkpoint
    assert "corrupt config.json" in summaries[bad_config.id].error
    assert summaries[bad_config.id].status == "finished"  # its other files still read fine

    for broken, expected in ((truncated, "is corrupt"), (bad_config, "corrupt config.json")):
        code = cli_main(["eval", broken.id, "--runs-dir", str(tmp_path), "--data", "/no/such/dir"])
        err = capsys.readouterr().err
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_disk_full_while_checkpointing_fails_the_run_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    data = make_colour_data()
    run = store.create_run("diskfull", {"kind": "tiny"}, {}, data.class_names, data.dataset_id, data.source)
    real_save = torch.save
    saves = []

    def fills_the_disk_on_the_second_save(obj, handle, *args, **kwargs):
        saves.append(obj.get("epochs_completed"))
        if len(saves) < 2:
            return real_save(obj, handle, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])  # half written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", fills_the_disk_on_the_second_save)
    events = []
    result = fit(fresh_model(), data, quick_config(epochs=3), on_event=events.append, run=run)
    monkeypatch.setattr(torch, "save", real_save)

    assert saves == [1, 2]
    assert result.status == "failed" and "disk" in result.message and "space" in result.message
    assert run.status()["status"] == "failed" and run.status()["message"] == result.message
    assert events[-1] == {"type": "status", "status": "failed", "message": result.message}
    assert sorted(p.name for p in run.path.iterdir()) == ["checkpoint.pt", "config.json", "iterations.jsonl", "metrics.jsonl", "status.json"]
    state = run.load_checkpoint()
    assert state["epochs_completed"] == 1  # the previous checkpoint survived intact
    model, _, _ = _load_tiny(run)
    assert torch.equal(model.head.weight, state["model"]["head.weight"])
    assert [record["epoch"] for record in run.read_metrics()] == [1]


def _load_tiny(run):
    model = TinyNet()
    model.load_state_dict(run.load_checkpoint()["model"])
    return model, None, None


def test_simulated_cuda_oom_fails_with_a_smaller_batch_hint(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    data = make_colour_data()
    run = store.create_run("oom", {"kind": "tiny"}, {}, data.class_names, data.dataset_id, data.source)
    model = fresh_model()
    calls = []

    def out_of_memory(images, return_attention=False):
        calls.append(images.shape[0])
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(model, "forward", out_of_memory)
    result = fit(model, data, quick_config(batch_size=8), run=run)
    assert calls == [8]
    assert result.status == "failed"
    assert "ran out of CPU memory with batch_size 8" in result.message and "smaller batch size (e.g. 4)" in result.message
    assert run.status()["status"] == "failed" and "smaller batch" in run.status()["message"]


def test_nan_loss_inside_a_job_reports_the_lr_hint(tmp_path):
    """The engine test covers fit(); this checks the hint survives the job thread into status.json."""
    from test_engine import NaNNet

    store = RunStore(tmp_path)
    job = TrainingJob(store, {"kind": "tiny", "num_classes": 3}, quick_config(lr=0.05), make_colour_data(),
                      model_builder=lambda config: NaNNet())
    job.start()
    assert job.join(timeout=60)
    assert job.snapshot().status == "failed"
    message = store.get(job.run_id).status()["message"]
    assert "loss became NaN" in message and "try a lower learning rate (e.g. lr/10 = 0.005)" in message
