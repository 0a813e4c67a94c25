"""Build the homework's 5-class, 64x64 folder dataset from COCO annotations (pycocotools).

The result has the layout every loader in this project reads::

    output_root/
        train/<class>/<file_name>.jpg    RGB, image_size x image_size, JPEG quality 95
        val/<class>/<file_name>.jpg
        masks_train.npz, masks_val.npz   object masks (unless masks=False): see write_masks
        manifest.json                    what was selected and how (deterministic, no timestamp)
        _downloads/                      original COCO JPEGs when download=True (reused next time)

Selection policies (which image ids go to which class and split):

- ``"hw4"`` (the course's rule): for each class, ``coco.getImgIds(catIds=[c])`` in the
  order pycocotools returns it; the first ``train_per_class`` ids are train, the next
  ``val_per_class`` are val.  An image showing a cat *and* a dog is then used under
  both classes (and may even land in train for one and val for the other), exactly
  as in the homework.
- ``"single-label"``: the same slicing, after dropping every image that shows more
  than one of the chosen classes.
- ``"dominant"``: every image is given to the single chosen class that covers the
  largest total annotated area in it (ties: the class listed first); then per class
  the image ids are sorted and sliced as above.

With ``allow_fewer=True`` a class with too few images is split the same way
(train gets ``min(n, train_per_class)``, val the rest up to ``val_per_class``)
instead of raising; this is what the tests use on the 80-image coco-tiny set.

Images are squashed (not cropped) to ``image_size`` x ``image_size`` with bicubic
resampling, like the homework.  EXIF orientation is ignored on purpose: COCO's
boxes and masks refer to the stored pixel grid, and so did the homework.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import os
import shutil
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np
import requests
from PIL import Image, UnidentifiedImageError
from pycocotools.coco import COCO

from vitcore import __version__
from vitcore.data.download import download_file
from vitcore.atomic_write import write_atomically, write_text_atomically
from vitcore.errors import CocoBuildError

POLICIES = ("hw4", "single-label", "dominant")  # the selection rules build_from_coco understands
SPLITS = ("train", "val")  # output split folders, in this order
MANIFEST_NAME = "manifest.json"  # written in output_root
DOWNLOADS_DIR = "_downloads"  # original JPEGs fetched over HTTP, inside output_root
STAGING_DIR = ".building"  # the new split folders are written here, then moved into place
MANIFEST_FORMAT = 1  # bump when the manifest's keys change

ProgressCallback = Callable[[int, int, str], None]  # progress(done, total, message)


@dataclass
class CocoBuildConfig:
    """Everything build_from_coco needs; the defaults reproduce the homework dataset."""

    annotations: Path  # a COCO instances_*.json file (e.g. annotations/instances_train2017.json)
    output_root: Path  # folder that receives train/, val/ and manifest.json
    image_dir: Path | None = None  # local folder holding the COCO images by file_name (used when download=False)
    download: bool = False  # True: fetch the images over HTTP into output_root/_downloads/
    image_base_url: str | None = None  # download from base + "/" + file_name instead of each image's coco_url
    classes: tuple[str, ...] = ("airplane", "bus", "cat", "dog", "pizza")  # COCO category names to keep
    train_per_class: int = 1500  # training images per class
    val_per_class: int = 500  # validation images per class
    image_size: int = 64  # output images are image_size x image_size pixels
    policy: str = "hw4"  # selection rule: "hw4" | "single-label" | "dominant" (see module docstring)
    download_workers: int = 4  # parallel downloads
    retries: int = 3  # extra download attempts per image after the first failure
    allow_fewer: bool = False  # True: accept classes with fewer images than requested instead of failing
    jpeg_quality: int = 95  # JPEG quality of the written images
    download_timeout: float = 10.0  # seconds to wait for a connection or a read, per download
    download_backoff: float = 0.2  # seconds before the first retry of a download, doubled each time
    masks: bool = True  # write masks_<split>.npz: each image's union mask of its class's instances (see write_masks)


# ----------------------------------------------------------------------------- masks
def class_mask(coco: COCO, image_id: int, category_id: int, image_size: int) -> np.ndarray | None:
    """(S, S) bool union of the image's instances of one category (pycocotools annToMask), squashed like the
    picture (nearest neighbour); None when the image has no instance of that category with a segmentation."""
    annotations = [ann for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=[category_id], iscrowd=None))
                   if ann.get("segmentation")]
    if not annotations:
        return None
    union = np.zeros_like(coco.annToMask(annotations[0]), dtype=bool)  # (H, W) at the stored COCO size
    for annotation in annotations:
        union |= coco.annToMask(annotation).astype(bool)
    small = Image.fromarray(union.astype(np.uint8) * 255).resize((image_size, image_size), Image.Resampling.NEAREST)
    return np.asarray(small) > 127  # (S, S)


def write_masks(path: Path, names: list[str], masks: list[np.ndarray], maskless: list[str]) -> None:
    """masks_<split>.npz, the format the embedded set's folders use: `names` (class/file, the images with a mask),
    `masks` ((N, S, S) bool, in the same order) and `maskless` (class/file of the images without one).
    Written atomically (vitcore.atomic_write), so a reader never sees half of it."""
    size = masks[0].shape if masks else (0, 0)
    write_atomically(path, lambda stream: np.savez_compressed(
        stream, names=np.array(names, dtype=str), maskless=np.array(maskless, dtype=str),
        masks=np.stack(masks) if masks else np.zeros((0, *size), dtype=bool)))


# ----------------------------------------------------------------------------- loading
def load_coco(annotations: Path) -> COCO:
    """Read and index a COCO annotation file, turning every failure into a CocoBuildError."""
    annotations = Path(annotations)
    if not annotations.is_file():
        raise CocoBuildError(f"annotations file {annotations} does not exist.")
    try:
        with open(annotations, encoding="utf-8") as handle:
            dataset = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CocoBuildError(f"annotations file {annotations} is not valid COCO JSON: {error}") from error
    required = ("images", "annotations", "categories")
    missing = [key for key in required if not isinstance(dataset, dict) or key not in dataset]
    if missing:
        raise CocoBuildError(
            f"annotations file {annotations} is not valid COCO JSON: missing {', '.join(repr(k) for k in missing)}."
        )
    coco = COCO()  # empty; we fill it ourselves so that errors above stay readable
    coco.dataset = dataset
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints "creating index..."
            coco.createIndex()
    except (KeyError, TypeError) as error:
        raise CocoBuildError(
            f"annotations file {annotations} is not valid COCO JSON: bad entry ({error!r})."
        ) from error
    return coco


def resolve_category_ids(coco: COCO, class_names: tuple[str, ...]) -> dict[str, int]:
    """Map each class name to its COCO category id; unknown names raise with close matches."""
    by_name = {category["name"]: category["id"] for category in coco.loadCats(coco.getCatIds())}
    resolved = {}
    for name in class_names:
        if name in by_name:
            resolved[name] = by_name[name]
            continue
        close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
        if close:
            hint = f"did you mean {', '.join(repr(c) for c in close)}?"
        else:
            hint = f"available: {', '.join(sorted(by_name))}."
        raise CocoBuildError(f"COCO category '{name}' is not in the annotations file; {hint}")
    return resolved


# ----------------------------------------------------------------------------- selection
def _candidates_hw4(coco: COCO, category_ids: dict[str, int]) -> dict[str, list[int]]:
    """The homework's order: whatever coco.getImgIds(catIds=[c]) returns, per class."""
    return {name: coco.getImgIds(catIds=[cat_id]) for name, cat_id in category_ids.items()}


