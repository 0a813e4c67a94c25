"""Content-keyed tensor cache: decode a dataset once, load it in a blink afterwards.

The cache lives OUTSIDE the dataset folder (default `<repo>/data/cache`, or the
folder named by the environment variable VIT_CLASSROOM_CACHE). Each entry is one
file `<cache_dir>/<key>.pt` written with `torch.save` and read back with
`torch.load(weights_only=True)`, so a cache file can never run code.

For an image folder the key is a sha1 over the sorted list of
(relative path, file size, mtime_ns) plus the image size and a format version:
touching, adding, removing or renaming any image gives a new key, while an
unchanged folder hits the cache. Writes are atomic (temporary file then
`os.replace`), and a corrupt or foreign cache file is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable

import torch

from vitcore.atomic_write import write_atomically
from vitcore.data.dataset import ClassificationData, ImageSplit

# Bump when the payload layout or the decoding pipeline changes: old entries then miss.
CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """VIT_CLASSROOM_CACHE if set, else `<repo root>/data/cache` (repo root = parent of `vitcore/`)."""
    from_env = os.environ.get("VIT_CLASSROOM_CACHE")
    if from_env:
        return Path(from_env)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root / "data" / "cache"


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    """The folder to use: the given one, or the default."""
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def folder_content_key(root: str | Path, relative_paths: Iterable[str], image_size: int) -> str:
    """sha1 hex key of the files' (relative path, size, mtime_ns), the image size and the format version."""
    root_text = os.fspath(root)
    lines = [f"vitcore-folder-cache v{CACHE_FORMAT_VERSION} size={image_size}"]
    for relative_path in sorted(relative_paths):
        stat = os.stat(os.path.join(root_text, relative_path))  # plain strings: 10k files in a few ms
        lines.append(f"{relative_path}\t{stat.st_size}\t{stat.st_mtime_ns}")
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()


def cache_file_path(cache_dir: str | Path | None, key: str) -> Path:
    """`<cache_dir>/<key>.pt`."""
    return resolve_cache_dir(cache_dir) / f"{key}.pt"


def save_payload(cache_dir: str | Path | None, key: str, payload: dict[str, Any]) -> Path:
    """Write `payload` (tensors, strings, lists) atomically; returns the cache file path."""
    target = cache_file_path(cache_dir, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload_with_version = {"cache_format_version": CACHE_FORMAT_VERSION, "payload": payload}
    write_atomically(target, lambda stream: torch.save(payload_with_version, stream))
    return target


def load_payload(cache_dir: str | Path | None, key: str) -> dict[str, Any] | None:
    """The cached payload, or None when missing, unreadable, corrupt or from another format version."""
    path = cache_file_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated zip, garbage bytes, pickle refused by weights_only: all mean "rebuild"
        return None
    if not isinstance(stored, dict) or stored.get("cache_format_version") != CACHE_FORMAT_VERSION:
        return None
    payload = stored.get("payload")
    return payload if isinstance(payload, dict) else None


def data_to_payload(data: ClassificationData) -> dict[str, Any]:
    """Flatten a ClassificationData into plain tensors/lists/strings for `torch.save`."""
    payload: dict[str, Any] = {
        "class_names": list(data.class_names),
        "dataset_id": data.dataset_id,
        "source": data.source,
        "skipped_files": list(data.skipped_files),
    }
    for split_name, split in (("train", data.train), ("val", data.val)):
        payload[split_name] = {
            "images": split.images.cpu().contiguous(),  # (N, 3, S, S) uint8
            "labels": split.labels.cpu().contiguous(),  # (N,) int64
            "names": list(split.names),
            "masks": None if split.masks is None else split.masks.cpu().contiguous(),  # (N, S, S) bool
            "has_mask": None if split.has_mask is None else split.has_mask.cpu().contiguous(),  # (N,) bool
        }
    return payload


def payload_to_data(payload: dict[str, Any]) -> ClassificationData | None:
    """Inverse of `data_to_payload`; None when the payload is not shaped as expected."""
    try:
        splits = {}
        for split_name in ("train", "val"):
            stored = payload[split_name]
            images, labels, names = stored["images"], stored["labels"], list(stored["names"])
            if images.dtype != torch.uint8 or images.ndim != 4:
                return None
            if not images.shape[0] == labels.shape[0] == len(names):
                return None
            splits[split_name] = ImageSplit(images=images, labels=labels.long(), names=names, masks=stored.get("masks"),
                                            has_mask=stored.get("has_mask"))
        return ClassificationData(
            train=splits["train"],
            val=splits["val"],
            class_names=list(payload["class_names"]),
            dataset_id=str(payload["dataset_id"]),
            source=str(payload["source"]),
            skipped_files=list(payload.get("skipped_files", [])),
        )
    except (KeyError, TypeError, AttributeError):
        return None


def save_data(cache_dir: str | Path | None, key: str, data: ClassificationData) -> Path:
    """Cache a whole ClassificationData under `key`."""
    return save_payload(cache_dir, key, data_to_payload(data))


def load_data(cache_dir: str | Path | None, key: str) -> ClassificationData | None:
    """The cached ClassificationData under `key`, or None (missing or corrupt: the caller rebuilds)."""
    payload = load_payload(cache_dir, key)
    return None if payload is None else payload_to_data(payload)
