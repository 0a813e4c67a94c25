"""load_dataset: the embedded synthetic set (cached) and image folders with hygiene drops."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vitcore.data.synthetic as synthetic_module
from vitcore.data import cache
from vitcore.data.sources import describe_source, load_dataset, synthetic_cache_key
from vitcore.errors import DataLayoutError

SMALL_SYNTHETIC = dict(image_size=32, synthetic_train_per_class=2, synthetic_val_per_class=1)


def _jpeg(path: Path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 20, 3), colour, dtype=np.uint8)).save(path, quality=95)


@pytest.fixture
def folder_with_problems(tmp_path) -> Path:
    root = tmp_path / "photos"
    for split, count in (("train", 3), ("val", 2)):
        for class_name, colour in (("cat", (200, 0, 0)), ("dog", (0, 200, 0))):
            for index in range(count):
                _jpeg(root / split / class_name / f"{split}_{class_name}_{index}.jpg", colour)
    _jpeg(root / "train" / "cat" / "both.jpg", (100, 100, 0))  # multi-label within train
    _jpeg(root / "train" / "dog" / "both.jpg", (100, 100, 0))
    _jpeg(root / "train" / "cat" / "leak.jpg", (150, 0, 0))  # leaked, same class
    _jpeg(root / "val" / "cat" / "leak.jpg", (150, 0, 0))
    return root


def test_describe_source():
    assert describe_source(None) == "embedded synthetic dataset (seed 0)"
    assert describe_source("synthetic") == describe_source(None)
    assert describe_source(Path("/data/pets")) == "image folder /data/pets"


def test_synthetic_default_is_generated_once_then_cached(tmp_path, monkeypatch):
    first = load_dataset(None, cache_dir=tmp_path, **SMALL_SYNTHETIC)
    assert first.class_names == list(synthetic_module.SYNTHETIC_CLASS_NAMES)
    assert first.train.images.shape == (2 * 5, 3, 32, 32) and first.val.images.shape == (1 * 5, 3, 32, 32)
    assert first.train.masks is not None and first.train.masks.shape == (10, 32, 32)
    assert first.train.masks.dtype == torch.bool
    assert first.dataset_id.startswith("synthetic-seed0-32")
    key = synthetic_cache_key(0, 32, 2, 1)
    assert (tmp_path / f"{key}.pt").is_file()

    monkeypatch.setattr(synthetic_module, "generate_synthetic", lambda **kwargs: pytest.fail("must come from the cache"))
    second = load_dataset("synthetic", cache_dir=tmp_path, **SMALL_SYNTHETIC)
    assert torch.equal(first.train.images, second.train.images)
    assert torch.equal(first.val.masks, second.val.masks)
    assert first.dataset_id == second.dataset_id and first.source == second.source


def test_synthetic_corrupt_cache_is_regenerated(tmp_path):
    first = load_dataset(None, cache_dir=tmp_path, **SMALL_SYNTHETIC)
    cache_file = tmp_path / f"{synthetic_cache_key(0, 32, 2, 1)}.pt"
    cache_file.write_bytes(b"garbage")
    assert cache.load_data(tmp_path, cache_file.stem) is None
    again = load_dataset(None, cache_dir=tmp_path, **SMALL_SYNTHETIC)
    assert torch.equal(first.val.images, again.val.images)
    assert cache.load_data(tmp_path, cache_file.stem) is not None


def test_folder_source_with_and_without_drops(folder_with_problems, tmp_path):
    cache_dir = tmp_path / "cache"
    everything = load_dataset(folder_with_problems, image_size=16, cache_dir=cache_dir)
    assert len(everything.train) == 3 * 2 + 3 and len(everything.val) == 2 * 2 + 1
    assert everything.class_names == ["cat", "dog"]

    no_multi = load_dataset(str(folder_with_problems), image_size=16, cache_dir=cache_dir, drop_multilabel=True)
    assert all(not name.endswith("both.jpg") for name in no_multi.train.names)
    assert "cat/leak.jpg" in no_multi.val.names and len(no_multi.train) == 7

    clean = load_dataset(folder_with_problems, image_size=16, cache_dir=cache_dir, drop_multilabel=True, drop_leaked=True)
    remaining = clean.train.names + clean.val.names
    assert not any(name.endswith(("both.jpg", "leak.jpg")) for name in remaining)
    assert len(clean.train) == 6 and len(clean.val) == 4
    assert len({everything.dataset_id, no_multi.dataset_id, clean.dataset_id}) == 3


def test_missing_folder_source_is_a_layout_error(tmp_path):
    with pytest.raises(DataLayoutError, match="does not exist"):
        load_dataset(tmp_path / "no_such_folder", cache_dir=tmp_path)
