"""build_from_coco on the real coco-tiny data: layout, counts, policies, determinism, downloads, errors."""

import json
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO

from http_fixtures import LoopbackFileServer
from vitcore.data.coco_builder import POLICIES, CocoBuildConfig, build_from_coco, expected_counts
from vitcore.errors import CocoBuildError

CLASSES = ("airplane", "bus", "cat", "dog", "pizza")
VAL_IMAGES_PER_CLASS = {"airplane": 1, "bus": 4, "cat": 5, "dog": 2, "pizza": 5}  # coco-tiny val2017 (SOURCE.txt)
TRAIN_PER_CLASS, VAL_PER_CLASS = 3, 2  # small enough that some classes are short, some are cut


def _config(coco_tiny_root: Path, output_root: Path, **overrides) -> CocoBuildConfig:
    settings = dict(
        annotations=coco_tiny_root / "annotations" / "instances_val2017.json",
        output_root=output_root,
        image_dir=coco_tiny_root / "val2017",
        train_per_class=TRAIN_PER_CLASS,
        val_per_class=VAL_PER_CLASS,
        allow_fewer=True,
    )
    settings.update(overrides)
    return CocoBuildConfig(**settings)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    """relative path -> bytes of every file under root/train and root/val, plus the manifest."""
    files = {
        str(path.relative_to(root)): path.read_bytes()
        for split in ("train", "val")
        for path in (root / split).rglob("*")
        if path.is_file()
    }
    files["manifest.json"] = (root / "manifest.json").read_bytes()
    return files


def _edited_annotations(coco_tiny_root: Path, tmp_path: Path, edit) -> Path:
    """Copy the val annotations into tmp_path after `edit(dataset)` changed them."""
    dataset = json.loads((coco_tiny_root / "annotations" / "instances_val2017.json").read_text())
    edit(dataset)
    path = tmp_path / "instances_edited.json"
    path.write_text(json.dumps(dataset))
    return path


@pytest.fixture
def local_build(coco_tiny_root, tmp_path):
    """The reference build from local images (hw4 policy)."""
    output = tmp_path / "local"
    manifest = build_from_coco(_config(coco_tiny_root, output))
    return output, manifest


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_writes_the_homework_layout_with_the_known_counts(coco_tiny_root, tmp_path, policy):
    output = tmp_path / policy
    manifest = build_from_coco(_config(coco_tiny_root, output, policy=policy))
    coco = COCO(str(coco_tiny_root / "annotations" / "instances_val2017.json"))
    category_of = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}

    for name, available in VAL_IMAGES_PER_CLASS.items():
        train_count, val_count = expected_counts(available, TRAIN_PER_CLASS, VAL_PER_CLASS)
        assert manifest["counts"]["train"][name] == train_count
        assert manifest["counts"]["val"][name] == val_count
        assert not set(manifest["image_ids"]["train"][name]) & set(manifest["image_ids"]["val"][name])
        for split in ("train", "val"):
            on_disk = sorted(p.name for p in (output / split / name).iterdir())
            assert on_disk == sorted(manifest["files"][split][name])
            for image_id, file_name in zip(manifest["image_ids"][split][name], manifest["files"][split][name]):
                assert coco.imgs[image_id]["file_name"] == file_name
                assert coco.getAnnIds(imgIds=[image_id], catIds=[category_of[name]])  # really shows the class
                with Image.open(output / split / name / file_name) as small:
                    assert (small.format, small.mode, small.size) == ("JPEG", "RGB", (64, 64))

    saved = json.loads((output / "manifest.json").read_text())
    assert saved == json.loads(json.dumps(manifest))
    assert saved["policy"] == policy and saved["classes"] == list(CLASSES)
    assert saved["source_annotations"] == "instances_val2017.json"
    assert saved["image_size"] == 64 and saved["created_by"].startswith("vitcore ")
    assert saved["totals"] == {"train": 12, "val": 5}
    assert not (output / "_downloads").exists() and not (output / ".building").exists()


def test_hw4_policy_slices_pycocotools_order(coco_tiny_root, local_build):
    _, manifest = local_build
    coco = COCO(str(coco_tiny_root / "annotations" / "instances_val2017.json"))
    for name in CLASSES:
        ordered = coco.getImgIds(catIds=coco.getCatIds(catNms=[name]))
        assert manifest["image_ids"]["train"][name] == ordered[:TRAIN_PER_CLASS]
        assert manifest["image_ids"]["val"][name] == ordered[TRAIN_PER_CLASS : TRAIN_PER_CLASS + VAL_PER_CLASS]


