"""One entry point for "give me a dataset": the embedded synthetic set or an image folder.

`load_dataset(None)` (or "synthetic") returns the embedded five-class synthetic
dataset, rendered once and then served from the tensor cache. Any other source
is a folder path ROOT/{train,val}/<class>/<image>, loaded with
`load_folder_dataset`; the hygiene flags `drop_multilabel` / `drop_leaked`
first run `build_report` and exclude the offending file names from both splits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch

from vitcore.data import cache
from vitcore.data.dataset import ClassificationData
from vitcore.data.folder import load_folder_dataset
from vitcore.data.report import build_report

# The source value (besides None) that means "the embedded synthetic dataset".
SYNTHETIC_SOURCE = "synthetic"
# Defaults of the embedded dataset: seed and images per class in each split.
DEFAULT_SYNTHETIC_SEED = 0
DEFAULT_SYNTHETIC_TRAIN_PER_CLASS = 1500
DEFAULT_SYNTHETIC_VAL_PER_CLASS = 500
# Source files of the synthetic generator: their content is part of the cache key,
# so editing the generator can never serve stale cached images.
_SYNTHETIC_SOURCE_FILES = ("synthetic.py", "synthetic_shapes.py")

ProgressCallback = Callable[[int, int, str], None]


def is_synthetic_source(source: str | Path | None) -> bool:
    """True for None, "" and "synthetic" (any case)."""
    return source is None or (isinstance(source, str) and source.strip().lower() in ("", SYNTHETIC_SOURCE))


def _synthetic_code_fingerprint() -> str:
    """Short sha1 of the synthetic generator's source code."""
    digest = hashlib.sha1()
    package_dir = Path(__file__).resolve().parent
    for file_name in _SYNTHETIC_SOURCE_FILES:
        path = package_dir / file_name
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()[:8]


def synthetic_cache_key(seed: int, image_size: int, train_per_class: int, val_per_class: int) -> str:
    """Cache key "synthetic-seed{seed}-{size}-{train}x{val}-{code fingerprint}"."""
    return (
        f"synthetic-seed{seed}-{image_size}-{train_per_class}x{val_per_class}-"
        f"{_synthetic_code_fingerprint()}-v{cache.CACHE_FORMAT_VERSION}"
    )


def load_synthetic(
    image_size: int = 64,
    cache_dir: str | Path | None = None,
    seed: int = DEFAULT_SYNTHETIC_SEED,
    train_per_class: int = DEFAULT_SYNTHETIC_TRAIN_PER_CLASS,
    val_per_class: int = DEFAULT_SYNTHETIC_VAL_PER_CLASS,
    progress: ProgressCallback | None = None,
) -> ClassificationData:
    """The embedded synthetic dataset (with masks), rendered once then read from the cache."""
    from vitcore.data.synthetic import generate_synthetic  # heavy drawing code: import only when needed

    key = synthetic_cache_key(seed, image_size, train_per_class, val_per_class)
    data = cache.load_data(cache_dir, key)
    if data is not None:
        if progress is not None:
            total = len(data.train) + len(data.val)
            progress(total, total, "loaded from cache")
        return data
    data = generate_synthetic(
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        image_size=image_size,
        seed=seed,
        progress=progress,
    )
    cache.save_data(cache_dir, key, data)
    return data


def load_dataset(
    source: str | Path | None = None,
    image_size: int = 64,
    cache_dir: str | Path | None = None,
    drop_multilabel: bool = False,
    drop_leaked: bool = False,
    device: torch.device | None = None,
    progress: ProgressCallback | None = None,
    synthetic_seed: int = DEFAULT_SYNTHETIC_SEED,
    synthetic_train_per_class: int = DEFAULT_SYNTHETIC_TRAIN_PER_CLASS,
    synthetic_val_per_class: int = DEFAULT_SYNTHETIC_VAL_PER_CLASS,
) -> ClassificationData:
    """Load the embedded synthetic set (source None / "synthetic") or an image folder.

    For folders, `drop_multilabel` / `drop_leaked` remove the names that `build_report`
    flags (from both splits). The drop flags do not apply to the synthetic set,
    which has neither problem. `device`: move the tensors there when given.
    """
    if is_synthetic_source(source):
        data = load_synthetic(
            image_size=image_size,
            cache_dir=cache_dir,
            seed=synthetic_seed,
            train_per_class=synthetic_train_per_class,
            val_per_class=synthetic_val_per_class,
            progress=progress,
        )
        if device is not None:
            data.train = data.train.to(device)
            data.val = data.val.to(device)
        return data

    exclude_names: set[str] = set()
    if drop_multilabel or drop_leaked:
        if progress is not None:
            progress(0, 1, "checking the folder for multi-label and leaked files")
        exclude_names = build_report(source).names_to_drop(drop_multilabel=drop_multilabel, drop_leaked=drop_leaked)
    return load_folder_dataset(
        source,
        image_size=image_size,
        cache_dir=cache_dir,
        exclude_names=exclude_names,
        device=device,
        progress=progress,
    )


def describe_source(source: str | Path | None) -> str:
    """Human description: "embedded synthetic dataset (seed 0)" or "image folder /path/to/root"."""
    if is_synthetic_source(source):
        return f"embedded synthetic dataset (seed {DEFAULT_SYNTHETIC_SEED})"
    return f"image folder {str(Path(source).expanduser())}"
