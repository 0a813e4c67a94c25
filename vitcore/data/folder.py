"""Image-folder datasets: ROOT/{train,val}/<class>/<image> -> ClassificationData.

`scan_folder` only looks at names (fast, no decoding) and explains layout
mistakes with a `DataLayoutError`. `load_folder_dataset` decodes every image
once (in a thread pool: PIL releases the GIL while decoding), resizes it to
image_size x image_size, skips unreadable files (they are listed, never
fatal), and stores the uint8 tensors in the content-keyed cache so the next
load of the same folder skips decoding entirely.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from vitcore.data import cache
from vitcore.data.dataset import ClassificationData, ImageSplit
from vitcore.data.images import decode_image, image_to_uint8_tensor
from vitcore.errors import DataLayoutError, ImageInputError

# File name endings accepted as images (compared lower-case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# The two split folders every dataset root must contain.
SPLIT_NAMES = ("train", "val")
# Images decoded per thread-pool task (bigger chunks = less scheduling overhead).
_DECODE_CHUNK = 256

ProgressCallback = Callable[[int, int, str], None]

MASK_FILES = ("masks_train.npz", "masks_val.npz")  # object masks beside the split folders (COCO builder, `data synth`)


@dataclass
class FolderIndex:
    """What `scan_folder` found: class names and, per split, every image file with its label."""

    root: Path  # the dataset root holding train/ and val/
    class_names: list[str]  # sorted class folder names; label i means class_names[i]
    splits: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # "train"/"val" -> [("cls/file", label)]

    def relative_paths(self) -> list[str]:
        """Every image as "split/cls/file", relative to `root`."""
        return [f"{split}/{name}" for split in SPLIT_NAMES for name, _ in self.splits.get(split, [])]

    def num_images(self) -> int:
        """Total number of image files in both splits."""
        return sum(len(entries) for entries in self.splits.values())


def is_image_file_name(name: str) -> bool:
    """True for visible files ending in .jpg/.jpeg/.png/.webp (any case)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def _visible_subfolders(folder: Path) -> list[str]:
    """Names of sub-folders, skipping hidden ones (.ipynb_checkpoints, .DS_Store folders, __MACOSX)."""
    return sorted(
        entry.name
        for entry in os.scandir(folder)
        if entry.is_dir() and not entry.name.startswith(".") and entry.name != "__MACOSX"
    )


