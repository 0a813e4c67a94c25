"""Smoke tests of the benchmark scripts in bench/ (they are benchmarks, not tests: only the plumbing is checked).

Each script runs with its tiny `--quick` option in a real subprocess, and its last
stdout line must be one JSON object with the documented keys and sane values.
The cache benchmark's helpers are also driven in-process on real JPEG files.
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
MODEL_NAMES = {"loop", "einsum", "fused", "reference"}

sys.path.insert(0, str(REPO_ROOT))  # `bench` is a plain folder (namespace package) at the repo root

from bench import cache_load, throughput  # noqa: E402
from bench.common import format_table, parse_last_json_line  # noqa: E402


def run_bench(script: str, *arguments: str) -> tuple[dict, str]:
    """Run bench/<script> as its own process (from another working folder); return (JSON record, stdout)."""
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), *arguments],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(REPO_ROOT.parent),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return parse_last_json_line(completed.stdout), completed.stdout


def test_throughput_quick_prints_table_and_json_line():
    record, stdout = run_bench("throughput.py", "--quick", "--threads", "1")
    assert record["bench"] == "throughput"
    assert record["threads"] == 1
    assert record["batch"] == 8
    for key in ("train_img_s", "infer_img_s", "train_ratio_vs_reference", "infer_ratio_vs_reference"):
        assert set(record[key]) == MODEL_NAMES, key
    for key in ("train_img_s", "infer_img_s"):
        assert all(rate > 0 for rate in record[key].values()), record[key]
    assert record["train_ratio_vs_reference"]["reference"] == 1.0
    assert record["infer_ratio_vs_reference"]["reference"] == 1.0
    ratio = record["train_img_s"]["fused"] / record["train_img_s"]["reference"]
    assert record["train_ratio_vs_reference"]["fused"] == pytest.approx(ratio, rel=0.01)
    # The reference has exactly the same parameters as the ViT: same width, depth, heads and MLP.
    assert len(set(record["params"].values())) == 1
    assert isinstance(record["torch"], str) and record["torch"]
    assert isinstance(record["cpu"], str) and record["cpu"]
    table = stdout.strip().splitlines()[:-1]
    assert any(line.strip().startswith("reference") for line in table)


def test_cache_load_quick_prints_table_and_json_line():
    record, stdout = run_bench("cache_load.py", "--quick")
    assert record["bench"] == "cache_load"
    expected_images = len(cache_load.QUICK_CLASSES) * (cache_load.QUICK_TRAIN_PER_CLASS + cache_load.QUICK_VAL_PER_CLASS)
    assert record["images"] == expected_images
    assert record["cold_load_s"] > 0 and record["warm_load_s"] > 0
    assert record["cold_peak_rss_mb"] >= record["baseline_rss_mb"] > 0
    assert record["same_tensors"] is True
    assert record["cache_files"] == 1 and record["cache_mb"] > 0
    assert "first (cold decode)" in stdout


def test_cache_load_child_mode_reports_one_load(tmp_path, capsys):
    """The --child entry point (one load per process in full runs), driven in-process on real JPEGs."""
    data_root = tmp_path / "data"
    count = cache_load.write_quick_folder(data_root, seed=1)
    cache_dir = tmp_path / "cache"
    cache_load.main(["--child", "--data", str(data_root), "--cache-dir", str(cache_dir), "--threads", "1"])
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["images"] == count and first["train_images"] + first["val_images"] == count
    assert first["cache_files"] == 1 and first["skipped_files"] == 0
    cache_load.main(["--child", "--data", str(data_root), "--cache-dir", str(cache_dir), "--threads", "1"])
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["digest"] == first["digest"]
    # A different folder content gives different tensors (the digest really looks at the pixels).
    other_root = tmp_path / "other"
    cache_load.write_quick_folder(other_root, seed=2)
    cache_load.main(["--child", "--data", str(other_root), "--cache-dir", str(cache_dir), "--threads", "1"])
    other = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert other["digest"] != first["digest"]
    assert other["cache_files"] == 2


def test_reference_model_matches_vit_shapes_and_parameter_count():
    config = throughput.quick_config()
    models = throughput.build_models(config, ["fused"], seed=0)
    images = torch.rand(3, 3, config.image_size, config.image_size)  # (B, 3, S, S)
    for model in models.values():
        assert tuple(model(images).shape) == (3, config.num_classes)
    assert sum(p.numel() for p in models["fused"].parameters()) == sum(
        p.numel() for p in models["reference"].parameters()
    )


def test_format_table_aligns_columns():
    text = format_table(["name", "value"], [["a", 1.0], ["longer", 12.345]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].endswith("1.00") and lines[3].endswith("12.35")


def test_time_to_accuracy_quick_reports_each_model_and_a_median():
    record, stdout = run_bench("time_to_accuracy.py", "--quick")
    assert record["bench"] == "time_to_accuracy" and record["quick"] is True
    assert [(result["model"], result["seed"]) for result in record["results"]] == [("vit", 0), ("cnn", 0)]
    for result in record["results"]:
        assert 0.0 <= result["best_acc"] <= 1.0 and result["steps"] > 0
        assert result["reached"] == (result["seconds_to_threshold"] is not None)
        assert result["reached"] == (result["best_acc"] >= result["threshold"])
    for summary in record["summary"]:
        mine = [result for result in record["results"] if result["model"] == summary["model"]]
        assert summary["runs"] == len(mine) and summary["reached_runs"] == sum(result["reached"] for result in mine)
        assert summary["median_seconds"] == (mine[0]["seconds_to_threshold"] if mine[0]["reached"] else None)
    assert "median" in stdout
    assert all(result["planned_epochs"] == 1 for result in record["results"])  # --quick plans one epoch


def test_time_to_accuracy_recipes_plan_their_own_epochs():
    """The ViT's one-cycle ends with the first epoch; the HW4 CNN decays over two, in NHWC."""
    from bench.time_to_accuracy import DEFAULT_EPOCHS, fast_recipe, parse_args

    assert parse_args([]).epochs is None and DEFAULT_EPOCHS == {"vit": 1, "cnn": 2}
    _, vit_train = fast_recipe("vit", 5, 64, threads=2, epochs=DEFAULT_EPOCHS["vit"], quick=False)
    assert (vit_train.epochs, vit_train.schedule, vit_train.channels_last) == (1, "onecycle", False)
    cnn_model, cnn_train = fast_recipe("cnn", 5, 64, threads=2, epochs=DEFAULT_EPOCHS["cnn"], quick=False)
    assert cnn_model.arch == "hw4" and (cnn_train.lr, cnn_train.batch_size) == (1e-3, 16)  # the homework's optimizer
    assert (cnn_train.epochs, cnn_train.schedule, cnn_train.channels_last) == (2, "cosine", True)
    assert parse_args(["--epochs", "3"]).epochs == 3


