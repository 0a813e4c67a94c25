"""scan_folder / load_folder_dataset / the content-keyed cache, on real image files in tmp_path."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vitcore.data.folder as folder_module
from vitcore.data import cache
from vitcore.data.folder import load_folder_dataset, scan_folder
from vitcore.errors import DataLayoutError

CLASS_COLOURS = {"cat": (200, 30, 30), "dog": (30, 200, 30), "bus": (30, 30, 200)}


def write_image(path: Path, colour, size=(24, 24)) -> Path:
    """A flat-colour image with a little seeded noise, saved in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    pixels = np.clip(np.array(colour) + rng.integers(-5, 6, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, format="JPEG", quality=95)
    elif path.suffix.lower() == ".webp":
        image.save(path, format="WEBP", lossless=True)
    else:
        image.save(path, format="PNG")
    return path


def make_dataset(root: Path, train_per_class=4, val_per_class=2) -> Path:
    """ROOT/{train,val}/{bus,cat,dog}/ with a mix of .jpg/.JPEG/.png/.webp files."""
    suffixes = [".jpg", ".JPEG", ".png", ".webp"]
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for class_name, colour in CLASS_COLOURS.items():
            for index in range(count):
                write_image(root / split / class_name / f"{split}_{class_name}_{index}{suffixes[index % 4]}", colour)
    return root


@pytest.fixture
def dataset_root(tmp_path) -> Path:
    return make_dataset(tmp_path / "pets")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def test_scan_folder_indexes_classes_and_files(dataset_root):
    (dataset_root / "train" / "cat" / "notes.txt").write_text("not an image")
    (dataset_root / "train" / "cat" / ".hidden.jpg").write_bytes(b"")
    (dataset_root / "train" / ".ipynb_checkpoints").mkdir()
    index = scan_folder(dataset_root)
    assert index.class_names == ["bus", "cat", "dog"]
    assert len(index.splits["train"]) == 12 and len(index.splits["val"]) == 6
    assert ("cat/train_cat_1.JPEG", 1) in index.splits["train"]
    assert ("dog/val_dog_1.JPEG", 2) in index.splits["val"]
    assert all(not name.endswith((".txt", ".hidden.jpg")) for name, _ in index.splits["train"])
    assert index.num_images() == 18


@pytest.mark.parametrize(
    "break_layout, message",
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: (root / "file.txt").write_text("x") and root / "file.txt", "is a file"),
        (lambda root: (os.rename(root / "val", root / "validation"), root)[1], "no val/ folder"),
        (lambda root: (os.rename(root / "train", root / "old"), root)[1], "no train/ folder"),
        (lambda root: (os.rename(root / "val" / "dog", root / "val" / "doggo"), root)[1], "only in train/: dog; only in val/: doggo"),
    ],
    ids=["missing-root", "root-is-file", "no-val", "no-train", "class-mismatch"],
)
def test_layout_errors_are_clear(dataset_root, break_layout, message):
    broken_root = break_layout(dataset_root)
    with pytest.raises(DataLayoutError, match=message):
        scan_folder(broken_root)


def test_layout_errors_for_too_few_classes_and_empty_folders(tmp_path):
    loose = tmp_path / "loose"
    write_image(loose / "train" / "a.jpg", (1, 2, 3))
    (loose / "val").mkdir(parents=True)
    with pytest.raises(DataLayoutError, match="no class folders .*directly"):
        scan_folder(loose)

    single = tmp_path / "single"
    write_image(single / "train" / "cat" / "a.jpg", (1, 2, 3))
    write_image(single / "val" / "cat" / "b.jpg", (1, 2, 3))
    with pytest.raises(DataLayoutError, match="at least 2 class folders, found 1"):
        scan_folder(single)

    empty_class = make_dataset(tmp_path / "empty_class", 1, 1)
    for file in (empty_class / "train" / "dog").iterdir():
        file.unlink()
    with pytest.raises(DataLayoutError, match="train/dog/ has no images"):
        scan_folder(empty_class)

    empty_val = make_dataset(tmp_path / "empty_val", 1, 1)
    for class_folder in (empty_val / "val").iterdir():
        for file in class_folder.iterdir():
            file.unlink()
    with pytest.raises(DataLayoutError, match="val/ contains no images"):
        scan_folder(empty_val)


