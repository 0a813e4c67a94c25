"""The command line: real files in, one clear line and a non-zero exit on bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vitcore.cli import main
from vitcore.presets import get_preset

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def tiny_synth_folder(tmp_path_factory) -> Path:
    """A 5-class folder dataset rendered by `data synth` (8 train + 4 val per class)."""
    out = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "--out", str(out), "--train-per-class", "8", "--val-per-class", "4", "--seed", "3"]) == 0
    return out


def test_module_entry_point_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "vitcore", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for command in ("data", "train", "eval", "predict"):
        assert command in result.stdout


def test_train_help_names_every_preset(capsys):
    from vitcore.presets import PRESET_NAMES

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    for kind, names in PRESET_NAMES.items():
        assert f"{kind}: {'|'.join(names)}" in text


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["data", "report", "/no/such/folder"], "path does not exist: /no/such/folder"),
        (["train", "--model", "transformer"], "invalid choice"),
        (["train", "--epochs", "zero"], "expected a whole number"),
        (["train", "--epochs", "-1"], "expected a number above 0"),
        (["train", "--demo-pace", "20"], "between 0 and 10"),
        (["train", "--cutmix", "-1"], "expected a number >= 0"),
        (["train", "--mixup", "lots"], "expected a number"),
        (["train", "--data", "/no/such/folder"], "path does not exist"),
        (["predict", "some-run", "/no/such/image.jpg"], "path does not exist"),
        (["eval", "no-such-run"], "no-such-run"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_clear_line(capsys, tmp_path, argv, expected):
    code, out, err = run_cli(capsys, *argv, *(["--runs-dir", str(tmp_path)] if argv[0] in ("eval",) else []))
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in err


def test_data_report_on_synth_folder(capsys, tiny_synth_folder):
    code, out, _ = run_cli(capsys, "data", "report", str(tiny_synth_folder), "--json")
    assert code == 0
    report = json.loads(out)
    text = json.dumps(report)
    for class_name in ("airplane", "bus", "cat", "dog", "pizza"):
        assert class_name in text


def test_data_report_rejects_wrong_layout(capsys, tmp_path):
    (tmp_path / "just-a-folder").mkdir()
    code, _, err = run_cli(capsys, "data", "report", str(tmp_path / "just-a-folder"))
    assert code == 2
    assert "train" in err


def test_build_coco_from_local_images(capsys, tmp_path, coco_tiny_root):
    out = tmp_path / "coco5"
    code, stdout, err = run_cli(
        capsys,
        "data", "build-coco", str(coco_tiny_root / "annotations" / "instances_val2017.json"),
        "--images", str(coco_tiny_root / "val2017"), "--out", str(out),
        "--train-per-class", "1", "--val-per-class", "1", "--allow-fewer",
    )
    assert code == 0, err
    assert (out / "manifest.json").is_file()
    assert sorted(path.name for path in (out / "train").iterdir()) == ["airplane", "bus", "cat", "dog", "pizza"]


def test_build_coco_unknown_class_is_one_line(capsys, tmp_path, coco_tiny_root):
    code, _, err = run_cli(
        capsys,
        "data", "build-coco", str(coco_tiny_root / "annotations" / "instances_val2017.json"),
        "--images", str(coco_tiny_root / "val2017"), "--out", str(tmp_path / "x"), "--classes", "airplane", "unicorn",
    )
    assert code == 2
    assert "unicorn" in err and len(err.strip().splitlines()) == 1


def test_train_eval_predict_round_trip(capsys, tmp_path, tiny_synth_folder):
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "train", "--model", "vit", "--preset", "classroom", "--data", str(tiny_synth_folder),
        "--epochs", "1", "--batch-size", "8", "--runs-dir", str(runs), "--attention", "einsum", "--demo-pace", "0.01",
        "--cutmix", "1.0", "--mixup", "0.4", "--stem-width", "24",
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    run_id = summary["run"]
    saved_config = json.loads((runs / run_id / "config.json").read_text())
    assert saved_config["model_config"]["stem_width"] == 24
    saved_train_config = saved_config["train_config"]
    assert saved_train_config["min_seconds_per_step"] == 0.01
    assert (saved_train_config["cutmix_alpha"], saved_train_config["mixup_alpha"]) == (1.0, 0.4)
    assert (runs / run_id / "metrics.jsonl").is_file()

    code, out, err = run_cli(capsys, "eval", run_id, "--runs-dir", str(runs), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert 0.0 <= result["accuracy"] <= 1.0
    assert len(result["confusion"]) == 5 and sum(map(sum, result["confusion"])) == 20

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (120, 90), (200, 30, 30)).save(photo, "JPEG")
    overlay = tmp_path / "overlay.png"
    code, out, err = run_cli(capsys, "predict", run_id, str(photo), "--runs-dir", str(runs), "--overlay", str(overlay))
    assert code == 0, err
    assert out.startswith("1. ")
    with Image.open(overlay) as rendered:
        assert rendered.size == (120, 90)

    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("definitely not a JPEG")
    code, _, err = run_cli(capsys, "predict", run_id, str(not_an_image), "--runs-dir", str(runs))
    assert code == 2 and len(err.strip().splitlines()) == 1

    # explain: the walkthrough's pictures and numbers for the same photo
    slides = tmp_path / "slides"
    code, out, err = run_cli(capsys, "explain", run_id, str(photo), "--runs-dir", str(runs), "--out", str(slides))
    assert code == 0, err
    assert {path.name for path in slides.iterdir()} == {
        "patches.png", "position_similarity.png", "heads.png", "rollout_overlay.png", "logit_lens.png", "numbers.json"}
    numbers = json.loads((slides / "numbers.json").read_text())
    lens, prediction = numbers["logit_lens"], numbers["prediction"]
    classroom = get_preset("vit", "classroom").model_config
    assert len(lens) == classroom.depth and all(abs(sum(layer) - 1) < 1e-4 for layer in lens)  # a row per block
    assert lens[-1] == prediction["probabilities"] and prediction["class"] in out
    layers, heads_per_layer = classroom.depth, classroom.num_heads  # 3 x 5
    assert len(numbers["mean_attention_distance"]) == layers and len(numbers["mean_attention_distance"][0]) == heads_per_layer
    with Image.open(slides / "rollout_overlay.png") as rendered, Image.open(slides / "heads.png") as heads:
        assert rendered.size == (120, 90)
        cell = 4 * 12 + 4  # a head's 4 x 4 grid at 12 px a patch, then a 4 px gap
        assert sorted(heads.size) == sorted((layers * cell - 4, heads_per_layer * cell - 4))  # one tile per layer and head
    code, _, err = run_cli(capsys, "explain", run_id, str(not_an_image), "--runs-dir", str(runs), "--out", str(slides))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_explain_method_and_localize_for_a_vit_and_a_cnn(capsys, tmp_path, tiny_synth_folder):
    import numpy as np

    runs = tmp_path / "runs"
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (96, 64), (30, 160, 30)).save(photo, "JPEG")
    run_ids = {}
    for model, preset in (("vit", "classroom"), ("cnn", "hw4")):
        code, out, err = run_cli(capsys, "train", "--model", model, "--preset", preset, "--data", str(tiny_synth_folder),
                                 "--epochs", "1", "--batch-size", "8", "--runs-dir", str(runs))
        assert code == 0, err
        run_ids[model] = json.loads(out.strip().splitlines()[-1])["run"]
    for model, method in (("vit", "relevance"), ("cnn", "gradcam"), ("cnn", "integrated_gradients")):
        out_dir = tmp_path / f"{model}-{method}"
        code, out, err = run_cli(capsys, "explain", run_ids[model], str(photo), "--method", method, "--runs-dir", str(runs),
                                 "--out", str(out_dir))
        assert code == 0, err
        heat = np.load(out_dir / f"{method}.npy")
        assert heat.shape == (64, 64) and abs(float(heat.sum()) - 1) < 1e-4 and (heat >= 0).all()
        with Image.open(out_dir / f"{method}_overlay.png") as overlay:
            assert overlay.size == (96, 64)
    code, _, err = run_cli(capsys, "explain", run_ids["cnn"], str(photo), "--method", "rollout", "--runs-dir", str(runs),
                           "--out", str(tmp_path / "refused"))
    assert code == 2 and "choose one of gradcam, integrated_gradients" in err and len(err.strip().splitlines()) == 1

    code, out, err = run_cli(capsys, "localize", run_ids["cnn"], "--json", "--runs-dir", str(runs))  # the run's own data
    assert code == 0, err
    table = json.loads(out)
    rows = {(row["method"], row["model_state"]): row for row in table["rows"]}
    assert set(rows) == {(method, state) for method in ("gradcam", "integrated_gradients")
                         for state in ("trained", "untrained", "last layers randomized")}
    for row in rows.values():
        assert row["pictures"] == 20 and 0 <= row["pointing_game"] <= 1 and 0 < row["chance"] < 1
        assert row["flagged"] == (row["method"] in table["flagged"])
    code, out, err = run_cli(capsys, "localize", run_ids["vit"], "--method", "rollout", "--limit", "5", "--runs-dir", str(runs))
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["method", "model", "pictures"] and len(out.strip().splitlines()) >= 4

    unmasked = tmp_path / "unmasked"
    assert main(["data", "synth", "--out", str(unmasked), "--train-per-class", "8", "--val-per-class", "4", "--seed", "3"]) == 0
    for mask_file in unmasked.glob("masks_*.npz"):
        mask_file.unlink()
    capsys.readouterr()  # the drawing's own progress bar
    code, _, err = run_cli(capsys, "localize", run_ids["cnn"], "--data", str(unmasked), "--runs-dir", str(runs))
    assert code == 2 and "has no object masks" in err and len(err.strip().splitlines()) == 1


def test_train_fraction_flag_is_saved_and_a_bad_share_is_one_line(capsys, tmp_path, tiny_synth_folder):
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "train", "--model", "cnn", "--preset", "hw4", "--data", str(tiny_synth_folder),
                             "--epochs", "1", "--train-fraction", "0.5", "--runs-dir", str(runs))
    assert code == 0, err
    run_id = json.loads(out.strip().splitlines()[-1])["run"]
    assert json.loads((runs / run_id / "config.json").read_text())["train_config"]["train_fraction"] == 0.5
    code, out, err = run_cli(capsys, "eval", run_id, "--tta", "--json", "--runs-dir", str(runs))
    assert code == 0, err
    assert json.loads(out)["flip_tta"] is True and 0 <= json.loads(out)["accuracy"] <= 1
    code, _, err = run_cli(capsys, "train", "--train-fraction", "1.5", "--runs-dir", str(runs))
    assert code == 2 and "between 0 and 1" in err and len(err.strip().splitlines()) == 1


def test_a_distilled_vit_trains_with_a_cnn_teacher_and_bad_teachers_are_one_line(capsys, tmp_path, tiny_synth_folder):
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "train", "--model", "cnn", "--preset", "hw4", "--data", str(tiny_synth_folder),
                             "--epochs", "1", "--runs-dir", str(runs))
    assert code == 0, err
    teacher = json.loads(out.strip().splitlines()[-1])["run"]
    code, out, err = run_cli(capsys, "train", "--model", "vit", "--preset", "distilled", "--teacher", teacher,
                             "--data", str(tiny_synth_folder), "--epochs", "1", "--max-batches", "2", "--runs-dir", str(runs))
    assert code == 0, err
    student = json.loads(out.strip().splitlines()[-1])["run"]
    saved = json.loads((runs / student / "config.json").read_text())
    assert saved["train_config"]["teacher_run"] == teacher and saved["model_config"]["distillation"] is True
    for flags, message in ((["--preset", "classroom", "--teacher", teacher], "needs a ViT with a distillation token"),
                           (["--preset", "distilled", "--teacher", student], "must be a CNN run")):
        code, _, err = run_cli(capsys, "train", "--model", "vit", *flags, "--data", str(tiny_synth_folder), "--epochs", "1",
                               "--runs-dir", str(runs))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_vit_only_flags_are_refused_for_the_cnn_in_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--stem-width", "16", "--runs-dir", str(tmp_path / "runs"))
    assert code == 2
    assert "--stem-width only applies to --model vit" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing was trained
