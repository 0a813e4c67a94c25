"""How fast the embedded synthetic dataset is drawn (default: the full 10k-image set).

`vitcore.data.synthetic.generate_synthetic` draws every image on the CPU in this
process (one core). Wall time depends on how busy the machine is, so the CPU time
of this process is reported too: on a shared machine it is the better measure
of the work itself.

Run:  .venv/bin/python bench/synthetic_speed.py [--train-per-class 1500] [--val-per-class 500]
                                                [--image-size 64] [--seed 0] [--quick]
Output: a table per class, then one JSON line with `bench` ("synthetic_speed"),
`images`, `seconds`, `images_per_s`, `cpu_seconds`, `image_size`, `dataset_id`,
`load_average_1min`, `python`, `cpu` (and `quick` with --quick).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import cpu_name, log, print_json_line, print_table  # noqa: E402
from vitcore.data.synthetic import generate_synthetic  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the embedded synthetic dataset generation.")
    parser.add_argument("--train-per-class", type=int, default=1500, help="training images per class")
    parser.add_argument("--val-per-class", type=int, default=500, help="validation images per class")
    parser.add_argument("--image-size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--quick", action="store_true", help="20 + 4 images per class (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.train_per_class, args.val_per_class = 20, 4

    def report(done: int, total: int, message: str) -> None:
        if done % 1000 == 0 or done == total:
            log(f"{message}: {done}/{total}")

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    data = generate_synthetic(args.train_per_class, args.val_per_class, args.image_size, args.seed, progress=report)
    seconds = time.perf_counter() - wall_start
    cpu_seconds = time.process_time() - cpu_start
    images = len(data.train) + len(data.val)

    coverage = data.train.masks.float().mean(dim=(1, 2))  # (N,) fraction of each image covered by its object
    rows = []
    for label, name in enumerate(data.class_names):
        in_class = data.train.labels == label
        rows.append([name, int(in_class.sum()), int((data.val.labels == label).sum()),
                     100.0 * float(coverage[in_class].mean())])
    print_table(f"synthetic set {data.dataset_id}: {images} images in {seconds:.1f} s wall "
                f"({cpu_seconds:.1f} s CPU), {images / seconds:.0f} images/s",
                ["class", "train", "val", "mask %"], rows)

    record = {
        "bench": "synthetic_speed",
        "images": images,
        "seconds": round(seconds, 3),
        "images_per_s": round(images / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 3),
        "image_size": args.image_size,
        "dataset_id": data.dataset_id,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "cpu": cpu_name(),
    }
    if args.quick:
        record["quick"] = True
    print_json_line(record)


if __name__ == "__main__":
    main()
