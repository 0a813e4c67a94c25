"""The training loop: events, learning, determinism, stop/resume, NaN handling, schedules, augmentation."""

import math
import threading
import time

import pytest
import torch
import torch.nn as nn

from vitcore.data.dataset import ClassificationData, ImageSplit
from vitcore.runs.store import RunStore
from vitcore.train.augment import build_augmenter, random_horizontal_flip
from vitcore.train.config import TrainConfig
from vitcore.train.engine import fit, steps_per_epoch_for
from vitcore.train.schedule import lr_curve

CLASS_COLOURS = torch.tensor([[220, 40, 40], [40, 200, 40], [40, 40, 220]], dtype=torch.float32)  # (C, 3)


def make_colour_split(per_class: int, size: int, seed: int) -> ImageSplit:
    """Noisy images whose dominant colour is the class: separable, but not trivially at step 0."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(CLASS_COLOURS)).repeat_interleave(per_class)  # (N,)
    base = CLASS_COLOURS[labels][:, :, None, None].expand(-1, -1, size, size)  # (N, 3, S, S)
    noise = torch.randn(len(labels), 3, size, size, generator=generator) * 60.0  # (N, 3, S, S)
    images = (base + noise).clamp(0, 255).to(torch.uint8)  # (N, 3, S, S)
    names = [f"class{int(label)}/{index:04d}.png" for index, label in enumerate(labels)]
    return ImageSplit(images=images, labels=labels, names=names)


def make_colour_data(train_per_class=16, val_per_class=8, size=16) -> ClassificationData:
    return ClassificationData(
        train=make_colour_split(train_per_class, size, seed=1),
        val=make_colour_split(val_per_class, size, seed=2),
        class_names=["blue-ish", "green-ish", "red-ish"][::-1],
        dataset_id="colour-test",
        source="test colours",
    )


class TinyNet(nn.Module):
    """Conv -> pool -> dropout -> linear; takes float images in [0, 1] like the real models."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, images, return_attention=False):
        return self.head(self.dropout(self.features(images - 0.5)))  # (B, C)