def _classes_per_image(coco: COCO, category_ids: dict[str, int]) -> dict[int, set[str]]:
    """image id -> the chosen classes annotated in it."""
    present = defaultdict(set)
    for name, cat_id in category_ids.items():
        for image_id in coco.getImgIds(catIds=[cat_id]):
            present[image_id].add(name)
    return present


def _candidates_single_label(coco: COCO, category_ids: dict[str, int]) -> dict[str, list[int]]:
    """hw4 order, without images that show more than one of the chosen classes."""
    present = _classes_per_image(coco, category_ids)
    return {
        name: [image_id for image_id in image_ids if len(present[image_id]) == 1]
        for name, image_ids in _candidates_hw4(coco, category_ids).items()
    }


def _candidates_dominant(coco: COCO, category_ids: dict[str, int]) -> dict[str, list[int]]:
    """Each image goes to the chosen class with the largest annotated area; ids sorted per class."""
    class_rank = {name: rank for rank, name in enumerate(category_ids)}  # tie-break: earlier class wins
    name_of_category = {cat_id: name for name, cat_id in category_ids.items()}
    per_class: dict[str, list[int]] = {name: [] for name in category_ids}
    for image_id in sorted(_classes_per_image(coco, category_ids)):
        area = defaultdict(float)
        annotation_ids = coco.getAnnIds(imgIds=[image_id], catIds=list(category_ids.values()), iscrowd=None)
        for annotation in coco.loadAnns(annotation_ids):
            area[name_of_category[annotation["category_id"]]] += float(annotation.get("area", 0.0))
        winner = min(area, key=lambda name: (-area[name], class_rank[name]))
        per_class[winner].append(image_id)
    return per_class


