"""Run folders: ids, listing, status, metrics, atomic checkpoints, safe loading, interrupted runs."""

import errno
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from vitcore.errors import RunError
from vitcore.runs.checkpoint import load_checkpoint, save_checkpoint_atomic
from vitcore.runs.store import RunStore, pid_is_alive


def new_run(store, name="vit-classroom", owner=None):
    return store.create_run(name, {"kind": "vit", "hidden_dim": 8}, {"epochs": 2, "lr": 1e-3},
                            ["cat", "dog"], "synthetic-seed0-64", "embedded synthetic", owner=owner)


def test_create_get_list_delete(tmp_path):
    store = RunStore(tmp_path / "runs")
    first = new_run(store, owner="alice")
    time.sleep(0.01)
    second = new_run(store, name="CNN best!")
    assert first.id != second.id
    date, clock, *rest = second.id.split("-")
    assert len(date) == 8 and len(clock) == 6 and second.id.endswith(second.id[-4:])
    assert "cnn-best" in second.id
    config = first.config()
    assert config["class_names"] == ["cat", "dog"] and config["owner"] == "alice"
    assert config["model_config"]["kind"] == "vit" and config["train_config"]["lr"] == 1e-3
    assert first.status()["status"] == "queued" and first.status()["pid"] == os.getpid()

    listed = store.list_runs()
    assert [summary.id for summary in listed] == [second.id, first.id]  # newest first
    assert listed[1].owner == "alice" and listed[1].model_kind == "vit" and listed[1].error is None
    assert [s.id for s in store.list_runs(owner="alice")] == [first.id]
    assert store.get(first.id).config() == config

    store.delete(first.id)
    assert [s.id for s in store.list_runs()] == [second.id]
    with pytest.raises(RunError):
        store.get(first.id)
    with pytest.raises(RunError):
        store.get("../etc")


def test_many_runs_in_one_second_get_unique_ids(tmp_path):
    store = RunStore(tmp_path)
    ids = {new_run(store).id for _ in range(30)}
    assert len(ids) == 30


def test_corrupt_config_shows_in_listing_without_breaking_it(tmp_path):
    store = RunStore(tmp_path)
    good, bad = new_run(store), new_run(store)
    (bad.path / "config.json").write_text("{not json")
    (tmp_path / "empty-folder").mkdir()
    summaries = {summary.id: summary for summary in store.list_runs()}
    assert summaries[good.id].error is None
    assert "corrupt config.json" in summaries[bad.id].error
    assert "no config.json" in summaries["empty-folder"].error
    with pytest.raises(RunError, match="corrupt config.json"):
        bad.config()


def test_status_and_metrics(tmp_path):
    run = new_run(RunStore(tmp_path))
    run.set_status("running", "epoch 1")
    assert run.status()["status"] == "running" and run.status()["message"] == "epoch 1"
    with pytest.raises(ValueError):
        run.set_status("exploded")
    run.append_metrics({"epoch": 1, "val_acc": 0.5, "train_loss": torch.tensor(1.25)})
    run.append_metrics({"epoch": 2, "val_acc": 0.75, "train_loss": 0.5})
    with open(run.path / "metrics.jsonl", "a") as handle:  # a crash in the middle of a write
        handle.write('{"epoch": 3, "val_a')
    records = run.read_metrics()
    assert [r["epoch"] for r in records] == [1, 2] and records[0]["train_loss"] == 1.25
    frame = run.metrics_frame()
    assert list(frame["val_acc"]) == [0.5, 0.75]
    assert store_summary_epochs(run) == 2
    assert not list(run.path.glob("*.tmp"))


def store_summary_epochs(run):
    return RunStore(run.path.parent).summarize(run).epochs_completed


def test_checkpoint_round_trip(tmp_path):
    run = new_run(RunStore(tmp_path))
    state = {"model": {"weight": torch.arange(6.0).reshape(2, 3)}, "epochs_completed": 3, "history": [{"a": 1.0}]}
    run.save_checkpoint(state)
    loaded = run.load_checkpoint()
    assert torch.equal(loaded["model"]["weight"], state["model"]["weight"]) and loaded["epochs_completed"] == 3
    with pytest.raises(RunError, match="no checkpoint"):
        new_run(RunStore(tmp_path)).load_checkpoint()


def test_disk_full_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint_atomic({"model": {"w": torch.ones(3)}, "epoch": 1}, path)
    real_save = torch.save

    def half_write_then_enospc(obj, handle, *args, **kwargs):
        import io

        buffer = io.BytesIO()
        real_save(obj, buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", half_write_then_enospc)
    with pytest.raises(OSError) as raised:
        save_checkpoint_atomic({"model": {"w": torch.zeros(1000)}, "epoch": 2}, path)
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temp file left behind
    intact = load_checkpoint(path)
    assert intact["epoch"] == 1 and torch.equal(intact["model"]["w"], torch.ones(3))


class PlantedPayload:
    """Unpickling this would create a file: the attack a weights-only load must block."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    run = new_run(RunStore(tmp_path))
    marker = tmp_path / "pwned.txt"
    with open(run.checkpoint_path, "wb") as handle:
        torch.save({"model": {}, "payload": PlantedPayload(str(marker))}, handle)
    assert not marker.exists()
    with pytest.raises(RunError, match="corrupt or not a safe weights-only file"):
        run.load_checkpoint()
    assert not marker.exists()
    summaries = RunStore(tmp_path).list_runs()  # the listing still works
    assert any(s.id == run.id and s.has_checkpoint for s in summaries)


def test_truncated_checkpoint_is_a_run_error(tmp_path):
    run = new_run(RunStore(tmp_path))
    run.save_checkpoint({"model": {"w": torch.ones(100)}})
    data = run.checkpoint_path.read_bytes()
    run.checkpoint_path.write_bytes(data[: len(data) // 3])
    with pytest.raises(RunError, match="corrupt"):
        run.load_checkpoint()


def test_recover_interrupted_marks_dead_and_stale_runs(tmp_path):
    store = RunStore(tmp_path)
    finished_process = subprocess.Popen([sys.executable, "-c", "pass"])
    finished_process.wait()
    dead_pid = finished_process.pid
    assert not pid_is_alive(dead_pid)

    dead = new_run(store)
    dead.set_status("running", "epoch 3", pid=dead_pid)
    alive = new_run(store)
    alive.set_status("running", "epoch 1")  # this process: alive
    stale = new_run(store)
    stale.set_status("running", "epoch 2")
    status = json.loads((stale.path / "status.json").read_text())
    status["heartbeat"] = time.time() - 3600
    (stale.path / "status.json").write_text(json.dumps(status))
    done = new_run(store)
    done.set_status("finished", "ok", pid=dead_pid)

    assert set(store.recover_interrupted()) == {dead.id}
    assert dead.status()["status"] == "interrupted" and "no longer running" in dead.status()["message"]
    assert set(store.recover_interrupted(stale_after_s=600)) == {stale.id}
    assert stale.status()["status"] == "interrupted"
    assert alive.status()["status"] == "running" and done.status()["status"] == "finished"