def test_load_folder_dataset_decodes_resizes_and_labels(dataset_root, cache_dir):
    calls = []
    data = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir, progress=lambda *a: calls.append(a))
    assert data.class_names == ["bus", "cat", "dog"]
    assert data.train.images.shape == (12, 3, 16, 16) and data.train.images.dtype == torch.uint8
    assert data.val.images.shape == (6, 3, 16, 16)
    assert data.train.labels.dtype == torch.int64 and data.train.masks is None
    for images, labels, names in ((data.train.images, data.train.labels, data.train.names),
                                  (data.val.images, data.val.labels, data.val.names)):
        for image, label, name in zip(images, labels, names):
            class_name = data.class_names[int(label)]
            assert name.startswith(class_name + "/")
            mean_colour = image.float().mean(dim=(1, 2))  # (3,)
            assert torch.allclose(mean_colour, torch.tensor(CLASS_COLOURS[class_name], dtype=torch.float), atol=6)
    assert data.dataset_id.startswith("folder-") and len(data.dataset_id) == len("folder-") + 8
    assert data.source == str(dataset_root) and data.skipped_files == []
    assert calls[-1][0] == calls[-1][1] == 18
    assert list(cache_dir.glob("*.pt")), "the decoded tensors were cached"
    assert not any(path.suffix == ".pt" for path in dataset_root.rglob("*")), "nothing is written into the source"


def test_unreadable_files_are_skipped_and_listed(dataset_root, cache_dir):
    (dataset_root / "train" / "cat" / "text.jpg").write_text("definitely not a jpeg")
    (dataset_root / "train" / "cat" / "empty.png").write_bytes(b"")
    good = (dataset_root / "val" / "dog" / "val_dog_0.jpg").read_bytes()
    (dataset_root / "val" / "dog" / "cut.jpg").write_bytes(good[: len(good) // 2])
    data = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)
    assert sorted(data.skipped_files) == ["train/cat/empty.png", "train/cat/text.jpg", "val/dog/cut.jpg"]
    assert len(data.train) == 12 and len(data.val) == 6


def test_exclude_names_drop_from_both_splits(tmp_path, cache_dir):
    root = make_dataset(tmp_path / "d", 3, 2)
    shared = "shared_photo.jpg"
    write_image(root / "train" / "cat" / shared, CLASS_COLOURS["cat"])
    write_image(root / "val" / "dog" / shared, CLASS_COLOURS["dog"])
    full = load_folder_dataset(root, image_size=8, cache_dir=cache_dir)
    assert "cat/shared_photo.jpg" in full.train.names and "dog/shared_photo.jpg" in full.val.names

    reduced = load_folder_dataset(root, image_size=8, cache_dir=cache_dir, exclude_names={shared, "train_bus_0.jpg"})
    assert len(reduced.train) == len(full.train) - 2 and len(reduced.val) == len(full.val) - 1
    assert all(not name.endswith((shared, "/train_bus_0.jpg")) for name in reduced.train.names + reduced.val.names)
    assert reduced.train.images.shape[0] == reduced.train.labels.shape[0] == len(reduced.train.names)
    kept_position = full.train.names.index(reduced.train.names[0])
    assert torch.equal(reduced.train.images[0], full.train.images[kept_position])
    assert reduced.dataset_id != full.dataset_id

    unaffected = load_folder_dataset(root, image_size=8, cache_dir=cache_dir, exclude_names={"no_such_file.jpg"})
    assert unaffected.dataset_id == full.dataset_id


def test_second_load_is_served_from_cache_without_decoding(dataset_root, cache_dir, monkeypatch):
    first = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)

    def refuse_to_decode(*args, **kwargs):
        raise AssertionError("decode_image must not run on a cache hit")

    monkeypatch.setattr(folder_module, "decode_image", refuse_to_decode)
    messages = []
    second = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir, progress=lambda d, t, m: messages.append(m))
    assert torch.equal(first.train.images, second.train.images) and torch.equal(first.val.labels, second.val.labels)
    assert first.train.names == second.train.names and first.dataset_id == second.dataset_id
    assert messages == ["loaded from cache"]

    # A different image size is a different key, so it must decode (and our stub refuses).
    with pytest.raises(AssertionError, match="must not run"):
        load_folder_dataset(dataset_root, image_size=8, cache_dir=cache_dir)