def test_building_twice_gives_byte_identical_output(coco_tiny_root, tmp_path, local_build):
    first_root, _ = local_build
    second_root = tmp_path / "again"
    build_from_coco(_config(coco_tiny_root, second_root))
    assert _tree_bytes(first_root) == _tree_bytes(second_root)
    # Rebuilding into the same folder with other settings replaces the old splits entirely.
    build_from_coco(_config(coco_tiny_root, second_root, train_per_class=1, val_per_class=1, image_size=32))
    assert sum(1 for _ in (second_root / "train").rglob("*.jpg")) == 5
    with Image.open(next((second_root / "val" / "cat").iterdir())) as small:
        assert small.size == (32, 32)


def test_policies_differ_on_an_image_with_two_classes(coco_tiny_root, tmp_path):
    """Add a large dog to one cat image: hw4 keeps it twice, single-label drops it, dominant says dog."""
    coco = COCO(str(coco_tiny_root / "annotations" / "instances_val2017.json"))
    cat_id, dog_id = coco.getCatIds(catNms=["cat"])[0], coco.getCatIds(catNms=["dog"])[0]
    shared_image = sorted(coco.getImgIds(catIds=[cat_id]))[0]

    def add_big_dog(dataset):
        dataset["annotations"].append(
            {"id": 999_999_999, "image_id": shared_image, "category_id": dog_id, "area": 10_000_000.0,
             "bbox": [0, 0, 10, 10], "iscrowd": 0, "segmentation": [[0, 0, 10, 0, 10, 10]]}
        )

    annotations = _edited_annotations(coco_tiny_root, tmp_path, add_big_dog)
    big = dict(train_per_class=10, val_per_class=0)  # take everything into train
    results = {
        policy: build_from_coco(
            _config(coco_tiny_root, tmp_path / policy, annotations=annotations, policy=policy, **big)
        )
        for policy in POLICIES
    }
    hw4, single, dominant = (results[p]["image_ids"]["train"] for p in ("hw4", "single-label", "dominant"))
    assert shared_image in hw4["cat"] and shared_image in hw4["dog"]
    assert results["hw4"]["images_in_several_classes"] == 1
    assert shared_image not in single["cat"] and shared_image not in single["dog"]
    assert shared_image in dominant["dog"] and shared_image not in dominant["cat"]
    assert dominant["dog"] == sorted(dominant["dog"])
    assert len(hw4["dog"]) == 3 and len(single["dog"]) == 2 and len(dominant["cat"]) == 4


def test_download_build_survives_500_and_cut_connection_and_equals_local_build(coco_tiny_root, tmp_path, local_build):
    local_root, _ = local_build
    manifest = json.loads((local_root / "manifest.json").read_text())
    flaky_500 = manifest["files"]["train"]["bus"][0]
    cut_once = manifest["files"]["train"]["pizza"][0]
    seen_progress = []
    with LoopbackFileServer(coco_tiny_root / "val2017") as server:
        server.fail_with_500(flaky_500, times=2)
        server.cut_off_midway(cut_once, times=1)
        config = _config(
            coco_tiny_root, tmp_path / "downloaded", image_dir=None, download=True,
            image_base_url=server.base_url + "/", download_backoff=0.01, download_workers=3,
        )
        build_from_coco(config, progress=lambda done, total, message: seen_progress.append((done, total)))
        assert [seen.status for seen in server.requests_for(flaky_500)] == [500, 500, 200]
        cut_requests = server.requests_for(cut_once)
        assert len(cut_requests) == 2 and cut_requests[1].range_header.startswith("bytes=")
        assert cut_requests[1].status == 206

        assert _tree_bytes(tmp_path / "downloaded") == _tree_bytes(local_root)
        assert len(list((tmp_path / "downloaded" / "_downloads").glob("*.part"))) == 0
        assert (17, 17) in seen_progress  # 17 distinct images downloaded, 17 files written

        requests_before = len(server.requests)
        build_from_coco(config)  # finished downloads are reused: no new request
        assert len(server.requests) == requests_before


def test_permanent_404_is_a_clear_error(coco_tiny_root, tmp_path):
    def break_one_file_name(dataset):
        bus = next(c["id"] for c in dataset["categories"] if c["name"] == "bus")
        image_id = next(a["image_id"] for a in dataset["annotations"] if a["category_id"] == bus)
        next(i for i in dataset["images"] if i["id"] == image_id)["file_name"] = "gone-missing.jpg"

    annotations = _edited_annotations(coco_tiny_root, tmp_path, break_one_file_name)
    with LoopbackFileServer(coco_tiny_root / "val2017") as server:
        config = _config(coco_tiny_root, tmp_path / "out", annotations=annotations, image_dir=None,
                         download=True, image_base_url=server.base_url, download_backoff=0.01)
        with pytest.raises(CocoBuildError, match=r"gone-missing\.jpg: HTTP 404"):
            build_from_coco(config)
        assert [seen.status for seen in server.requests_for("gone-missing.jpg")] == [404]


