"""build_report on a hand-made folder with known problems, and on the real coco5-64."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitcore.data.report import build_report
from vitcore.errors import DataLayoutError


def _colour_jpeg(path: Path, colour=(200, 40, 40)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    pixels = np.clip(np.array(colour) + rng.integers(-20, 21, (16, 16, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95)


@pytest.fixture
def messy_root(tmp_path) -> Path:
    """Three classes; each problem planted exactly once (or twice where noted)."""
    root = tmp_path / "messy"
    for split, count in (("train", 3), ("val", 2)):
        for class_name in ("bus", "cat", "dog"):
            for index in range(count):
                _colour_jpeg(root / split / class_name / f"{split}_{class_name}_{index}.jpg")
    # greyscale: an L-mode JPEG and an LA-mode PNG
    Image.new("L", (16, 16), 90).save(root / "train" / "cat" / "grey_l.jpg")
    Image.new("LA", (16, 16), (90, 255)).save(root / "val" / "dog" / "grey_la.png")
    # colour-encoded but colourless RGB (only visible when pixels are checked)
    Image.new("RGB", (16, 16), (77, 77, 77)).save(root / "train" / "bus" / "flat_grey_rgb.png")
    # multi-label inside one split
    _colour_jpeg(root / "train" / "cat" / "cat_and_dog.jpg")
    _colour_jpeg(root / "train" / "dog" / "cat_and_dog.jpg")
    # leaked with a different class in each split (so also multi-label)
    _colour_jpeg(root / "train" / "bus" / "leak_diff.jpg")
    _colour_jpeg(root / "val" / "cat" / "leak_diff.jpg")
    # leaked with the same class in both splits (leak, but not multi-label)
    _colour_jpeg(root / "train" / "dog" / "leak_same.jpg")
    _colour_jpeg(root / "val" / "dog" / "leak_same.jpg")
    # unreadable: text with an image name, and a truncated JPEG
    (root / "val" / "bus" / "text.jpg").write_text("hello")
    # (a 64x64 noise JPEG cut at 70%: the header survives, the pixel data does not)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "train" / "bus" / "cut.jpg", quality=95)
    good = (root / "train" / "bus" / "cut.jpg").read_bytes()
    (root / "train" / "bus" / "cut.jpg").write_bytes(good[: len(good) * 7 // 10])
    return root


def test_report_finds_every_planted_problem(messy_root):
    report = build_report(messy_root)
    assert report.class_names == ["bus", "cat", "dog"]
    assert report.counts["train"] == {"bus": 6, "cat": 5, "dog": 5}
    assert report.counts["val"] == {"bus": 3, "cat": 3, "dog": 4}
    assert report.total_images() == 26
    assert sorted(report.greyscale_files) == ["train/cat/grey_l.jpg", "val/dog/grey_la.png"]
    assert report.multi_label_names() == {"cat_and_dog.jpg", "leak_diff.jpg"}
    by_name = {entry.name: entry for entry in report.multi_label}
    assert by_name["cat_and_dog.jpg"].classes == ["cat", "dog"] and by_name["cat_and_dog.jpg"].same_split
    assert by_name["leak_diff.jpg"].folders == ["train/bus", "val/cat"] and not by_name["leak_diff.jpg"].same_split
    assert report.leaked_names() == {"leak_diff.jpg", "leak_same.jpg"}
    leak_same = next(entry for entry in report.leaked if entry.name == "leak_same.jpg")
    assert leak_same.train_classes == ["dog"] and leak_same.val_classes == ["dog"]
    # header-only mode: the text file is caught, the truncated JPEG needs pixels
    assert [path for path, _ in report.unreadable_files] == ["val/bus/text.jpg"]
    assert report.colourless_rgb_files == [] and not report.pixels_checked


def test_pixel_check_finds_truncated_and_colourless_files(messy_root):
    report = build_report(messy_root, check_pixels=True)
    unreadable = dict(report.unreadable_files)
    assert sorted(unreadable) == ["train/bus/cut.jpg", "val/bus/text.jpg"]
    assert "truncated" in unreadable["train/bus/cut.jpg"]
    assert report.colourless_rgb_files == ["train/bus/flat_grey_rgb.png"]
    assert sorted(report.greyscale_files) == ["train/cat/grey_l.jpg", "val/dog/grey_la.png"]


def test_names_to_drop_combinations(messy_root):
    report = build_report(messy_root)
    assert report.names_to_drop(False, False) == set()
    assert report.names_to_drop(True, False) == {"cat_and_dog.jpg", "leak_diff.jpg"}
    assert report.names_to_drop(False, True) == {"leak_diff.jpg", "leak_same.jpg"}
    assert report.names_to_drop(True, True) == {"cat_and_dog.jpg", "leak_diff.jpg", "leak_same.jpg"}


def test_to_dict_is_json_safe_and_summary_is_readable(messy_root):
    report = build_report(messy_root)
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["totals"] == {
        "images": 26, "greyscale": 2, "colourless_rgb": 0, "multi_label_names": 2, "leaked_names": 2, "unreadable": 1,
    }
    assert as_dict["unreadable_files"][0]["path"] == "val/bus/text.jpg"
    assert as_dict["multi_label"][0]["name"] == "cat_and_dog.jpg"
    text = "\n".join(report.summary_lines())
    assert "26 images in 3 classes" in text
    assert "2 greyscale files" in text and "2 file names appear in both train and val" in text
    assert "1 within one split, 1 across train and val" in text


def test_report_rejects_bad_layout(tmp_path):
    with pytest.raises(DataLayoutError, match="does not exist"):
        build_report(tmp_path / "nothing")


@pytest.mark.real_data
def test_real_coco5_report_numbers(coco5_root):
    report = build_report(coco5_root)
    assert report.total_images() == 10_000
    assert len(report.greyscale_files) == 33
    assert len(report.multi_label_names()) == 181
    assert len(report.leaked_names()) == 18
    assert sum(entry.same_split for entry in report.multi_label) == 163
    assert report.leaked_names() <= report.multi_label_names()  # every leaked coco5 photo also changes class
    assert report.unreadable_files == []
    assert len(report.names_to_drop(True, True)) == 181