class NaNNet(TinyNet):
    """Produces NaN logits from its third call on (a model that blew up)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, images, return_attention=False):
        self.calls += 1
        logits = super().forward(images)
        return logits * float("nan") if self.calls >= 3 else logits


def quick_config(**changes) -> TrainConfig:
    values = dict(epochs=3, batch_size=8, lr=0.05, optimizer="adamw", weight_decay=0.0, schedule="constant",
                  device="cpu", seed=0, eval_batch_size=64)
    values.update(changes)
    return TrainConfig(**values)


def fresh_model(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def test_events_in_order_with_required_keys_and_learning():
    data = make_colour_data()
    events = []
    result = fit(fresh_model(), data, quick_config(epochs=4), on_event=events.append)

    assert result.status == "finished" and result.epochs_completed == 4
    assert events[0]["type"] == "status" and events[0]["status"] == "running"
    assert events[-1] == {"type": "status", "status": "finished", "message": result.message}
    iteration_keys = {"epoch", "step", "steps_per_epoch", "loss", "running_acc", "lr", "eta_s"}
    epoch_keys = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "eta_s"}
    steps = steps_per_epoch_for(len(data.train), quick_config())
    assert steps == 6
    body = events[1:-1]
    assert len(body) == 4 * (steps + 1)
    for epoch in range(1, 5):
        chunk = body[(epoch - 1) * (steps + 1) : epoch * (steps + 1)]
        assert [e["type"] for e in chunk] == ["iteration"] * steps + ["epoch"]
        assert [e["step"] for e in chunk[:-1]] == list(range(1, steps + 1))
        assert all(iteration_keys <= set(e) and e["epoch"] == epoch for e in chunk[:-1])
        assert epoch_keys <= set(chunk[-1]) and chunk[-1]["epoch"] == epoch
    assert body[-1]["eta_s"] == pytest.approx(0.0, abs=1e-6)

    history = result.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert result.final_val_acc == history[-1]["val_acc"] > 0.6  # chance is 1/3


def test_same_seed_gives_identical_losses_and_other_seed_differs():
    data = make_colour_data()

    def losses(seed):
        events = []
        fit(fresh_model(), data, quick_config(epochs=2, seed=seed, augmentation="flip_crop"), on_event=events.append)
        return [e["loss"] for e in events if e["type"] == "iteration"]

    first, second, other = losses(0), losses(0), losses(1)
    assert first == second
    assert first != other


def _count_stop(after_iterations):
    seen = {"n": 0}

    def on_event(event):
        if event["type"] == "iteration":
            seen["n"] += 1

    return on_event, (lambda: seen["n"] >= after_iterations)


@pytest.mark.parametrize("stop_after", [9, 12])  # mid-epoch 2, and exactly at the start of epoch 3
def test_stop_then_resume_matches_an_uninterrupted_run(tmp_path, stop_after):
    data = make_colour_data()
    config = quick_config(epochs=3, augmentation="flip_crop", schedule="cosine", warmup_epochs=0.5)
    reference_model = fresh_model()
    reference = fit(reference_model, data, config)

    store = RunStore(tmp_path / "runs")
    run = store.create_run("tiny", {"kind": "tiny"}, config.to_dict(), data.class_names, data.dataset_id, data.source)
    on_event, should_stop = _count_stop(stop_after)
    stopped = fit(fresh_model(), data, config, on_event=on_event, should_stop=should_stop, run=run)
    assert stopped.status == "stopped"
    assert "stopped" in stopped.message
    assert run.status()["status"] == "stopped"
    assert run.has_checkpoint
    completed_before = stop_after // 6
    assert [r["epoch"] for r in run.read_metrics()] == list(range(1, completed_before + 1))

    events = []
    resumed_model = fresh_model(seed=123)  # different init: the checkpoint must overwrite it
    resumed = fit(resumed_model, data, config, on_event=events.append, run=run, resume=True)
    assert resumed.status == "finished"
    first_iteration = next(e for e in events if e["type"] == "iteration")
    assert (first_iteration["epoch"], first_iteration["step"]) == (stop_after // 6 + 1, stop_after % 6 + 1)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]
    assert run.status()["status"] == "finished"
    for name, tensor in reference_model.state_dict().items():
        assert torch.equal(tensor, resumed_model.state_dict()[name]), name
    assert [h["val_acc"] for h in resumed.history] == [h["val_acc"] for h in reference.history]
    assert resumed.history[0]["train_loss"] == reference.history[0]["train_loss"]

    # The per-step curve survives on disk across the stop: one record per step, no gaps.
    iterations = run.read_iterations()
    assert [record["global_step"] for record in iterations] == list(range(1, 3 * 6 + 1))


def _iteration_events(events):
    return [event for event in events if event["type"] == "iteration"]


def test_iteration_curve_is_written_to_disk_and_tolerates_crashes(tmp_path):
    data = make_colour_data()
    config = quick_config(epochs=2)
    store = RunStore(tmp_path / "runs")
    run = store.create_run("tiny", {"kind": "tiny"}, config.to_dict(), data.class_names, data.dataset_id, data.source)
    events = []
    fit(fresh_model(), data, config, on_event=events.append, run=run)
    emitted = _iteration_events(events)
    on_disk = run.read_iterations()
    assert [r["global_step"] for r in on_disk] == [e["global_step"] for e in emitted]
    assert [r["loss"] for r in on_disk] == [e["loss"] for e in emitted]
    # A crash mid-write leaves a partial line; a resumed run re-trains step 3 and logs it again.
    with open(run.path / "iterations.jsonl", "a") as handle:
        handle.write('{"type": "iteration", "global_st')
    run.append_iterations([dict(emitted[2], loss=123.0)])
    replayed = run.read_iterations()
    assert len(replayed) == len(emitted)
    assert replayed[2]["loss"] == 123.0 and replayed[3]["loss"] == emitted[3]["loss"]


def test_nan_loss_fails_with_a_clear_message(tmp_path):
    data = make_colour_data()
    store = RunStore(tmp_path)
    run = store.create_run("nan", {"kind": "tiny"}, {}, data.class_names, "x", "y")
    events = []
    result = fit(NaNNet(), data, quick_config(), on_event=events.append, run=run)
    assert result.status == "failed"
    assert "loss became NaN at epoch 1 step 3" in result.message
    assert "lower learning rate" in result.message and "gradient clipping" in result.message
    assert run.status() ["status"] == "failed" and run.status()["message"] == result.message
    assert events[-1]["status"] == "failed"
    assert not run.has_checkpoint  # broken weights are not saved


def test_huge_learning_rate_is_caught():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3))
    result = fit(model, make_colour_data(), quick_config(lr=1e38, optimizer="sgd", momentum=0.0, epochs=5))
    assert result.status == "failed" and ("NaN" in result.message or "infinite" in result.message)


def test_mixup_grad_clip_and_sgd_onecycle_train():
    data = make_colour_data()
    result = fit(fresh_model(), data, quick_config(epochs=2, mixup_alpha=0.4, grad_clip=1.0, optimizer="sgd",
                                                   lr=0.1, schedule="onecycle", label_smoothing=0.1))
    assert result.status == "finished" and all(math.isfinite(h["train_loss"]) for h in result.history)


def test_max_train_batches_caps_steps():
    events = []
    fit(fresh_model(), make_colour_data(), quick_config(epochs=1, max_train_batches_per_epoch=2), on_event=events.append)
    assert [e["step"] for e in events if e["type"] == "iteration"] == [1, 2]


def test_demo_pace_spaces_steps_and_a_stop_cuts_the_wait_short():
    iteration_times = []
    config = quick_config(epochs=1, max_train_batches_per_epoch=3, min_seconds_per_step=0.2)
    fit(fresh_model(), make_colour_data(), config,
        on_event=lambda event: iteration_times.append(time.monotonic()) if event["type"] == "iteration" else None)
    gaps = [later - earlier for earlier, later in zip(iteration_times, iteration_times[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.19, gaps  # each step waited for the demo pace

    stop = threading.Event()
    slow = quick_config(epochs=1, max_train_batches_per_epoch=3, min_seconds_per_step=10.0)
    started = time.monotonic()
    result = fit(fresh_model(), make_colour_data(), slow, should_stop=stop.is_set,
                 on_event=lambda event: stop.set() if event["type"] == "iteration" else None)
    assert result.status == "stopped" and time.monotonic() - started < 5.0  # not 3 × 10 s of pacing
    with pytest.raises(ValueError, match="min_seconds_per_step"):
        TrainConfig(min_seconds_per_step=-1.0)


def test_channels_last_trains_the_same_numbers():
    data = make_colour_data()

    def conv_net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(8, 3))

    default_model, nhwc_model = conv_net(), conv_net()
    default = fit(default_model, data, quick_config(epochs=2))
    nhwc = fit(nhwc_model, data, quick_config(epochs=2, channels_last=True))
    assert nhwc_model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not default_model[0].weight.is_contiguous(memory_format=torch.channels_last)
    for plain, fast in zip(default.history, nhwc.history):
        assert math.isclose(plain["train_loss"], fast["train_loss"], abs_tol=1e-4)
        assert math.isclose(plain["val_acc"], fast["val_acc"], abs_tol=1e-9)


def test_train_config_round_trip_and_validation():
    config = TrainConfig(lr=3e-4, betas=(0.8, 0.95), grad_clip=2.0, augmentation="strong")
    restored = TrainConfig.from_dict(config.to_dict() | {"unknown_future_key": 1})
    assert restored == config and restored.betas == (0.8, 0.95)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.5)


def test_schedules_have_the_promised_shape():
    cosine = lr_curve("cosine", 1.0, steps_per_epoch=10, epochs=5, warmup_epochs=1)
    assert len(cosine) == 50
    assert cosine[0] == pytest.approx(0.1) and cosine[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(cosine[:10], cosine[1:10]))
    assert all(a >= b for a, b in zip(cosine[10:], cosine[11:]))
    assert cosine[-1] < 0.01
    assert lr_curve("constant", 0.5, 10, 2) == [0.5] * 20
    onecycle = lr_curve("onecycle", 1.0, 10, 5)
    peak = max(range(50), key=onecycle.__getitem__)
    assert 10 <= peak <= 20 and onecycle[0] < 0.1 and onecycle[-1] < 1e-3


def test_augmentations_keep_shape_and_differ_per_image():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 64, 64), dtype=torch.uint8)
    assert build_augmenter("none", 64)(images) is images
    for kind in ("flip_crop", "strong"):
        out = build_augmenter(kind, 64)(images)
        assert out.shape == images.shape and out.dtype == torch.uint8
        assert not torch.equal(out, images)
    same = images[:1].expand(64, -1, -1, -1).contiguous()  # 64 copies of one image
    flipped = random_horizontal_flip(same)
    was_flipped = torch.tensor([torch.equal(f, same[0].flip(-1)) for f in flipped])
    assert 10 < int(was_flipped.sum()) < 54  # per-image coins, not one for the batch
    crops = build_augmenter("flip_crop", 64)(same)
    assert len({c.sum().item() for c in crops}) > 10


def test_a_train_fraction_trains_on_a_seeded_class_by_class_subset_and_keeps_val():
    from vitcore.data.subset import training_subset

    data = make_colour_data(train_per_class=20, val_per_class=4)
    subset = training_subset(data.train, 0.25, seed=3)
    assert torch.bincount(subset.labels).tolist() == [5, 5, 5]  # a quarter of every class
    assert torch.equal(subset.images, training_subset(data.train, 0.25, seed=3).images)  # same seed, same pictures
    assert not torch.equal(subset.images, training_subset(data.train, 0.25, seed=4).images)
    assert training_subset(data.train, 1.0, seed=3) is data.train
    events = []
    result = fit(fresh_model(), data, quick_config(epochs=1, batch_size=5, train_fraction=0.25), on_event=events.append)
    assert result.status == "finished"
    steps = [event for event in events if event["type"] == "iteration"]
    assert steps[-1]["steps_per_epoch"] == 3  # 15 of the 60 pictures, 5 per batch
    with pytest.raises(ValueError, match="train_fraction"):
        TrainConfig(train_fraction=0.0)


@pytest.mark.parametrize("native", [True, False])
def test_amp_native_uses_bf16_only_where_the_processor_has_bf16_instructions(monkeypatch, native):
    from vitcore import device as device_module
    from vitcore.train import engine

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    cpu = torch.device("cpu")
    assert device_module.has_native_bf16(cpu) is native
    assert engine.autocast_dtype_for(TrainConfig(amp="native"), cpu) == (torch.bfloat16 if native else None)
    assert engine.autocast_dtype_for(TrainConfig(amp="auto"), cpu) is None  # "auto" keeps a CPU in float32
    assert engine.autocast_dtype_for(TrainConfig(amp="bf16"), cpu) == torch.bfloat16
    assert engine.autocast_dtype_for(TrainConfig(amp="off"), cpu) is None
    assert device_module.has_native_bf16(torch.device("meta")) is False


def test_amp_native_trains_on_the_cpu_whatever_it_has():
    from vitcore.data.synthetic import generate_synthetic
    from vitcore.models.config import CNNConfig
    from vitcore.models.factory import build_model

    data = generate_synthetic(train_per_class=8, val_per_class=4, image_size=32, seed=0)
    torch.manual_seed(0)
    model = build_model(CNNConfig(image_size=32, num_classes=len(data.class_names), arch="resnet9"))
    result = fit(model, data, TrainConfig(epochs=1, batch_size=16, device="cpu", amp="native", channels_last=True,
                                          record_timelapse=False))
    assert result.status == "finished" and math.isfinite(result.history[-1]["val_loss"])


def test_crop_padding_and_one_offset_per_batch():
    from vitcore.train.augment import random_padded_crop

    torch.manual_seed(0)
    image = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    same = image.expand(32, -1, -1, -1).contiguous()  # 32 copies of one image
    shared = random_padded_crop(same, padding=6, one_offset_per_batch=True)
    assert all(torch.equal(crop, shared[0]) for crop in shared)  # one window for the whole batch
    own = random_padded_crop(same, padding=6)
    assert len({crop.sum().item() for crop in own}) > 10  # a window per image
    augmenter = build_augmenter("flip_crop", 64, crop_padding=6, crop_per_batch=True)
    assert augmenter.padding == 6 and build_augmenter("flip_crop", 64).padding == 4  # 0 asks for S / 16
    with pytest.raises(ValueError, match="crop_padding"):
        TrainConfig(crop_padding=-1)
    config = TrainConfig(augmentation="flip_crop", crop_padding=6, crop_per_batch=True)
    assert TrainConfig.from_dict(config.to_dict()) == config