def scan_folder(root: str | Path) -> FolderIndex:
    """Index ROOT/{train,val}/<class>/<image> without decoding anything.

    Raises DataLayoutError (one clear sentence) when the root or a split folder is
    missing, there are no class folders, the class folders differ between the
    splits, there are fewer than 2 classes, or a split / a training class has no images.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataLayoutError(f"The dataset folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise DataLayoutError(f"{str(root)!r} is a file; choose the dataset folder that holds train/ and val/.")
    for split in SPLIT_NAMES:
        if not (root / split).is_dir():
            raise DataLayoutError(
                f"The dataset folder {str(root)!r} has no {split}/ folder; expected ROOT/train/<class>/ and ROOT/val/<class>/."
            )

    classes_per_split: dict[str, list[str]] = {}
    for split in SPLIT_NAMES:
        class_folders = _visible_subfolders(root / split)
        if not class_folders:
            loose_images = [name for name in os.listdir(root / split) if is_image_file_name(name)]
            hint = " (its images sit directly in it; put them into one folder per class)" if loose_images else ""
            raise DataLayoutError(f"{split}/ has no class folders{hint}; expected {split}/<class>/<image>.")
        classes_per_split[split] = class_folders

    train_classes, val_classes = set(classes_per_split["train"]), set(classes_per_split["val"])
    if train_classes != val_classes:
        only_train = sorted(train_classes - val_classes)
        only_val = sorted(val_classes - train_classes)
        parts = []
        if only_train:
            parts.append(f"only in train/: {', '.join(only_train)}")
        if only_val:
            parts.append(f"only in val/: {', '.join(only_val)}")
        raise DataLayoutError(f"train/ and val/ must hold the same class folders ({'; '.join(parts)}).")
    class_names = sorted(train_classes)
    if len(class_names) < 2:
        raise DataLayoutError(f"A classifier needs at least 2 class folders, found {len(class_names)} ({', '.join(class_names)}).")

    splits: dict[str, list[tuple[str, int]]] = {}
    for split in SPLIT_NAMES:
        entries: list[tuple[str, int]] = []
        for label, class_name in enumerate(class_names):
            file_names = sorted(
                entry.name
                for entry in os.scandir(root / split / class_name)
                if is_image_file_name(entry.name) and entry.is_file()
            )
            if not file_names and split == "train":
                raise DataLayoutError(
                    f"The class folder train/{class_name}/ has no images (.jpg, .jpeg, .png or .webp)."
                )
            entries.extend((f"{class_name}/{file_name}", label) for file_name in file_names)
        if not entries:
            raise DataLayoutError(f"{split}/ contains no images (.jpg, .jpeg, .png or .webp).")
        splits[split] = entries
    return FolderIndex(root=root, class_names=class_names, splits=splits)


def _decode_chunk(root: Path, relative_paths: list[str], image_size: int) -> list[torch.Tensor | None]:
    """Decode a list of files; an unreadable file gives None instead of an error."""
    tensors: list[torch.Tensor | None] = []
    for relative_path in relative_paths:
        try:
            img = decode_image(root / relative_path, draft_size=image_size)
            tensors.append(image_to_uint8_tensor(img, image_size))  # (3, S, S)
        except ImageInputError:
            tensors.append(None)
    return tensors


def _decode_all(
    root: Path, relative_paths: list[str], image_size: int, progress: ProgressCallback | None
) -> list[torch.Tensor | None]:
    """Decode every file with a small thread pool, reporting progress as chunks finish."""
    chunks = [relative_paths[start : start + _DECODE_CHUNK] for start in range(0, len(relative_paths), _DECODE_CHUNK)]
    total = len(relative_paths)
    results: list[torch.Tensor | None] = []
    workers = max(1, min(8, os.cpu_count() or 1))
    if progress is not None:
        progress(0, total, "decoding images")
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        for chunk_result in pool.map(lambda chunk: _decode_chunk(root, chunk, image_size), chunks):
            results.extend(chunk_result)
            if progress is not None:
                progress(len(results), total, "decoding images")
    return results


def _build_split(
    entries: list[tuple[str, int]], tensors: list[torch.Tensor | None], image_size: int
) -> tuple[ImageSplit, list[str]]:
    """Stack the decoded tensors of one split; return the split and the names that failed."""
    kept_tensors, kept_labels, kept_names, failed = [], [], [], []
    for (name, label), tensor in zip(entries, tensors):
        if tensor is None:
            failed.append(name)
            continue
        kept_tensors.append(tensor)
        kept_labels.append(label)
        kept_names.append(name)
    if kept_tensors:
        images = torch.stack(kept_tensors)  # (N, 3, S, S) uint8
    else:
        images = torch.zeros((0, 3, image_size, image_size), dtype=torch.uint8)  # (0, 3, S, S)
    labels = torch.tensor(kept_labels, dtype=torch.int64)  # (N,)
    return ImageSplit(images=images, labels=labels, names=kept_names, masks=None), failed


def with_stored_masks(split: ImageSplit, path: Path, image_size: int) -> ImageSplit:
    """The split with the object masks of `path` (masks_<split>.npz: `names` "class/file" and `masks` (K, s, s) bool)
    attached by file name; pictures the file does not name are maskless. Unchanged when the file is absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            names, stored_masks = [str(name) for name in stored["names"]], stored["masks"].astype(bool)
    except (OSError, KeyError, ValueError):
        return split
    if stored_masks.ndim != 3 or len(names) != stored_masks.shape[0]:
        return split
    if stored_masks.shape[1:] != (image_size, image_size):  # the pictures were resized on loading: so are the masks
        resized = torch.nn.functional.interpolate(torch.from_numpy(stored_masks)[:, None].float(), size=(image_size, image_size),
                                                  mode="nearest")  # (K, 1, S, S)
        stored_masks = resized[:, 0].numpy() > 0.5
    position_of = {name: position for position, name in enumerate(names)}
    masks = torch.zeros((len(split), image_size, image_size), dtype=torch.bool)  # (N, S, S)
    has_mask = torch.zeros(len(split), dtype=torch.bool)  # (N,)
    for position, name in enumerate(split.names):
        stored_position = position_of.get(name)
        if stored_position is not None:
            masks[position] = torch.from_numpy(stored_masks[stored_position])
            has_mask[position] = True
    if not bool(has_mask.any()):
        return split
    return ImageSplit(images=split.images, labels=split.labels, names=split.names, masks=masks, has_mask=has_mask)


