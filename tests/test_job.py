"""TrainingJob: the background thread, snapshots, stop, resume and error reporting."""

import dataclasses
import threading
import time

import pytest

from test_engine import TinyNet, make_colour_data, quick_config
from vitcore.runs.store import RunStore
from vitcore.train.job import JobSnapshot, TrainingJob

MODEL_CONFIG = {"kind": "tiny", "num_classes": 3}


class SlowTinyNet(TinyNet):
    """TinyNet that sleeps a little per forward pass, so a test can stop it mid-run."""

    def forward(self, images, return_attention=False):
        time.sleep(0.01)
        return super().forward(images)


def build_tiny(model_config):
    return TinyNet(model_config["num_classes"])


def build_slow(model_config):
    return SlowTinyNet(model_config["num_classes"])


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_job_runs_to_the_end_in_its_own_thread(tmp_path):
    store = RunStore(tmp_path)
    data = make_colour_data()
    job = TrainingJob(store, MODEL_CONFIG, quick_config(epochs=2), data, owner="bob", model_builder=build_tiny)
    before = job.snapshot()
    assert before.status == "queued" and before.fraction_done == 0.0 and store.get(job.run_id).status()["status"] == "queued"
    job.start()
    assert job.join(timeout=60)
    snapshot = job.snapshot()
    assert isinstance(snapshot, JobSnapshot) and not snapshot.is_alive
    assert snapshot.status == "finished" and snapshot.fraction_done == 1.0
    assert snapshot.epoch == 2 and snapshot.step == snapshot.steps_per_epoch == 6
    assert snapshot.iteration_steps == tuple(range(1, 13)) and len(snapshot.iteration_losses) == 12
    assert [record["epoch"] for record in snapshot.epoch_history] == [1, 2]
    assert snapshot.result.status == "finished" and snapshot.result.final_val_acc == snapshot.epoch_history[-1]["val_acc"]
    run = store.get(job.run_id)
    assert run.status()["status"] == "finished" and run.config()["owner"] == "bob"
    assert len(run.read_metrics()) == 2 and run.has_checkpoint
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.status = "hacked"
    with pytest.raises(RuntimeError):
        job.start()
    assert not any(t.name == f"train-{job.run_id}" for t in threading.enumerate())


def test_stop_then_resume_job(tmp_path):
    store = RunStore(tmp_path)
    data = make_colour_data()
    job = TrainingJob(store, MODEL_CONFIG, quick_config(epochs=4), data, model_builder=build_slow)
    job.start()
    assert wait_until(lambda: job.snapshot().step >= 2 and job.snapshot().epoch >= 1)
    job.stop()
    assert job.join(timeout=60)
    stopped = job.snapshot()
    assert stopped.status == "stopped" and 0.0 < stopped.fraction_done < 1.0
    run = store.get(job.run_id)
    assert run.status()["status"] == "stopped" and run.has_checkpoint

    resumed = TrainingJob.resume(store, job.run_id, data, model_builder=build_tiny)
    assert resumed.run_id == job.run_id and resumed.snapshot().status == "queued"
    resumed.start()
    assert resumed.join(timeout=60)
    final = resumed.snapshot()
    assert final.status == "finished", final.message
    assert [record["epoch"] for record in run.read_metrics()] == [1, 2, 3, 4]
    assert final.iteration_steps[0] > 1  # continued, did not start over


def test_errors_inside_the_thread_are_reported_not_lost(tmp_path):
    store = RunStore(tmp_path)

    def broken_builder(model_config):
        raise RuntimeError("boom in the model builder")

    job = TrainingJob(store, MODEL_CONFIG, quick_config(), make_colour_data(), model_builder=broken_builder)
    job.start()
    assert job.join(timeout=30)
    snapshot = job.snapshot()
    assert snapshot.status == "failed" and snapshot.message == "RuntimeError: boom in the model builder"
    assert store.get(job.run_id).status()["message"] == snapshot.message


def test_loader_function_and_class_count_mismatch(tmp_path):
    store = RunStore(tmp_path)
    data = make_colour_data()
    job = TrainingJob(store, MODEL_CONFIG, quick_config(epochs=1), lambda: data, model_builder=build_tiny)
    assert store.get(job.run_id).config()["class_names"] == []
    job.start()
    assert job.join(timeout=60) and job.snapshot().status == "finished"
    assert store.get(job.run_id).config()["class_names"] == data.class_names
    assert store.get(job.run_id).config()["dataset_id"] == "colour-test"

    wrong = TrainingJob(store, {"kind": "tiny", "num_classes": 7}, quick_config(), data, model_builder=build_tiny)
    wrong.start()
    assert wrong.join(timeout=30)
    assert wrong.snapshot().status == "failed" and "7 outputs but the dataset has 3 classes" in wrong.snapshot().message


def test_real_vit_job_and_reloading_it_from_the_run(tmp_path):
    import torch

    from vitcore.models.config import ViTConfig
    from vitcore.runs.checkpoint import load_model_from_run

    store = RunStore(tmp_path)
    data = make_colour_data(size=16)
    vit_config = ViTConfig(image_size=16, patch_size=4, num_classes=3, hidden_dim=16, depth=1, num_heads=2,
                           mlp_ratio=2.0, attention="einsum")
    job = TrainingJob(store, vit_config, quick_config(epochs=2, lr=3e-3), data)  # default builder: the factory
    job.start()
    assert job.join(timeout=120)
    snapshot = job.snapshot()
    assert snapshot.status == "finished", snapshot.message
    model, model_config, class_names = load_model_from_run(store.get(job.run_id), torch.device("cpu"))
    assert model_config == vit_config and class_names == data.class_names and not model.training
    with torch.no_grad():
        logits = model(data.val.images.float() / 255.0)
    accuracy = (logits.argmax(1) == data.val.labels).float().mean().item()
    assert accuracy == pytest.approx(snapshot.epoch_history[-1]["val_acc"])