def test_live_curves_quick_compares_shared_and_unshared_cost():
    record, stdout = run_bench("live_curves.py", "--quick", "--watchers", "10")
    assert record["bench"] == "live_curves" and record["watchers"] == 10 and record["points"] == 20
    assert record["build_ms"] > 0 and record["serialise_ms"] > 0
    per_refresh = record["refresh_s"]
    rounding = 0.001  # the record keeps 3 decimals of each CPU-s/s figure (a small figure can be off by 1-2 % of itself)
    assert record["unshared_cpu_s_per_s"] == pytest.approx(
        10 * (record["build_ms"] + record["serialise_ms"]) / 1000 / per_refresh, rel=0.01, abs=rounding
    )
    assert record["shared_cpu_s_per_s"] == pytest.approx(
        (record["build_ms"] + 10 * record["serialise_ms"]) / 1000 / per_refresh, rel=0.01, abs=rounding
    )
    assert record["shared_cpu_s_per_s"] < record["unshared_cpu_s_per_s"]
    assert "shared CPU-s/s" in stdout


def test_accuracy_quick_reports_mean_std_dedup_and_gap():
    record, _ = run_bench("accuracy.py", "--quick", "--first-seed", "4")
    assert record["bench"] == "accuracy"
    assert [preset["preset"] for preset in record["results"]] == ["vit/classroom", "cnn/hw4"]
    for preset in record["results"]:
        assert preset["seeds"] == 1 and len(preset["per_seed"]) == 1
        run = preset["per_seed"][0]
        assert run["seed"] == 4  # --first-seed: seeds 4 .. 4 + seeds - 1
        assert preset["val_acc_mean"] == run["val_acc"] and preset["val_acc_std"] == 0.0
        assert preset["gap_mean"] == pytest.approx(run["train_acc"] - run["val_acc"], abs=1e-3)
        assert 0.0 <= preset["dedup_val_acc_mean"] <= 1.0
        assert 0.0 <= run["val_tta_acc"] <= 1.0 and preset["val_tta_acc_mean"] == run["val_tta_acc"]