SELECTORS = {"hw4": _candidates_hw4, "single-label": _candidates_single_label, "dominant": _candidates_dominant}


def select_images(coco: COCO, category_ids: dict[str, int], config: CocoBuildConfig) -> dict[str, dict[str, list[int]]]:
    """split -> class -> image ids, following config.policy and the per-class counts."""
    candidates = SELECTORS[config.policy](coco, category_ids)
    wanted = config.train_per_class + config.val_per_class
    selection: dict[str, dict[str, list[int]]] = {split: {} for split in SPLITS}
    for name, image_ids in candidates.items():
        if len(image_ids) < wanted and not config.allow_fewer:
            raise CocoBuildError(
                f"class '{name}' has {len(image_ids)} images under policy '{config.policy}', "
                f"{config.train_per_class} train + {config.val_per_class} val requested "
                "(lower the counts or allow fewer)."
            )
        selection["train"][name] = list(image_ids[: config.train_per_class])
        selection["val"][name] = list(image_ids[config.train_per_class : wanted])
    return selection


# ----------------------------------------------------------------------------- image sources
def _safe_file_name(image: dict) -> str:
    """The image's file_name without any folder part (annotation files are untrusted input)."""
    name = PurePosixPath(str(image.get("file_name", "")).replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise CocoBuildError(f"image {image.get('id')} has no usable file_name in the annotations file.")
    return name


def _output_name(file_name: str) -> str:
    """<file_name> with a .jpg extension (COCO file names already end in .jpg)."""
    return file_name if file_name.lower().endswith(".jpg") else f"{Path(file_name).stem}.jpg"


def _image_url(image: dict, file_name: str, base_url: str | None) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{file_name}"
    url = image.get("coco_url")
    if not url:
        raise CocoBuildError(f"image {image['id']} has no coco_url; give image_base_url to download it.")
    return url


def _local_sources(images: dict[int, dict], image_dir: Path) -> dict[int, Path]:
    """image id -> path of the original in image_dir; a missing file raises."""
    sources = {}
    for image_id, image in images.items():
        path = Path(image_dir) / _safe_file_name(image)
        if not path.is_file():
            raise CocoBuildError(f"image {path.name} (id {image_id}) is missing from image folder {image_dir}.")
        sources[image_id] = path
    return sources


def _download_sources(
    images: dict[int, dict], config: CocoBuildConfig, progress: ProgressCallback | None
) -> dict[int, Path]:
    """Download the originals into output_root/_downloads/ in parallel; finished files are reused."""
    download_dir = Path(config.output_root) / DOWNLOADS_DIR
    download_dir.mkdir(parents=True, exist_ok=True)
    jobs = {}  # image id -> (url, destination file)
    for image_id, image in images.items():
        file_name = _safe_file_name(image)
        jobs[image_id] = (_image_url(image, file_name, config.image_base_url), download_dir / file_name)
    per_thread = threading.local()  # one requests.Session per worker thread (sessions are not thread-safe)
    sessions: list[requests.Session] = []
    sessions_lock = threading.Lock()

    def fetch(url: str, dest: Path) -> Path:
        if not hasattr(per_thread, "session"):
            per_thread.session = requests.Session()
            with sessions_lock:
                sessions.append(per_thread.session)
        return download_file(
            url,
            dest,
            retries=config.retries,
            timeout=config.download_timeout,
            backoff=config.download_backoff,
            session=per_thread.session,
        )

    sources: dict[int, Path] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, config.download_workers), thread_name_prefix="coco-download")
    try:
        futures = {executor.submit(fetch, url, dest): image_id for image_id, (url, dest) in jobs.items()}
        for done, future in enumerate(as_completed(futures), start=1):
            image_id = futures[future]
            sources[image_id] = future.result()  # re-raises the first CocoBuildError
            if progress is not None:
                progress(done, len(jobs), f"downloaded {sources[image_id].name}")
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        for session in sessions:
            session.close()
    return sources


