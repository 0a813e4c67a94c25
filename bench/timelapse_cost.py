"""What recording the attention time-lapse costs a training run, and how big its file gets.

Every ViT run appends a probe snapshot (10 validation pictures: per-head summary attention, rollout, logit
lens) after initialisation and after every epoch (vitcore.train.timelapse_recorder). Measured here:
- `vit/classroom` trained with recording on and off, --rounds times each in alternating order after one warm-up
  run (same seed): the median wall time of the whole training call (the difference is mostly the noise of a
  shared machine, so it is reported but is not the headline figure);
- the recording itself: one `record()` call on the trained model, median of --repeats calls, as a share of the
  median epoch (the headline figure; target <= 2 %);
- the size of timelapse.jsonl for a 55-epoch `vit/best` run: 56 snapshots of a `vit/best` model written to a
  scratch run (the line size does not depend on the weights), and probes.npz beside it.

Run:  .venv/bin/python bench/timelapse_cost.py [--data FOLDER|synthetic] [--rounds 3] [--epochs 1] [--threads 2] [--quick]
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import cpu_name, log, median, print_json_line, print_table, quick_or_bench_data  # noqa: E402

TARGET_PCT = 2.0  # the budget: recording adds at most 2 % to an epoch of vit/classroom


def train_epochs(data, epochs: int, record: bool, store, threads: int):
    """Train vit/classroom for `epochs` epochs into a new run; returns (run, model, per-epoch seconds, fit wall seconds).

    An epoch's `seconds` (metrics.jsonl) covers its steps and validation, not the snapshot taken after it; the
    wall time of the whole call covers everything.
    """
    import torch

    from vitcore.models.config import config_to_dict
    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset
    from vitcore.train.engine import fit

    preset = get_preset("vit", "classroom", num_classes=len(data.class_names), image_size=int(data.train.images.shape[-1]))
    config = preset.train_config
    config = type(config)(**{**config.__dict__, "epochs": epochs, "device": "cpu", "seed": 0, "record_timelapse": record,
                             "num_threads": threads})
    torch.manual_seed(0)
    model = build_model(preset.model_config)
    run = store.create_run("timelapse-bench", config_to_dict(preset.model_config), {}, data.class_names,
                           data.dataset_id, data.source)
    started = time.perf_counter()
    result = fit(model, data, config, run=run, on_event=lambda event: event.get("type") == "epoch" and log(
        f"  epoch {event['epoch']}: {event['seconds']:.1f} s (recording {'on' if record else 'off'})"))
    if result.status != "finished":
        raise SystemExit(f"training failed: {result.message}")
    wall_s = time.perf_counter() - started  # the whole fit call: set-up, epochs, validation and every snapshot
    return run, model, [record_["seconds"] for record_ in run.read_metrics()], wall_s


def best_run_file_bytes(data, store) -> tuple[int, int, int]:
    """(timelapse.jsonl bytes, probes.npz bytes, snapshots) for a 55-epoch vit/best run's worth of snapshots."""
    import torch

    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset
    from vitcore.train.timelapse_recorder import build_recorder

    preset = get_preset("vit", "best", num_classes=len(data.class_names), image_size=int(data.train.images.shape[-1]))
    torch.manual_seed(0)
    model = build_model(preset.model_config)
    run = store.create_run("timelapse-size", {"kind": "vit"}, {}, data.class_names, data.dataset_id, data.source)
    recorder = build_recorder(run, model, data.val, len(data.class_names), torch.device("cpu"), enabled=True)
    snapshots = preset.train_config.epochs + 1  # epoch 0 (untrained) and every epoch
    for epoch in range(snapshots):
        recorder.record(epoch)
    return run.timelapse_path.stat().st_size, (run.path / "probes.npz").stat().st_size, snapshots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder, or 'synthetic' (default: $VIT_CLASSROOM_DATA/coco5-64)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per training run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one run with recording and one without")
    parser.add_argument("--repeats", type=int, default=20, help="record() calls timed on the trained model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="smoke run: a small embedded set, 1 epoch, 3 repeats")
    args = parser.parse_args(argv)

    import torch

    from vitcore.runs.store import RunStore
    from vitcore.train.timelapse_recorder import build_recorder

    torch.set_num_threads(args.threads)
    data, source = quick_or_bench_data(args.data, args.quick)
    if args.quick:
        args.epochs, args.repeats, args.rounds = 1, 3, 1

    with tempfile.TemporaryDirectory(prefix="timelapse-bench-") as scratch:
        store = RunStore(Path(scratch) / "runs")
        log(f"vit/classroom, {len(data.train)} train images: {args.rounds} rounds of {args.epochs} epoch(s) with recording "
            "and without, the order alternating")
        train_epochs(data, 1, False, store, args.threads)  # warm-up (thread pools, allocator), not counted
        with_seconds, without_seconds, with_walls, without_walls = [], [], [], []
        for round_index in range(args.rounds):
            for record_on in ((True, False) if round_index % 2 == 0 else (False, True)):
                trained_run, trained_model, seconds, wall_s = train_epochs(data, args.epochs, record_on, store, args.threads)
                (with_seconds if record_on else without_seconds).extend(seconds)
                (with_walls if record_on else without_walls).append(wall_s)
                if record_on:
                    run, model = trained_run, trained_model
        with_wall_s, without_wall_s = median(with_walls), median(without_walls)
        recorder = build_recorder(store.create_run("timelapse-calls", {"kind": "vit"}, {}, data.class_names, data.dataset_id,
                                                   data.source), model, data.val, len(data.class_names), torch.device("cpu"), True)
        calls = []
        for epoch in range(args.repeats):
            started = time.perf_counter()
            recorder.record(epoch)
            calls.append(time.perf_counter() - started)
        file_bytes, probes_bytes, snapshots = best_run_file_bytes(data, store)
        recorded_lines = len(run.read_timelapse_records())  # the trained run's own file: epoch 0 and every epoch

    epoch_s = median(with_seconds + without_seconds)
    record_s = median(calls)
    overhead_pct = 100.0 * record_s / epoch_s
    ab_pct = 100.0 * (with_wall_s - without_wall_s) / without_wall_s  # median whole fit calls, recording on vs off
    record = {
        "bench": "timelapse_cost", "data": source, "train_images": len(data.train), "threads": args.threads,
        "epochs_per_run": args.epochs, "rounds": args.rounds, "epoch_s_recording": [round(value, 3) for value in with_seconds],
        "epoch_s_not_recording": [round(value, 3) for value in without_seconds], "record_s_median": round(record_s, 4),
        "record_s_max": round(max(calls), 4), "fit_wall_s_recording": round(with_wall_s, 2),
        "fit_wall_s_not_recording": round(without_wall_s, 2), "overhead_pct": round(overhead_pct, 3), "ab_difference_pct": round(ab_pct, 2),
        "target_pct": TARGET_PCT, "best_run_snapshots": snapshots, "best_run_timelapse_bytes": file_bytes,
        "probes_npz_bytes": probes_bytes, "recorded_lines": recorded_lines,
        "torch": torch.__version__, "cpu": cpu_name(),
    }
    print_table(
        f"Attention time-lapse cost (vit/classroom, {source}, {args.threads} threads)",
        ["measure", "value"],
        [
            ["epoch, recording on (s)", ", ".join(f"{value:.1f}" for value in with_seconds)],
            ["epoch, recording off (s)", ", ".join(f"{value:.1f}" for value in without_seconds)],
            ["one record() call, median (ms)", f"{record_s * 1000:.1f}"],
            ["recording / epoch (%)", f"{overhead_pct:.3f} (target <= {TARGET_PCT:g})"],
            ["whole fit, recording on / off, median (s)", f"{with_wall_s:.2f} / {without_wall_s:.2f}"],
            ["A/B difference (%)", f"{ab_pct:+.1f} (includes machine noise)"],
            [f"timelapse.jsonl, vit/best, {snapshots} snapshots", f"{file_bytes / 1e6:.3f} MB"],
            ["probes.npz", f"{probes_bytes / 1e3:.1f} kB"],
        ],
    )
    print_json_line(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
