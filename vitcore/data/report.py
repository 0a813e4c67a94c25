"""Dataset hygiene report: what is in an image folder before anyone trains on it.

`build_report(root)` reads the folder directly (no tensor cache) and lists:
- counts per split and class;
- greyscale files;
- multi-label names: the same file name under 2+ DIFFERENT class folders
  (e.g. a COCO photo showing both a cat and a dog) - the labels contradict.
  Both splits are looked at together: a photo filed as train/cat and val/dog
  is just as multi-label as one filed as train/cat and train/dog;
- leaked names: the same file name in both train/ and val/ - validation
  accuracy would be inflated by images the model trained on;
- unreadable files (not an image, truncated, animated, too large...).

Definition of "greyscale" used here: the file STORES a single luminance
channel (PIL mode 1, L, LA, I, I;16, F, i.e. a greyscale JPEG/PNG). On the real
coco5-64 folder this gives exactly 33 files. Counting RGB files whose three
channels happen to be identical would add 227 more there (colour-encoded
black-and-white photos); those are listed separately as
`colourless_rgb_files` because they need every pixel to be inspected.

Real numbers for coco5-64 (asserted by tests/test_report.py): 33 greyscale
files, 181 multi-label names (163 with both folders in the same split, 18 with
one folder in train/ and the other in val/), and 18 leaked names (exactly those
18: each leaked photo also carries a different class in each split).

Speed: each file is opened with PIL (header only: mode and frame count); with
`check_pixels=True` (off by default: ~3x slower) the pixels are also decoded, which is what
catches truncated files and colourless RGB files.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vitcore.data.folder import SPLIT_NAMES, scan_folder
from vitcore.data.images import decode_image
from vitcore.errors import ImageInputError

# PIL modes that store one luminance channel (optionally with alpha).
GREYSCALE_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


@dataclass
class MultiLabelName:
    """One file name found under two or more different class folders."""

    name: str  # bare file name, e.g. "COCO_train2014_000000000443.jpg"
    classes: list[str]  # the distinct classes it is filed under (sorted, 2 or more)
    folders: list[str]  # every folder holding it, "split/class" (sorted), e.g. ["train/cat", "train/dog"]
    same_split: bool  # True when all those folders are in one split (False: it is also leaked)


@dataclass
class LeakedName:
    """One file name found in both train/ and val/."""

    name: str  # bare file name
    train_classes: list[str]  # class folders holding it in train/
    val_classes: list[str]  # class folders holding it in val/


@dataclass
class DataReport:
    """Findings of `build_report`; every path is "split/class/file" relative to `root`."""

    root: str  # the dataset folder that was inspected
    class_names: list[str]  # sorted class folder names
    counts: dict[str, dict[str, int]]  # split -> class -> number of image files
    greyscale_files: list[str] = field(default_factory=list)  # files stored with one luminance channel
    colourless_rgb_files: list[str] = field(default_factory=list)  # RGB files whose 3 channels are equal (check_pixels only)
    multi_label: list[MultiLabelName] = field(default_factory=list)  # names filed under 2+ different classes
    leaked: list[LeakedName] = field(default_factory=list)  # names present in both train/ and val/
    unreadable_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) for files that fail to decode
    pixels_checked: bool = True  # whether pixels were decoded (truncation and colourless RGB detection)
    masks: dict[str, dict[str, int]] | None = None  # split -> {"with_mask", "without_mask"} images; None: no masks_<split>.npz

    def total_images(self) -> int:
        """Number of image files in both splits."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    def multi_label_names(self) -> set[str]:
        """Bare file names filed under 2+ different classes (in any split)."""
        return {entry.name for entry in self.multi_label}

    def leaked_names(self) -> set[str]:
        """Bare file names present in both splits."""
        return {entry.name for entry in self.leaked}

    def names_to_drop(self, drop_multilabel: bool, drop_leaked: bool) -> set[str]:
        """Bare file names to pass as `exclude_names` to `load_folder_dataset` (dropped from both splits)."""
        names: set[str] = set()
        if drop_multilabel:
            names |= self.multi_label_names()
        if drop_leaked:
            names |= self.leaked_names()
        return names

    def to_dict(self) -> dict:
        """JSON-safe dict (only str, int, bool, list and dict)."""
        result = asdict(self)
        result["unreadable_files"] = [{"path": path, "reason": reason} for path, reason in self.unreadable_files]
        result["totals"] = {
            "images": self.total_images(),
            "greyscale": len(self.greyscale_files),
            "colourless_rgb": len(self.colourless_rgb_files),
            "multi_label_names": len(self.multi_label_names()),
            "leaked_names": len(self.leaked_names()),
            "unreadable": len(self.unreadable_files),
        }
        return result

    def summary_lines(self) -> list[str]:
        """Short human-readable findings, one per line."""
        lines = [f"{self.total_images()} images in {len(self.class_names)} classes ({', '.join(self.class_names)})."]
        for split, per_class in self.counts.items():
            per_class_text = ", ".join(f"{name} {count}" for name, count in per_class.items())
            lines.append(f"{split}: {sum(per_class.values())} images ({per_class_text}).")
        lines.append(f"{len(self.greyscale_files)} greyscale files (stored with a single channel); they are converted to RGB.")
        if self.pixels_checked:
            lines.append(f"{len(self.colourless_rgb_files)} more RGB files have no colour (all three channels equal).")
        within_one_split = sum(entry.same_split for entry in self.multi_label)
        lines.append(
            f"{len(self.multi_label_names())} file names sit in two or more class folders (contradicting labels): "
            f"{within_one_split} within one split, {len(self.multi_label) - within_one_split} across train and val."
        )
        lines.append(f"{len(self.leaked_names())} file names appear in both train and val (leakage inflates val accuracy).")
        lines.append(f"{len(self.unreadable_files)} files cannot be decoded and will be skipped.")
        if self.masks is None:
            lines.append("No object masks (masks_<split>.npz): the localization scores cannot be computed on this folder.")
        else:
            for split, counted in self.masks.items():
                lines.append(f"{split}: {counted['with_mask']} images with an object mask, {counted['without_mask']} without.")
        return lines


