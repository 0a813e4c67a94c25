"""The inductive-bias lesson, measured: validation accuracy against training-set size for a ViT and a CNN.

The `classroom` ViT and the `hw4` CNN are trained with their own recipes (same epochs at every size) on 10, 25,
50 and 100 % of the training split (TrainConfig.train_fraction: a seeded, class-by-class subset) and scored on
the whole validation split. A CNN's convolutions build in locality and translation equivariance; a ViT has to
learn them from data, so its accuracy should fall faster as the training set shrinks.

Run:  .venv/bin/python bench/data_efficiency.py [--data FOLDER|synthetic] [--fractions 0.1 0.25 0.5 1] [--seed 0] [--quick]
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import cpu_name, log, print_json_line, print_table, quick_or_bench_data  # noqa: E402

MODELS = (("vit", "classroom"), ("cnn", "hw4"))  # the Compare page's sweep trains the same two recipes
FRACTIONS = (0.1, 0.25, 0.5, 1.0)  # shares of the training split


def train_one(kind: str, name: str, fraction: float, data, seed: int, threads: int, epochs: int | None) -> dict:
    """Train one recipe on one share of the training split; its final epoch's figures."""
    import torch

    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset
    from vitcore.train.engine import fit

    preset = get_preset(kind, name, num_classes=len(data.class_names), image_size=int(data.image_size))
    changes = {"train_fraction": fraction, "seed": seed, "device": "cpu", "num_threads": threads, "record_timelapse": False}
    if epochs is not None:
        changes["epochs"] = epochs
    preset = preset.with_overrides(train=changes)
    torch.manual_seed(seed)
    model = build_model(preset.model_config)
    started = time.perf_counter()
    result = fit(model, data, preset.train_config)
    if result.status != "finished":
        raise SystemExit(f"{kind}/{name} at {fraction:.0%}: {result.message}")
    last = result.history[-1]
    record = {"model": f"{kind}/{name}", "fraction": fraction, "train_images": round(fraction * len(data.train)),
              "epochs": preset.train_config.epochs, "val_acc": round(last["val_acc"], 4),
              "train_acc": round(last["train_acc"], 4), "seconds": round(time.perf_counter() - started, 1)}
    log(f"  {record['model']} on {fraction:.0%}: val {record['val_acc']:.1%} (train {record['train_acc']:.1%}) "
        f"in {record['seconds']:.0f} s")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder, or 'synthetic' (default: $VIT_CLASSROOM_DATA/coco5-64)")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS), help="shares of the training split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the subsets and the shuffles")
    parser.add_argument("--epochs", type=int, default=None, help="override both recipes' epochs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="smoke run: a small embedded set, 1 epoch, two shares")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    data, source = quick_or_bench_data(args.data, args.quick, quick_val_per_class=8)
    if args.quick:
        args.epochs, args.fractions = 1, [0.5, 1.0]
    log(f"{len(data.train)} training and {len(data.val)} validation pictures ({source})")
    records = [train_one(kind, name, fraction, data, args.seed, args.threads, args.epochs)
               for fraction in sorted(args.fractions) for kind, name in MODELS]
    by_cell = {(record["model"], record["fraction"]): record for record in records}
    models = [f"{kind}/{name}" for kind, name in MODELS]
    rows = []
    for fraction in sorted(args.fractions):
        cells = [by_cell[(model, fraction)] for model in models]
        rows.append([f"{fraction:.0%}", cells[0]["train_images"]]
                    + [f"{cell['val_acc']:.1%} ({cell['seconds']:.0f} s)" for cell in cells]
                    + [f"{cells[0]['val_acc'] - cells[1]['val_acc']:+.1%}"])
    print_table(f"Validation accuracy against training-set size ({source}, seed {args.seed}, {args.threads} threads)",
                ["share", "train images", *models, "ViT - CNN"], rows)
    print_json_line({"bench": "data_efficiency", "data": source, "seed": args.seed, "threads": args.threads,
                     "train_images_total": len(data.train), "val_images": len(data.val), "runs": records,
                     "torch": torch.__version__, "cpu": cpu_name()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