def test_accuracy_set_changes_the_recipe_and_records_it():
    record, stdout = run_bench("accuracy.py", "--quick", "--presets", "vit/classroom",
                               "--set", "train.cutmix_alpha=1.0", "model.drop_path=0.2", "train.augmentation=none")
    preset = record["results"][0]
    assert preset["overrides"] == {"train": {"cutmix_alpha": 1.0, "augmentation": "none"}, "model": {"drop_path": 0.2}}
    assert "vit/classroom train.cutmix_alpha=1.0 train.augmentation=none model.drop_path=0.2" in stdout


def test_accuracy_distilled_reuses_the_teacher_trained_in_the_same_run():
    record, stdout = run_bench("accuracy.py", "--quick", "--presets", "cnn/hw4", "vit/distilled", "--teacher", "cnn/hw4")
    teacher, student = record["results"]
    assert [teacher["preset"], student["preset"]] == ["cnn/hw4", "vit/distilled"]
    run = student["per_seed"][0]
    assert run["teacher"] == "cnn/hw4" and student["teacher"] == "cnn/hw4"
    # the very model trained as the cnn/hw4 row taught the student: same figures, no second training
    assert run["teacher_val_acc"] == teacher["per_seed"][0]["val_acc"]
    assert run["teacher_seconds"] == teacher["per_seed"][0]["seconds"]
    assert "vit/distilled (teacher cnn/hw4: val" in stdout


def test_accuracy_distilled_trains_its_teacher_first_when_it_did_not_run():
    completed = subprocess.run([sys.executable, str(BENCH_DIR / "accuracy.py"), "--quick", "--presets", "vit/distilled",
                                "--teacher", "cnn/hw4"], capture_output=True, text=True, timeout=180,
                               cwd=str(REPO_ROOT.parent), check=True)
    record = json.loads(completed.stdout.strip().splitlines()[-1])
    assert [preset["preset"] for preset in record["results"]] == ["vit/distilled"]  # the teacher has no row of its own
    run = record["results"][0]["per_seed"][0]
    assert "training the teacher cnn/hw4 seed 0 for vit/distilled" in completed.stderr
    assert run["teacher_seconds"] > 0 and 0.0 <= run["teacher_val_acc"] <= 1.0


