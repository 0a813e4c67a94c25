"""Where a preset's training time goes: augmentation, the teacher, forward, backward, the optimizer, evaluation.

    .venv/bin/python bench/time_breakdown.py                                   # vit/best, vit/distilled, cnn/best, 1 epoch
    .venv/bin/python bench/time_breakdown.py --presets vit/classroom --epochs 2
    .venv/bin/python bench/time_breakdown.py --quick                           # tiny synthetic set (smoke run)

Each preset trains with its own recipe (`vitcore.train.engine.fit`, the same loop the app and the CLI run) for
--epochs epochs under Python's cProfile, and the profile's cumulative time of the loop's own functions is split into:

- augmentation: `BatchAugmenter.__call__` (flip and crop of each batch);
- mixing: torchvision's CutMix / MixUp `forward`;
- teacher forward: the teacher network's `forward` (vit/distilled only; an untrained network of the --teacher
  preset's architecture, as its weights do not change its cost);
- backward: `Tensor.backward`;
- optimizer: the optimizer's `step` (and gradient clipping);
- forward and loss: the rest of `_train_one_step` (the student's forward pass, the loss, the running accuracy);
- evaluation: `_validate`, the validation pass that ends each epoch;
- other: the rest of `fit` (shuffles, the learning-rate schedule, events).

Loading the dataset (the tensor cache after its first fill) is timed once, outside the loop. cProfile adds a
few per cent to every Python call; the shares, not the absolute seconds, are the point.

Output: a table per preset, then ONE JSON line (last stdout line).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: make `bench` and `vitcore` importable

from bench.common import log, print_json_line, print_table, quick_or_bench_data  # noqa: E402

DEFAULT_PRESETS = ["vit/best", "vit/distilled", "cnn/best"]  # the long recipes
QUICK_PRESETS = ["vit/classroom", "vit/distilled"]
PARTS = ["augmentation", "mixing", "teacher forward", "forward and loss", "backward", "optimizer", "evaluation", "other"]


def method_time(stats: pstats.Stats, method) -> float:
    """Cumulative seconds of one Python function or method (cProfile keys it by its code object's file, line, name)."""
    code = inspect.unwrap(method).__code__
    entry = stats.stats.get((code.co_filename, code.co_firstlineno, code.co_name))
    return 0.0 if entry is None else entry[3]


def split_profile(stats: pstats.Stats, teacher) -> dict[str, float]:
    """Seconds per part (PARTS) of one profiled `fit` call."""
    import torch
    from torchvision.transforms import v2

    from vitcore.train.augment import BatchAugmenter
    from vitcore.train.engine import _train, _train_one_step, _validate

    step = method_time(stats, _train_one_step)
    # each optimizer's step once (AdamW inherits Adam's), unwrapped from its decorators
    optimizer_steps = {inspect.unwrap(kind.step) for kind in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)}
    parts = {
        "augmentation": method_time(stats, BatchAugmenter.__call__),
        # CutMix and MixUp share one forward; RandomChoice picks one of them when both are on
        "mixing": max(method_time(stats, v2.CutMix.forward), method_time(stats, v2.RandomChoice.forward)),
        "teacher forward": 0.0 if teacher is None else method_time(stats, type(teacher).forward),
        "backward": method_time(stats, torch.Tensor.backward),
        "optimizer": sum(method_time(stats, step) for step in optimizer_steps)
        + method_time(stats, torch.nn.utils.clip_grad_norm_),
        "evaluation": method_time(stats, _validate),
    }
    parts["forward and loss"] = step - sum(parts[name] for name in ("augmentation", "mixing", "teacher forward",
                                                                   "backward", "optimizer"))
    parts["other"] = method_time(stats, _train) - step - parts["evaluation"]
    return parts


def profile_preset(preset_name: str, data, args) -> dict:
    """Train `preset_name` for args.epochs under cProfile; its seconds per epoch, split into PARTS."""
    import torch

    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset
    from vitcore.train.engine import fit

    kind, name = preset_name.split("/")
    preset = get_preset(kind, name, num_classes=len(data.class_names), image_size=data.image_size)
    config = replace(preset.train_config, epochs=args.epochs, seed=0, device="cpu", num_threads=args.threads)
    torch.manual_seed(0)
    model = build_model(preset.model_config)
    teacher = None
    if getattr(preset.model_config, "distillation", False):
        teacher_kind, teacher_name = args.teacher.split("/")
        teacher_config = get_preset(teacher_kind, teacher_name, len(data.class_names), data.image_size).model_config
        teacher = build_model(teacher_config).eval()  # untrained: the same cost as a trained one
    log(f"profiling {preset_name} for {args.epochs} epoch(s)")
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    result = fit(model, data, config, teacher=teacher)
    profiler.disable()
    seconds = time.perf_counter() - start
    if result.status != "finished":
        raise RuntimeError(f"{preset_name}: {result.message}")
    parts = split_profile(pstats.Stats(profiler), teacher)
    return {
        "preset": preset_name, "epochs": args.epochs, "seconds_per_epoch": round(seconds / args.epochs, 3),
        "teacher": args.teacher if teacher is not None else None,
        "parts_s_per_epoch": {part: round(parts[part] / args.epochs, 3) for part in PARTS},
        "parts_share": {part: round(parts[part] / seconds, 4) for part in PARTS},
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder, or 'synthetic' (default: $VIT_CLASSROOM_DATA/coco5-64)")
    parser.add_argument("--presets", nargs="+", default=None, help=f"kind/name (default: {' '.join(DEFAULT_PRESETS)})")
    parser.add_argument("--epochs", type=int, default=1, help="epochs to profile per preset (default 1)")
    parser.add_argument("--teacher", default="cnn/best", help="vit/distilled's teacher architecture (default cnn/best)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a small embedded set, vit/classroom and vit/distilled")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    presets = args.presets or (QUICK_PRESETS if args.quick else DEFAULT_PRESETS)
    if args.quick:
        args.teacher = "cnn/hw4" if args.teacher == "cnn/best" else args.teacher

    import torch

    from vitcore.errors import VitcoreError
    from vitcore.presets import get_preset

    for preset_name in [*presets, args.teacher]:  # a misspelt preset fails before the data loads
        try:
            kind, _, name = preset_name.partition("/")  # no slash: name "", which get_preset refuses
            get_preset(kind, name)
        except VitcoreError as error:
            print(f"error: {preset_name}: {error}", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    load_start = time.perf_counter()
    data, source = quick_or_bench_data(args.data, args.quick)
    load_seconds = time.perf_counter() - load_start
    records = [profile_preset(preset_name, data, args) for preset_name in presets]

    headers = ["preset", "s/epoch", *PARTS]
    rows = [[record["preset"], record["seconds_per_epoch"],
             *(f"{record['parts_s_per_epoch'][part]:.2f} s ({record['parts_share'][part]:.0%})" for part in PARTS)]
            for record in records]
    print_table(f"where an epoch's time goes ({source}; {len(data.train)} train images; dataset loaded in "
                f"{load_seconds:.1f} s)", headers, rows)
    print_json_line({"bench": "time_breakdown", "data": source, "train_images": len(data.train),
                     "threads": args.threads, "quick": args.quick, "load_seconds": round(load_seconds, 2),
                     "results": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
