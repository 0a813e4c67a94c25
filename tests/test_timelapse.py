"""The attention time-lapse: probe pictures chosen by seed, snapshots that are the model's own, a small durable file."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vitcore.cli import main as cli_main
from vitcore.data.dataset import ClassificationData, to_float
from vitcore.data.synthetic import generate_synthetic
from vitcore.explain.attention_maps import extract_attention
from vitcore.explain.probe import PROBE_PER_CLASS, choose_probe_indices, snapshot
from vitcore.models.config import CNNConfig, HomeworkBugs, ViTConfig
from vitcore.models.factory import build_model
from vitcore.presets import get_preset
from vitcore.runs.store import RunStore
from vitcore.runs.timelapse import (
    decode_maps,
    encode_maps,
    load_probe_pictures,
    read_frames,
    snapshot_record,
)
from vitcore.train.config import TrainConfig
from vitcore.train.engine import fit

REPO_ROOT = Path(__file__).resolve().parents[1]


def small_vit(pooling: str = "cls", attention: str = "fused") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                                 pooling=pooling, attention=attention))


def tiny_data() -> ClassificationData:
    return generate_synthetic(train_per_class=6, val_per_class=4, image_size=32, seed=3)


def quick(**changes) -> TrainConfig:
    values = dict(epochs=2, batch_size=10, lr=1e-3, device="cpu", seed=0, eval_batch_size=64)
    values.update(changes)
    return TrainConfig(**values)


def new_run(store: RunStore, data: ClassificationData, name: str = "vit"):
    return store.create_run(name, {"kind": "vit"}, {}, data.class_names, data.dataset_id, data.source, owner="s")


# ------------------------------------------------------------------ the probe set
def test_probe_pictures_are_two_per_class_the_same_every_time_and_fewer_when_a_class_is_short():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 0])  # class 2 has 3 pictures, class 3 none
    first = choose_probe_indices(labels, num_classes=4)
    assert first == choose_probe_indices(labels.clone(), num_classes=4)  # same seed, same pictures
    assert [int(labels[index]) for index in first] == [0, 0, 1, 1, 2, 2]  # class by class, none for class 3
    assert len(set(first)) == len(first)
    assert choose_probe_indices(labels, num_classes=4, seed=1) != first or len(labels) < 6
    many = torch.arange(100) % 5
    chosen = choose_probe_indices(many, num_classes=5)
    assert len(chosen) == 5 * PROBE_PER_CLASS


# ------------------------------------------------------------------ the snapshot
@pytest.mark.parametrize("pooling", ["cls", "seq"])
@pytest.mark.parametrize("attention", ["loop", "einsum", "fused"])
def test_a_snapshot_is_the_models_own_attention_and_answer(attention, pooling):
    model = small_vit(pooling, attention).train()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # (P, 3, S, S)
    rng_before = torch.random.get_rng_state()
    shot = snapshot(model, images)
    assert torch.equal(rng_before, torch.random.get_rng_state())  # draws no random numbers
    assert model.training  # the mode it was in
    assert shot.summary_attention.shape == (3, 2, 4, 4, 4) and shot.rollout.shape == (3, 4, 4) and shot.lens.shape == (3, 2, 5)
    np.testing.assert_allclose(shot.summary_attention.sum(axis=(-2, -1)), 1.0, atol=1e-5)
    model.eval()
    for picture in range(3):
        maps = extract_attention(model, images[picture : picture + 1])
        np.testing.assert_allclose(shot.summary_attention[picture], maps.cls_to_patch, atol=1e-5)
        np.testing.assert_allclose(shot.rollout[picture], maps.rollout, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(shot.lens[:, -1], model(images).softmax(dim=-1).numpy(), atol=1e-5)


def test_the_homework_model_has_a_snapshot_too():
    torch.manual_seed(0)
    model = build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                                  homework_bugs=HomeworkBugs()))
    shot = snapshot(model, torch.rand(2, 3, 32, 32))
    assert shot.summary_attention.shape == (2, 2, 4, 4, 4)
    np.testing.assert_allclose(shot.rollout.sum(axis=(-2, -1)), 1.0, atol=1e-5)


# ------------------------------------------------------------------ the file
def test_maps_survive_the_8_bit_encoding_within_a_255th_of_their_peak():
    generator = np.random.default_rng(0)
    maps = generator.dirichlet(np.ones(16), size=(7, 3)).reshape(7, 3, 4, 4)  # (.., g, g) each sums to 1
    decoded = decode_maps(encode_maps(maps), maps.shape)
    np.testing.assert_allclose(decoded.sum(axis=(-2, -1)), 1.0, atol=1e-5)
    peaks = maps.max(axis=(-2, -1), keepdims=True)
    assert (np.abs(decoded - maps) <= peaks * 2.5 / 255).all()  # a level is 1/255 of the peak, plus renormalising
    uniform = np.full((1, 4, 4), 1 / 16)
    np.testing.assert_allclose(decode_maps(encode_maps(uniform), uniform.shape), uniform, atol=1e-7)


def test_a_55_epoch_best_run_writes_under_one_megabyte():
    preset = get_preset("vit", "best", num_classes=5, image_size=64)
    model = build_model(preset.model_config)
    shot = snapshot(model, torch.rand(10, 3, 64, 64, generator=torch.Generator().manual_seed(2)))
    line = json.dumps(snapshot_record(55, shot)) + "\n"
    assert (preset.train_config.epochs + 1) * len(line.encode()) < 1_000_000  # epoch 0 plus every epoch


# ------------------------------------------------------------------ recording while training
def test_training_records_the_untrained_model_and_every_epoch(tmp_path):
    data = tiny_data()
    store = RunStore(tmp_path / "runs")
    run = new_run(store, data)
    model = small_vit()
    result = fit(model, data, quick(epochs=2), run=run)
    assert result.status == "finished"
    frames = read_frames(run)
    assert [frame.epoch for frame in frames] == [0, 1, 2]
    pictures = load_probe_pictures(run)
    assert pictures.indices.tolist() == choose_probe_indices(data.val.labels, 5)
    assert np.array_equal(pictures.images, data.val.images[pictures.indices].numpy())
    assert np.array_equal(pictures.labels, data.val.labels[pictures.indices].numpy())
    final = snapshot(model, to_float(torch.from_numpy(pictures.images)))  # the trained model, now
    np.testing.assert_allclose(frames[-1].snapshot.lens, final.lens, atol=1e-4)
    np.testing.assert_allclose(frames[-1].snapshot.rollout, final.rollout, atol=3 * final.rollout.max() / 255)
    assert not np.allclose(frames[0].snapshot.lens, frames[-1].snapshot.lens, atol=1e-3)  # training changed the answer


def test_recording_does_not_change_what_the_model_learns(tmp_path):
    data = tiny_data()
    store = RunStore(tmp_path / "runs")
    recorded, plain = small_vit(), small_vit()
    fit(recorded, data, quick(), run=new_run(store, data, "with"))
    without = new_run(store, data, "without")
    fit(plain, data, quick(record_timelapse=False), run=without)
    assert not without.timelapse_path.exists()
    for (name, left), right in zip(recorded.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(left, right), name


def test_a_cnn_run_records_no_timelapse(tmp_path):
    data = tiny_data()
    run = new_run(RunStore(tmp_path / "runs"), data, "cnn")
    model = build_model(CNNConfig(arch="hw4", image_size=32, num_classes=5))
    assert fit(model, data, quick(epochs=1), run=run).status == "finished"
    assert not run.timelapse_path.exists() and load_probe_pictures(run) is None


def test_a_stopped_and_resumed_run_continues_its_timelapse(tmp_path):
    data = tiny_data()
    store = RunStore(tmp_path / "runs")
    run = new_run(store, data)
    steps = iter(range(1000))
    stop_after_epoch_one = lambda: next(steps) >= 4  # 3 steps per epoch: stops inside epoch 2  # noqa: E731
    fit(small_vit(), data, quick(epochs=3), run=run, should_stop=stop_after_epoch_one)
    assert [frame.epoch for frame in read_frames(run)] == [0, 1]
    with open(run.timelapse_path, "a") as handle:
        handle.write('{"epoch": 2, "shape": [10, 2')  # a kill in the middle of a line
    assert [frame.epoch for frame in read_frames(run)] == [0, 1]
    result = fit(small_vit(), data, quick(epochs=3), run=run, resume=True)
    assert result.status == "finished"
    assert [frame.epoch for frame in read_frames(run)] == [0, 1, 2, 3]  # continued; the untrained frame not redone
    assert len(run.read_timelapse_records()) == 4


def test_a_sigkilled_vit_run_leaves_a_timelapse_that_parses_and_resumes(tmp_path, monkeypatch):
    folder = tmp_path / "synth"
    assert cli_main(["data", "synth", "--out", str(folder), "--train-per-class", "8", "--val-per-class", "4",
                     "--size", "32", "--seed", "1"]) == 0
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    monkeypatch.setenv("VIT_CLASSROOM_CACHE", str(cache))
    env = {**os.environ, "VIT_CLASSROOM_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vitcore", "train", "--model", "vit", "--preset", "classroom", "--data", str(folder),
         "--epochs", "400", "--batch-size", "8", "--device", "cpu", "--runs-dir", str(runs)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            files = list(runs.glob("*/timelapse.jsonl"))
            if files and files[0].read_text().count("\n") >= 3:  # epochs 0, 1 and 2 written
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode(errors="replace")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    store = RunStore(runs)
    (summary,) = store.list_runs()
    run = summary.run
    recorded = [frame.epoch for frame in read_frames(run)]
    assert recorded[:3] == [0, 1, 2] and recorded == list(range(len(recorded)))  # every complete line parses
    store.recover_interrupted()
    done = run.load_checkpoint()["epochs_completed"]
    train_config = run.config()["train_config"]
    train_config["epochs"] = done + 1
    run.update_config(train_config=train_config)
    from vitcore.data.sources import load_dataset
    from vitcore.train.job import TrainingJob

    job = TrainingJob.resume(store, run.id, load_dataset(str(folder)))
    job.start()
    assert job.join(timeout=120) and job.snapshot().status == "finished"
    assert [frame.epoch for frame in read_frames(run)] == list(range(done + 2))  # one frame per epoch, continued