def _decode_folder(index: FolderIndex, image_size: int, content_key: str, progress: ProgressCallback | None) -> ClassificationData:
    """Decode every image of `index` (no exclusions) into a ClassificationData."""
    relative_paths = index.relative_paths()
    tensors = _decode_all(index.root, relative_paths, image_size, progress)
    num_train = len(index.splits["train"])
    train, train_failed = _build_split(index.splits["train"], tensors[:num_train], image_size)
    val, val_failed = _build_split(index.splits["val"], tensors[num_train:], image_size)
    train, val = (with_stored_masks(split, index.root / file_name, image_size)
                  for split, file_name in zip((train, val), MASK_FILES))
    skipped = [f"train/{name}" for name in train_failed] + [f"val/{name}" for name in val_failed]
    return ClassificationData(
        train=train,
        val=val,
        class_names=list(index.class_names),
        dataset_id=f"folder-{content_key[:8]}",
        source=str(index.root),
        skipped_files=skipped,
    )


def _drop_names(split: ImageSplit, exclude_names: set[str]) -> tuple[ImageSplit, int]:
    """Remove images whose bare file name is in `exclude_names`; return the split and how many went."""
    keep = [position for position, name in enumerate(split.names) if name.rsplit("/", 1)[-1] not in exclude_names]
    if len(keep) == len(split.names):
        return split, 0
    kept = split.select(torch.tensor(keep, dtype=torch.int64))  # N_kept pictures
    return kept, len(split.names) - len(keep)


def load_folder_dataset(
    root: str | Path,
    image_size: int = 64,
    cache_dir: str | Path | None = None,
    exclude_names: Iterable[str] = (),
    device: torch.device | None = None,
    progress: ProgressCallback | None = None,
) -> ClassificationData:
    """Load ROOT/{train,val}/<class>/<image> as uint8 tensors, using the content-keyed cache.

    `exclude_names`: bare file names (e.g. "COCO_train2014_000000000443.jpg") dropped from
    both splits. Unreadable files are skipped and listed in `skipped_files`.
    `device`: when given, the tensors are moved there (e.g. keep the set on the GPU).
    """
    if image_size < 1:
        raise DataLayoutError(f"The image size must be a positive number of pixels, not {image_size}.")
    index = scan_folder(root)
    mask_files = [name for name in MASK_FILES if (index.root / name).is_file()]  # new or changed masks: a new key
    content_key = cache.folder_content_key(index.root, index.relative_paths() + mask_files, image_size)

    data = cache.load_data(cache_dir, content_key)
    if data is not None and data.class_names == index.class_names:
        data.source = str(index.root)
        if progress is not None:
            total = index.num_images()
            progress(total, total, "loaded from cache")
    else:
        data = _decode_folder(index, image_size, content_key, progress)
        cache.save_data(cache_dir, content_key, data)

    excluded = {name.rsplit("/", 1)[-1] for name in exclude_names}
    if excluded:
        data.train, dropped_train = _drop_names(data.train, excluded)
        data.val, dropped_val = _drop_names(data.val, excluded)
        if dropped_train or dropped_val:
            exclusion_digest = hashlib.sha1("\n".join(sorted(excluded)).encode()).hexdigest()
            data.dataset_id = "folder-" + hashlib.sha1(f"{content_key}:{exclusion_digest}".encode()).hexdigest()[:8]

    for split_name, split in (("train", data.train), ("val", data.val)):
        if len(split) == 0:
            raise DataLayoutError(f"No readable images are left in {split_name}/ of {str(index.root)!r}.")
    if device is not None:
        data.train = data.train.to(device)
        data.val = data.val.to(device)
    return data
