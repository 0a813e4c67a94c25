"""How long an explanation takes: one picture per method, and the localization scores over a validation set.

- one explanation: `vitcore.explain.methods.explain` on one 64x64 picture, for the `classroom` ViT (rollout,
  relevance) and the `hw4` CNN (Grad-CAM, integrated gradients), with as many threads as the pages give one
  picture (1). Median and worst of --repeats calls after 2 warm-up calls. Target: at most 300 ms each.
- the localization scores: `vitcore.explain.localize.localization_table` (every method, trained + untrained +
  randomized) on --pictures validation pictures of the embedded set (which has object masks; 2,500 is the size
  of coco5-64's validation split), per model, with 2 threads.
The weights are a seeded initialisation: the time does not depend on what the model learned.

Run:  .venv/bin/python bench/explanation_speed.py [--repeats 20] [--pictures 500] [--quick]
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import cpu_name, log, median, print_json_line, print_table  # noqa: E402

TARGET_MS = 300.0  # the budget for one explanation of one picture
MODELS = (("vit", "classroom"), ("cnn", "hw4"))
PICTURE_THREADS = 1  # app/services/inference.SINGLE_PICTURE_THREADS: what one student's picture gets on the server


def time_methods(model, image, repeats: int) -> dict[str, list[float]]:
    """Seconds of each of the model's methods, `repeats` calls each after 2 warm-up calls."""
    from vitcore.explain.methods import explain, methods_for

    seconds = {}
    for method in methods_for(model):
        for _ in range(2):
            explain(model, image, method)
        calls = []
        for _ in range(repeats):
            started = time.perf_counter()
            explain(model, image, method)
            calls.append(time.perf_counter() - started)
        seconds[method] = calls
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per method")
    parser.add_argument("--pictures", type=int, default=500, help="validation pictures scored for the localization time")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 calls, 10 pictures")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.pictures = 3, 10

    import torch

    from vitcore.data.synthetic import generate_synthetic
    from vitcore.explain.localize import localization_table
    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset

    per_class = max(1, -(-args.pictures // 5))  # ceil: enough validation pictures of each class
    log(f"drawing {5 * per_class} validation pictures of the embedded set")
    data = generate_synthetic(train_per_class=1, val_per_class=per_class, seed=0)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # (1, 3, S, S)
    one_picture, localization = [], []
    for kind, name in MODELS:
        preset = get_preset(kind, name)
        torch.manual_seed(0)
        model = build_model(preset.model_config).eval()
        torch.set_num_threads(PICTURE_THREADS)
        for method, calls in time_methods(model, image, args.repeats).items():
            one_picture.append({"model": f"{kind}/{name}", "method": method, "median_ms": round(1000 * median(calls), 1),
                                "max_ms": round(1000 * max(calls), 1)})
            log(f"  {kind}/{name} {method}: {one_picture[-1]['median_ms']} ms median")
        torch.set_num_threads(2)
        started = time.perf_counter()
        rows = localization_table(model, preset.model_config, data.val, limit=args.pictures)
        seconds = time.perf_counter() - started
        localization.append({"model": f"{kind}/{name}", "pictures": rows[0].pictures, "seconds": round(seconds, 1),
                             "seconds_per_100_pictures": round(100 * seconds / max(rows[0].pictures, 1), 2),
                             "methods": sorted({row.method for row in rows})})
        log(f"  {kind}/{name} localization: {seconds:.1f} s for {rows[0].pictures} pictures")
    worst = max(entry["max_ms"] for entry in one_picture)
    print_table(f"One explanation of one 64x64 picture ({PICTURE_THREADS} thread; target <= {TARGET_MS:g} ms)",
                ["model", "method", "median ms", "worst ms"],
                [[entry["model"], entry["method"], entry["median_ms"], entry["max_ms"]] for entry in one_picture])
    print_table("Localization scores (every method x trained, untrained, randomized; 2 threads)",
                ["model", "pictures", "seconds", "s per 100 pictures", "projected s for 2,500"],
                [[entry["model"], entry["pictures"], entry["seconds"], entry["seconds_per_100_pictures"],
                  round(entry["seconds_per_100_pictures"] * 25)] for entry in localization])
    print_json_line({"bench": "explanation_speed", "one_picture": one_picture, "worst_ms": worst,
                     "target_ms": TARGET_MS, "target_met": worst <= TARGET_MS, "localization": localization,
                     "repeats": args.repeats, "torch": torch.__version__, "cpu": cpu_name()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