@pytest.mark.parametrize("assignment, message", [
    ("model.no_such_field=1", "has no field no_such_field"),
    ("train.augmentation=sideways", "augmentation must be one of"),
    ("epochs=3", "train.FIELD=VALUE or model.FIELD=VALUE"),
])
def test_accuracy_set_refuses_a_bad_change_before_loading_data(assignment, message):
    completed = subprocess.run([sys.executable, str(BENCH_DIR / "accuracy.py"), "--quick", "--set", assignment],
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_gpu_epoch_quick_times_each_epoch_apart_from_the_first():
    record, stdout = run_bench("gpu_epoch.py", "--quick", "--epochs", "3")
    assert record["bench"] == "gpu_epoch" and record["device"] == "cpu"
    assert [preset["preset"] for preset in record["results"]] == ["vit/classroom", "cnn/hw4"]
    for preset in record["results"]:
        assert preset["epochs"] == 2  # --quick caps the epochs at 2
        assert len(preset["epoch_s_all"]) == 2 and preset["first_epoch_s"] == preset["epoch_s_all"][0]
        assert preset["epoch_s"] == preset["epoch_s_all"][1]  # the median of epochs 2..E
        assert preset["train_img_s"] == pytest.approx(record["train_images"] / preset["epoch_s"], rel=0.01)
        assert preset["steps_per_epoch"] == -(-record["train_images"] // preset["batch_size"])
    assert any(line.strip().startswith("cnn/hw4") for line in stdout.splitlines())


def test_gpu_epoch_without_a_gpu_says_so():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal cannot be shown")
    completed = subprocess.run([sys.executable, str(BENCH_DIR / "gpu_epoch.py"), "--data", "synthetic"],
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 2
    assert "no CUDA GPU is available" in completed.stderr and "--device cpu" in completed.stderr


def test_walkthrough_steps_quick_times_every_step_change():
    record, stdout = run_bench("walkthrough_steps.py", "--quick")
    assert record["bench"] == "walkthrough_steps" and record["rounds"] == 1
    assert 0 < record["step_change_ms_median"] <= record["step_change_ms_max"]
    assert record["target_met"] == (record["step_change_ms_max"] <= record["target_ms"] == 300.0)
    assert "step change ms" in stdout


def test_timelapse_cost_quick_reports_overhead_and_file_size():
    record, stdout = run_bench("timelapse_cost.py", "--quick")
    assert record["bench"] == "timelapse_cost" and record["rounds"] == 1 and record["recorded_lines"] == 2  # untrained + epoch 1
    assert record["record_s_median"] > 0 and record["overhead_pct"] == pytest.approx(
        100 * record["record_s_median"] / statistics.median(record["epoch_s_recording"] + record["epoch_s_not_recording"]), rel=0.05)
    assert record["best_run_snapshots"] == 56 and 100_000 < record["best_run_timelapse_bytes"] < 1_000_000
    assert "recording / epoch (%)" in stdout


def test_data_efficiency_quick_trains_both_models_on_each_share():
    record, stdout = run_bench("data_efficiency.py", "--quick")
    assert record["bench"] == "data_efficiency"
    cells = {(run["model"], run["fraction"]): run for run in record["runs"]}
    assert set(cells) == {(model, share) for model in ("vit/classroom", "cnn/hw4") for share in (0.5, 1.0)}
    assert cells[("cnn/hw4", 0.5)]["train_images"] == record["train_images_total"] // 2
    assert all(0 <= run["val_acc"] <= 1 for run in record["runs"])
    assert "ViT - CNN" in stdout


def test_explanation_speed_quick_times_every_method_and_the_scores():
    record, stdout = run_bench("explanation_speed.py", "--quick")
    assert record["bench"] == "explanation_speed"
    assert {(entry["model"], entry["method"]) for entry in record["one_picture"]} == {
        ("vit/classroom", "rollout"), ("vit/classroom", "relevance"), ("cnn/hw4", "gradcam"), ("cnn/hw4", "integrated_gradients")}
    assert all(0 < entry["median_ms"] <= entry["max_ms"] for entry in record["one_picture"])
    assert record["target_met"] == (record["worst_ms"] <= 300.0)
    assert [entry["pictures"] for entry in record["localization"]] == [10, 10]
    assert "projected s for 2,500" in stdout


def test_time_breakdown_quick_splits_each_epoch_and_times_the_teacher_only_for_the_distilled_vit():
    record, stdout = run_bench("time_breakdown.py", "--quick")
    assert record["bench"] == "time_breakdown" and record["quick"] is True
    classroom, distilled = record["results"]
    assert [classroom["preset"], distilled["preset"]] == ["vit/classroom", "vit/distilled"]
    assert classroom["teacher"] is None and distilled["teacher"] == "cnn/hw4"
    assert classroom["parts_s_per_epoch"]["teacher forward"] == 0.0
    assert distilled["parts_s_per_epoch"]["teacher forward"] > 0.0
    for preset in (classroom, distilled):
        parts = preset["parts_s_per_epoch"]
        for part in ("forward and loss", "backward", "optimizer", "evaluation", "augmentation"):
            assert parts[part] > 0.0, part
        # the parts are slices of one fit call: together they come to its time (fit's set-up is the rest)
        assert sum(parts.values()) <= preset["seconds_per_epoch"] * 1.01
        assert sum(parts.values()) >= preset["seconds_per_epoch"] * 0.5
    assert "teacher forward" in stdout and "where an epoch's time goes" in stdout