def test_changed_file_invalidates_the_cache(dataset_root, cache_dir, monkeypatch):
    first = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)
    target = dataset_root / "train" / "cat" / "train_cat_0.jpg"
    write_image(target, (250, 250, 250))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    decoded = []
    real_decode = folder_module.decode_image
    monkeypatch.setattr(folder_module, "decode_image", lambda *a, **k: decoded.append(a[0]) or real_decode(*a, **k))
    second = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)
    assert len(decoded) == 18
    assert second.dataset_id != first.dataset_id
    position = second.train.names.index("cat/train_cat_0.jpg")
    assert second.train.images[position].float().mean() > 240


def test_corrupt_cache_file_is_ignored_and_rebuilt(dataset_root, cache_dir):
    first = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)
    (cache_file,) = cache_dir.glob("*.pt")
    cache_file.write_bytes(b"PK\x03\x04 this is not a torch file" * 10)
    rebuilt = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)
    assert torch.equal(first.train.images, rebuilt.train.images)
    key = cache_file.stem
    assert cache.load_payload(cache_dir, key) is not None, "the rebuilt entry replaced the corrupt one"

    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # a half-written file
    assert cache.load_data(cache_dir, key) is None
    again = load_folder_dataset(dataset_root, image_size=16, cache_dir=cache_dir)
    assert torch.equal(first.val.images, again.val.images)
    assert not list(cache_dir.glob("*.tmp")), "no temporary files are left behind"


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VIT_CLASSROOM_CACHE", str(tmp_path / "elsewhere"))
    assert cache.default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("VIT_CLASSROOM_CACHE")
    repo_root = Path(folder_module.__file__).resolve().parents[2]
    assert cache.default_cache_dir() == repo_root / "data" / "cache"


def test_device_argument_moves_tensors(dataset_root, cache_dir):
    data = load_folder_dataset(dataset_root, image_size=8, cache_dir=cache_dir, device=torch.device("cpu"))
    assert data.train.images.device.type == "cpu" and data.val.labels.device.type == "cpu"


@pytest.mark.real_data
def test_real_coco5_loads_and_second_load_is_fast(coco5_root, tmp_path, monkeypatch):
    torch.set_num_threads(2)
    start = time.perf_counter()
    first = load_folder_dataset(coco5_root, image_size=64, cache_dir=tmp_path / "cache")
    first_seconds = time.perf_counter() - start
    assert first.train.images.shape == (7500, 3, 64, 64) and first.val.images.shape == (2500, 3, 64, 64)
    assert first.class_names == ["airplane", "bus", "cat", "dog", "pizza"] and first.skipped_files == []
    assert torch.bincount(first.train.labels).tolist() == [1500] * 5

    monkeypatch.setattr(folder_module, "decode_image", lambda *a, **k: pytest.fail("cache hit must not decode"))
    start = time.perf_counter()
    second = load_folder_dataset(coco5_root, image_size=64, cache_dir=tmp_path / "cache")
    seconds = time.perf_counter() - start
    # Well under 2 s on an idle machine; on a crowded shared CPU, at least 5x faster than decoding.
    assert seconds < 2.0 or seconds < first_seconds / 5, f"cached load {seconds:.2f} s vs first {first_seconds:.2f} s"
    assert torch.equal(first.val.images, second.val.images)