def _inspect_file(path: Path, check_pixels: bool) -> tuple[str, str | None]:
    """Classify one file: ("grey" | "colourless" | "colour", None) or ("unreadable", reason)."""
    try:
        with Image.open(path) as img:
            mode = img.mode
            if getattr(img, "n_frames", 1) > 1:
                return "unreadable", "animated images are not supported"
    except Exception as error:  # PIL raises many types for damaged headers
        return "unreadable", f"not a readable image ({type(error).__name__}: {error})"
    if check_pixels:
        try:
            rgb = decode_image(path)
        except ImageInputError as error:
            return "unreadable", str(error)
        if mode in GREYSCALE_MODES:
            return "grey", None
        pixels = np.asarray(rgb)  # (H, W, 3) uint8
        if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
            return "colourless", None
        return "colour", None
    return ("grey" if mode in GREYSCALE_MODES else "colour"), None


def count_masks(index) -> dict[str, dict[str, int]] | None:
    """Per split, how many of its image files masks_<split>.npz gives a mask; None when neither split has the file."""
    import numpy as np

    counted = {}
    for split in SPLIT_NAMES:
        try:
            with np.load(index.root / f"masks_{split}.npz", allow_pickle=False) as stored:
                named = {str(name) for name in stored["names"]}
        except (OSError, KeyError, ValueError):
            continue
        with_mask = sum(relative_name in named for relative_name, _ in index.splits[split])
        counted[split] = {"with_mask": with_mask, "without_mask": len(index.splits[split]) - with_mask}
    return counted or None


def build_report(root: str | Path, check_pixels: bool = False) -> DataReport:
    """Inspect ROOT/{train,val}/<class>/<image>; raises DataLayoutError for a bad layout."""
    index = scan_folder(root)
    counts: dict[str, dict[str, int]] = {}
    greyscale, colourless, unreadable = [], [], []
    # split -> bare file name -> class folders holding it
    classes_by_name: dict[str, dict[str, list[str]]] = {split: defaultdict(list) for split in SPLIT_NAMES}

    for split in SPLIT_NAMES:
        per_class = {class_name: 0 for class_name in index.class_names}
        for relative_name, label in index.splits[split]:
            class_name = index.class_names[label]
            per_class[class_name] += 1
            bare_name = relative_name.rsplit("/", 1)[-1]
            classes_by_name[split][bare_name].append(class_name)
            path_text = f"{split}/{relative_name}"
            kind, reason = _inspect_file(index.root / split / relative_name, check_pixels)
            if kind == "grey":
                greyscale.append(path_text)
            elif kind == "colourless":
                colourless.append(path_text)
            elif kind == "unreadable":
                unreadable.append((path_text, reason or "unreadable"))
        counts[split] = per_class

    all_names = sorted(set(classes_by_name["train"]) | set(classes_by_name["val"]))
    multi_label = []
    for name in all_names:
        folders = sorted(f"{split}/{class_name}" for split in SPLIT_NAMES for class_name in classes_by_name[split].get(name, []))
        distinct_classes = sorted({folder.split("/", 1)[1] for folder in folders})
        if len(distinct_classes) >= 2:
            splits_used = {folder.split("/", 1)[0] for folder in folders}
            multi_label.append(
                MultiLabelName(name=name, classes=distinct_classes, folders=folders, same_split=len(splits_used) == 1)
            )
    train_names, val_names = classes_by_name["train"], classes_by_name["val"]
    leaked = [
        LeakedName(name=name, train_classes=sorted(train_names[name]), val_classes=sorted(val_names[name]))
        for name in sorted(set(train_names) & set(val_names))
    ]
    return DataReport(
        masks=count_masks(index),
        root=str(index.root),
        class_names=list(index.class_names),
        counts=counts,
        greyscale_files=greyscale,
        colourless_rgb_files=colourless,
        multi_label=multi_label,
        leaked=leaked,
        unreadable_files=unreadable,
        pixels_checked=check_pixels,
    )