# ----------------------------------------------------------------------------- writing
def _write_small_jpeg(source: Path, dest: Path, image_size: int, quality: int) -> None:
    """Open `source`, convert to RGB, squash to image_size x image_size, save as JPEG."""
    try:
        with Image.open(source) as original:
            small = original.convert("RGB").resize((image_size, image_size), Image.Resampling.BICUBIC)
    except (UnidentifiedImageError, OSError) as error:
        raise CocoBuildError(f"image file {source} could not be read: {error}") from error
    small.save(dest, format="JPEG", quality=quality)


def _prepare_output_root(output_root: Path) -> Path:
    """Check we may replace output_root/{train,val}; return a fresh staging folder."""
    output_root.mkdir(parents=True, exist_ok=True)
    ours = (output_root / MANIFEST_NAME).is_file()
    for split in SPLITS:
        if (output_root / split).exists() and not ours:
            raise CocoBuildError(
                f"output folder {output_root} already has a {split}/ folder that this builder did not make; "
                "choose an empty output folder."
            )
    staging = output_root / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _write_manifest(path: Path, manifest: dict) -> None:
    """Write JSON atomically with stable key order (same build -> same bytes)."""
    write_text_atomically(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _validate(config: CocoBuildConfig) -> None:
    if config.policy not in POLICIES:
        raise CocoBuildError(f"unknown selection policy '{config.policy}'; choose one of {', '.join(POLICIES)}.")
    if not config.classes or len(set(config.classes)) != len(config.classes):
        raise CocoBuildError("classes must name at least one COCO category, each only once.")
    if config.train_per_class < 0 or config.val_per_class < 0:
        raise CocoBuildError("train_per_class and val_per_class must not be negative.")
    if config.image_size < 1:
        raise CocoBuildError(f"image_size must be a positive number of pixels, got {config.image_size}.")
    if not config.download and config.image_dir is None:
        raise CocoBuildError("give image_dir (a folder with the COCO images) or set download=True.")
    if not config.download and not Path(config.image_dir).is_dir():
        raise CocoBuildError(f"image folder {config.image_dir} does not exist.")


def build_from_coco(config: CocoBuildConfig, progress: ProgressCallback | None = None) -> dict:
    """Select, fetch, resize and write the dataset; return the manifest (also saved as manifest.json).

    progress(done, total, message) is called once per downloaded image and once per
    written image (tqdm: ``bar.total = total; bar.n = done; bar.refresh()``).
    """
    _validate(config)
    output_root = Path(config.output_root)
    coco = load_coco(Path(config.annotations))
    category_ids = resolve_category_ids(coco, tuple(config.classes))
    selection = select_images(coco, category_ids, config)

    needed_ids = sorted({image_id for split in SPLITS for ids in selection[split].values() for image_id in ids})
    images = {image_id: coco.imgs[image_id] for image_id in needed_ids}
    if config.download:
        sources = _download_sources(images, config, progress)
    else:
        sources = _local_sources(images, Path(config.image_dir))

    staging = _prepare_output_root(output_root)
    written_total = sum(len(ids) for split in SPLITS for ids in selection[split].values())
    written = 0
    files: dict[str, dict[str, list[str]]] = {split: {} for split in SPLITS}
    for split in SPLITS:
        for name in config.classes:
            class_dir = staging / split / name
            class_dir.mkdir(parents=True)
            files[split][name] = []
            for image_id in selection[split][name]:
                file_name = _output_name(_safe_file_name(images[image_id]))
                _write_small_jpeg(sources[image_id], class_dir / file_name, config.image_size, config.jpeg_quality)
                files[split][name].append(file_name)
                written += 1
                if progress is not None:
                    progress(written, written_total, f"wrote {split}/{name}/{file_name}")

    for split in SPLITS:  # swap the finished folders in
        shutil.rmtree(output_root / split, ignore_errors=True)
        os.replace(staging / split, output_root / split)
    staging.rmdir()

    mask_counts = {}
    for split in SPLITS:  # each image's mask of its own class (an image in two class folders gets one per folder)
        mask_path = output_root / f"masks_{split}.npz"
        if not config.masks:
            mask_path.unlink(missing_ok=True)  # an older build's masks would describe other pictures
            continue
        names, masks, maskless = [], [], []
        for name in config.classes:
            for image_id, file_name in zip(selection[split][name], files[split][name]):
                mask = class_mask(coco, image_id, category_ids[name], config.image_size)
                if mask is None:
                    maskless.append(f"{name}/{file_name}")
                else:
                    names.append(f"{name}/{file_name}")
                    masks.append(mask)
        write_masks(mask_path, names, masks, maskless)
        mask_counts[split] = {"with_mask": len(names), "without_mask": len(maskless)}

    classes_of_image = defaultdict(set)
    splits_of_image = defaultdict(set)
    for split in SPLITS:
        for name, ids in selection[split].items():
            for image_id in ids:
                classes_of_image[image_id].add(name)
                splits_of_image[image_id].add(split)

    manifest = {
        "format_version": MANIFEST_FORMAT,
        "created_by": f"vitcore {__version__} coco_builder",
        "source_annotations": Path(config.annotations).name,
        "policy": config.policy,
        "classes": list(config.classes),
        "category_ids": category_ids,
        "image_size": config.image_size,
        "jpeg_quality": config.jpeg_quality,
        "requested": {
            "train_per_class": config.train_per_class,
            "val_per_class": config.val_per_class,
            "allow_fewer": config.allow_fewer,
        },
        "counts": {split: {name: len(ids) for name, ids in selection[split].items()} for split in SPLITS},
        "totals": {split: sum(len(ids) for ids in selection[split].values()) for split in SPLITS},
        "image_ids": selection,
        "files": files,
        "images_in_several_classes": sum(1 for names in classes_of_image.values() if len(names) > 1),
        "images_in_both_splits": sum(1 for splits in splits_of_image.values() if len(splits) > 1),
        "masks": mask_counts if config.masks else None,
    }
    _write_manifest(output_root / MANIFEST_NAME, manifest)
    return manifest


def expected_counts(available: int, train_per_class: int, val_per_class: int) -> tuple[int, int]:
    """(train, val) images a class with `available` candidates gets under allow_fewer."""
    train = min(available, train_per_class)
    return train, min(available - train, val_per_class)
