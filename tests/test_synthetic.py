"""Tests for the embedded synthetic dataset (vitcore/data/synthetic.py)."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vitcore.data.dataset import ClassificationData
from vitcore.data.synthetic import (
    SYNTHETIC_CLASS_NAMES,
    SyntheticSceneConfig,
    generate_synthetic,
    render_synthetic_image,
    write_synthetic_folder,
)
from vitcore.errors import VitcoreError


@pytest.fixture(scope="module")
def small_set() -> ClassificationData:
    """12 train + 4 val images per class at 32 px: big enough for statistics, fast to draw."""
    return generate_synthetic(train_per_class=12, val_per_class=4, image_size=32, seed=3)


def test_shapes_dtypes_and_metadata(small_set: ClassificationData) -> None:
    train, val = small_set.train, small_set.val
    assert train.images.shape == (60, 3, 32, 32) and train.images.dtype == torch.uint8
    assert val.images.shape == (20, 3, 32, 32) and val.images.dtype == torch.uint8
    assert train.labels.shape == (60,) and train.labels.dtype == torch.int64
    assert train.masks is not None and train.masks.shape == (60, 32, 32) and train.masks.dtype == torch.bool
    assert val.masks is not None and val.masks.shape == (20, 32, 32)
    assert small_set.class_names == ["airplane", "bus", "cat", "dog", "pizza"]
    assert list(SYNTHETIC_CLASS_NAMES) == sorted(SYNTHETIC_CLASS_NAMES)
    assert small_set.dataset_id == "synthetic-seed3-32-12-4"
    assert small_set.source == "embedded synthetic (seed 3)"
    assert small_set.image_size == 32
    assert train.names[7] == "synthetic/train/000007" and val.names[0] == "synthetic/val/000000"
    assert len(set(train.names)) == len(train.names)
    assert small_set.skipped_files == []


def test_class_balance(small_set: ClassificationData) -> None:
    assert torch.bincount(small_set.train.labels, minlength=5).tolist() == [12] * 5
    assert torch.bincount(small_set.val.labels, minlength=5).tolist() == [4] * 5


def test_same_seed_gives_identical_tensors(small_set: ClassificationData) -> None:
    again = generate_synthetic(train_per_class=12, val_per_class=4, image_size=32, seed=3)
    assert torch.equal(again.train.images, small_set.train.images)
    assert torch.equal(again.train.masks, small_set.train.masks)
    assert torch.equal(again.val.images, small_set.val.images)
    assert torch.equal(again.train.labels, small_set.train.labels)


def test_different_seed_and_split_give_different_images(small_set: ClassificationData) -> None:
    other = generate_synthetic(train_per_class=12, val_per_class=4, image_size=32, seed=4)
    assert other.dataset_id != small_set.dataset_id
    differs = (other.train.images != small_set.train.images).flatten(1).any(dim=1)  # (N,)
    assert bool(differs.all()), "every image should change with the seed"
    # train and val are seeded apart: val image i is not train image i
    assert not torch.equal(small_set.val.images[0], small_set.train.images[0])
    # images within a split are all distinct
    flat = small_set.train.images.flatten(1)  # (N, 3*S*S)
    assert len({bytes(row.numpy()) for row in flat}) == len(flat)


def test_images_are_order_independent_and_prefix_stable(small_set: ClassificationData) -> None:
    """Image i depends only on (seed, split, i): a smaller set is a prefix of a larger one."""
    smaller = generate_synthetic(train_per_class=3, val_per_class=1, image_size=32, seed=3)
    assert torch.equal(smaller.train.images, small_set.train.images[:15])
    assert torch.equal(smaller.val.masks, small_set.val.masks[:5])
    image, mask, label = render_synthetic_image(3, "train", 11, 32)
    assert torch.equal(torch.from_numpy(image).permute(2, 0, 1), small_set.train.images[11])
    assert torch.equal(torch.from_numpy(mask), small_set.train.masks[11])
    assert label == int(small_set.train.labels[11])


def test_masks_are_non_empty_and_mostly_inside(small_set: ClassificationData) -> None:
    for split in (small_set.train, small_set.val):
        masks = split.masks.float()  # (N, S, S)
        coverage = masks.mean(dim=(1, 2))  # (N,)
        assert float(coverage.min()) > 0.02, "every object must stay visible"
        assert float(coverage.max()) < 0.9, "no object may fill the whole image"
        size = masks.shape[-1]
        coords = torch.arange(size, dtype=torch.float32) + 0.5  # (S,)
        center_y = (masks.sum(dim=2) * coords).sum(dim=1) / masks.sum(dim=(1, 2))  # (N,)
        center_x = (masks.sum(dim=1) * coords).sum(dim=1) / masks.sum(dim=(1, 2))  # (N,)
        for center in (center_x, center_y):
            assert float(center.min()) > 0.15 * size and float(center.max()) < 0.85 * size
        # an object is not cut off by the image edge: at most 3 of 4 borders touched, and little mask on them
        border = torch.cat([masks[:, 0], masks[:, -1], masks[:, :, 0], masks[:, :, -1]], dim=1)  # (N, 4S)
        assert float(border.sum() / masks.sum()) < 0.1


def test_objects_differ_from_their_surroundings(small_set: ClassificationData) -> None:
    """The mask marks the drawn object: inside and outside colours differ clearly on average."""
    images = small_set.train.images.float()  # (N, 3, S, S)
    masks = small_set.train.masks.unsqueeze(1)  # (N, 1, S, S)
    inside = (images * masks).sum(dim=(2, 3)) / masks.sum(dim=(2, 3))  # (N, 3)
    outside = (images * ~masks).sum(dim=(2, 3)) / (~masks).sum(dim=(2, 3))  # (N, 3)
    assert float((inside - outside).abs().sum(dim=1).median()) > 20.0


def test_classes_look_different_on_average() -> None:
    """Per-class mean masks differ: airplanes are thin, pizzas are round discs, buses are wide."""
    data = generate_synthetic(train_per_class=20, val_per_class=1, image_size=32, seed=0)
    coverage = data.train.masks.float().mean(dim=(1, 2))  # (N,)
    per_class = [float(coverage[data.train.labels == label].mean()) for label in range(5)]
    airplane, bus, cat, dog, pizza = per_class
    assert airplane < pizza and airplane < bus and airplane < cat
    # pixels carry noise: neighbouring pixels are not all identical
    assert float(data.train.images.float().std(dim=(2, 3)).mean()) > 5.0


def test_write_folder_round_trip(tmp_path: Path, small_set: ClassificationData) -> None:
    out_root = write_synthetic_folder(small_set, tmp_path / "synth")
    assert out_root == tmp_path / "synth"
    for split_name, split in (("train", small_set.train), ("val", small_set.val)):
        for class_name in small_set.class_names:
            files = sorted((out_root / split_name / class_name).glob("*.png"))
            assert len(files) == len(split) // 5
        index = 7 if split_name == "train" else 3
        class_name = small_set.class_names[int(split.labels[index])]
        png = out_root / split_name / class_name / f"{split_name}_{index:06d}.png"
        reread = torch.from_numpy(np.array(Image.open(png).convert("RGB"))).permute(2, 0, 1)  # (3, S, S)
        assert torch.equal(reread, split.images[index])
        with np.load(out_root / f"masks_{split_name}.npz") as saved:
            assert saved["masks"].dtype == bool
            assert np.array_equal(saved["masks"], split.masks.numpy())
            assert saved["names"][index] == f"{class_name}/{split_name}_{index:06d}.png"


def test_scene_config_changes_images_and_id() -> None:
    plain = generate_synthetic(2, 1, 32, seed=0, scene=SyntheticSceneConfig(noise_std_range=(0.0, 0.0)))
    noisy = generate_synthetic(2, 1, 32, seed=0)
    assert plain.dataset_id.startswith("synthetic-seed0-32-2-1-") and noisy.dataset_id == "synthetic-seed0-32-2-1"
    assert not torch.equal(plain.train.images, noisy.train.images)


def test_progress_reports_every_image_count() -> None:
    calls = []
    generate_synthetic(2, 1, 16, seed=0, progress=lambda done, total, message: calls.append((done, total, message)))
    assert calls[-1][:2] == (15, 15)
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)
    assert all(isinstance(message, str) and message for _, _, message in calls)


@pytest.mark.parametrize("kwargs", [{"train_per_class": 0}, {"image_size": 8}, {"seed": -1}, {"val_per_class": 1.5}])
def test_bad_arguments_raise_clear_errors(kwargs: dict) -> None:
    arguments = {"train_per_class": 1, "val_per_class": 1, "image_size": 16, "seed": 0} | kwargs
    with pytest.raises(VitcoreError, match="must be a whole number"):
        generate_synthetic(**arguments)


def test_unknown_split_is_refused() -> None:
    with pytest.raises(VitcoreError, match="split must be 'train' or 'val'"):
        render_synthetic_image(0, "test", 0, 16)


def test_small_sizes_are_fast() -> None:
    start = time.perf_counter()
    data = generate_synthetic(train_per_class=20, val_per_class=4, image_size=64, seed=1)
    seconds = time.perf_counter() - start
    assert len(data.train) == 100
    assert seconds < 5.0, f"120 images took {seconds:.1f} s"



def test_written_folder_has_no_false_leakage(tmp_path: Path, small_set: ClassificationData) -> None:
    from vitcore.data.report import build_report

    report = build_report(write_synthetic_folder(small_set, tmp_path / "synth"))
    assert report.names_to_drop(drop_multilabel=True, drop_leaked=True) == set()