def test_unknown_class_names_close_matches(coco_tiny_root, tmp_path):
    with pytest.raises(CocoBuildError, match=r"category 'catt' .*did you mean 'cat'"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", classes=("airplane", "catt")))
    with pytest.raises(CocoBuildError, match=r"category 'spaceship' .*available: .*airplane.*zebra"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", classes=("spaceship",)))


def test_malformed_json_and_missing_file_are_clear_errors(coco_tiny_root, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [ {"id": 1, ')
    with pytest.raises(CocoBuildError, match=r"broken\.json is not valid COCO JSON"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", annotations=broken))
    not_coco = tmp_path / "list.json"
    not_coco.write_text("[1, 2, 3]")
    with pytest.raises(CocoBuildError, match=r"list\.json is not valid COCO JSON: missing 'images'"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", annotations=not_coco))
    with pytest.raises(CocoBuildError, match=r"nowhere\.json does not exist"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", annotations=tmp_path / "nowhere.json"))


def test_too_few_images_names_the_class_and_numbers(coco_tiny_root, tmp_path):
    with pytest.raises(CocoBuildError, match=r"class 'airplane' has 1 images .*1500 train \+ 500 val requested"):
        build_from_coco(
            _config(coco_tiny_root, tmp_path / "out", train_per_class=1500, val_per_class=500, allow_fewer=False)
        )
    assert not (tmp_path / "out" / "train").exists()


def test_other_bad_settings_are_refused(coco_tiny_root, tmp_path):
    with pytest.raises(CocoBuildError, match=r"unknown selection policy 'random'"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", policy="random"))
    with pytest.raises(CocoBuildError, match=r"give image_dir .* or set download=True"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", image_dir=None))
    with pytest.raises(CocoBuildError, match=r"is missing from image folder"):
        build_from_coco(_config(coco_tiny_root, tmp_path / "out", image_dir=coco_tiny_root / "train2017"))
    foreign = tmp_path / "someone-elses"
    (foreign / "train" / "cat").mkdir(parents=True)
    with pytest.raises(CocoBuildError, match=r"already has a train/ folder"):
        build_from_coco(_config(coco_tiny_root, foreign))
    assert (foreign / "train" / "cat").is_dir()


def test_masks_are_each_images_own_class_union_checked_against_pycocotools(coco_tiny_root, tmp_path, local_build):
    import numpy as np

    from vitcore.data.folder import load_folder_dataset
    from vitcore.data.report import build_report

    output, manifest = local_build
    coco = COCO(str(coco_tiny_root / "annotations" / "instances_val2017.json"))
    category_ids = manifest["category_ids"]
    checked = 0
    for split in ("train", "val"):
        with np.load(output / f"masks_{split}.npz") as stored:
            names, masks, maskless = list(stored["names"]), stored["masks"], list(stored["maskless"])
        assert masks.dtype == bool and masks.shape == (len(names), 64, 64)
        written = {f"{name}/{file}" for name, files in manifest["files"][split].items() for file in files}
        assert set(names) | set(maskless) == written and not set(names) & set(maskless)
        assert manifest["masks"][split] == {"with_mask": len(names), "without_mask": len(maskless)}
        for class_name, image_id, file_name in (
            (name, image_id, file) for name in CLASSES
            for image_id, file in zip(manifest["image_ids"][split][name], manifest["files"][split][name])
        ):
            key = f"{class_name}/{file_name}"
            annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=[category_ids[class_name]], iscrowd=None))
            if key in maskless:
                assert not any(annotation.get("segmentation") for annotation in annotations)
                continue
            union = np.zeros((coco.imgs[image_id]["height"], coco.imgs[image_id]["width"]), dtype=bool)
            for annotation in annotations:
                union |= coco.annToMask(annotation).astype(bool)  # pycocotools directly, at the original size
            expected = np.asarray(Image.fromarray(union.astype(np.uint8) * 255).resize((64, 64), Image.Resampling.NEAREST)) > 127
            np.testing.assert_array_equal(masks[names.index(key)], expected)
            assert 0 < expected.mean() < 1
            checked += 1
    assert checked >= 10

    data = load_folder_dataset(output, cache_dir=tmp_path / "cache")
    for split_name, split in (("train", data.train), ("val", data.val)):
        known = split.mask_known()
        assert int(known.sum()) == manifest["masks"][split_name]["with_mask"]
        assert not split.masks[~known].any()  # a maskless picture has no mask at all, not a wrong one
    report = build_report(output)
    assert report.masks == manifest["masks"]
    assert any("images with an object mask" in line for line in report.summary_lines())


def test_no_masks_writes_none_and_removes_an_older_builds(coco_tiny_root, tmp_path, local_build):
    from vitcore.data.folder import load_folder_dataset
    from vitcore.data.report import build_report

    output, _ = local_build
    assert (output / "masks_val.npz").is_file()
    manifest = build_from_coco(_config(coco_tiny_root, output, masks=False))
    assert manifest["masks"] is None and not list(output.glob("masks_*.npz"))
    assert load_folder_dataset(output, cache_dir=tmp_path / "cache").val.masks is None
    assert build_report(output).masks is None
