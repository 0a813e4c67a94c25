"""How long `load_folder_dataset` takes the first time (decode every JPEG) and the second time (tensor cache).

Both loads use the SAME fresh temporary cache folder, so:
- the first load is a cold DECODE (the cache is empty: every image is decoded,
  resized and then written to the cache);
- the second load is warm (one `torch.load(weights_only=True)` of the cache file).
Nothing is cleared: the operating system's file cache is left alone, so the
JPEG bytes themselves may already be in memory ("cold" means cold decode, not
cold disk). Your own cache folder is never touched.

Each load runs in its own child process, so its peak resident memory
(resource.getrusage ru_maxrss, which never goes down) belongs to that load alone;
`baseline_rss_mb` is the child's peak right after importing torch and vitcore.
With --quick or --in-process both loads run in this process instead (quicker to
start; the warm peak then includes the cold one).
The two loads must return identical tensors (a sha1 over images and labels).

Run:  .venv/bin/python bench/cache_load.py [--data PATH] [--in-process] [--quick]
      (default PATH: $VIT_CLASSROOM_DATA/coco5-64)
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import (  # noqa: E402
    cpu_name,
    default_data_root,
    log,
    parse_last_json_line,
    peak_rss_mb,
    print_json_line,
    print_table,
    time_call,
)

QUICK_CLASSES = ("cat", "dog")  # class folders of the generated --quick dataset
QUICK_TRAIN_PER_CLASS = 6  # generated training JPEGs per class
QUICK_VAL_PER_CLASS = 3  # generated validation JPEGs per class
QUICK_SOURCE_SIZE = 96  # side of the generated JPEGs (they are resized to --image-size when loaded)


def write_quick_folder(root: Path, seed: int = 0) -> int:
    """Write a tiny ROOT/{train,val}/<class>/*.jpg folder of random-noise JPEGs; returns the image count."""
    import numpy as np
    from PIL import Image

    generator = np.random.default_rng(seed)
    count = 0
    for split, per_class in (("train", QUICK_TRAIN_PER_CLASS), ("val", QUICK_VAL_PER_CLASS)):
        for class_name in QUICK_CLASSES:
            folder = root / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                pixels = generator.integers(0, 256, size=(QUICK_SOURCE_SIZE, QUICK_SOURCE_SIZE, 3), dtype=np.uint8)
                Image.fromarray(pixels, mode="RGB").save(folder / f"{class_name}_{index:03d}.jpg", quality=90)
                count += 1
    return count


def tensor_digest(data) -> str:
    """sha1 over the images and labels of both splits (equal digests = identical tensors)."""
    digest = hashlib.sha1()
    for split in (data.train, data.val):
        digest.update(split.images.contiguous().numpy().tobytes())
        digest.update(split.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_one_load(data_root: Path, cache_dir: Path, image_size: int, threads: int) -> dict:
    """Child process: one timed load_folder_dataset call, with its memory and a digest of the result."""
    import torch

    from vitcore.data.folder import load_folder_dataset

    torch.set_num_threads(threads)
    baseline_rss = peak_rss_mb()  # after importing torch and vitcore, before any image
    result = {}

    def load() -> None:
        result["data"] = load_folder_dataset(data_root, image_size=image_size, cache_dir=cache_dir)

    seconds = time_call(load)
    peak_rss = peak_rss_mb()
    data = result["data"]
    cache_files = sorted(cache_dir.glob("*.pt"))
    return {
        "seconds": round(seconds, 4),
        "images": len(data.train) + len(data.val),
        "train_images": len(data.train),
        "val_images": len(data.val),
        "skipped_files": len(data.skipped_files),
        "peak_rss_mb": round(peak_rss, 1),
        "baseline_rss_mb": round(baseline_rss, 1),
        "cache_files": len(cache_files),
        "cache_mb": round(sum(path.stat().st_size for path in cache_files) / 2**20, 2),
        "digest": tensor_digest(data),
        "torch": torch.__version__,
    }


def run_child(phase: str, data_root: Path, cache_dir: Path, image_size: int, threads: int) -> dict:
    """Run one load in a fresh Python process and return its JSON result."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--child",
        "--data", str(data_root), "--cache-dir", str(cache_dir),
        "--image-size", str(image_size), "--threads", str(threads),
    ]
    log(f"[{phase}] loading {data_root} ...")
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"the {phase} load failed (exit code {completed.returncode}).")
    measurement = parse_last_json_line(completed.stdout)
    log(f"[{phase}] {measurement['images']} images in {measurement['seconds']:.2f} s")
    return measurement


def measure(data_root: Path, image_size: int, threads: int, isolate: bool = True) -> dict:
    """Cold then warm load with one fresh temporary cache folder; returns the result record.

    isolate=True runs each load in its own child process (separate peak RSS, no
    warm imports); False runs both here (faster to start, but the warm load's
    peak RSS then includes the cold load's).
    """
    with tempfile.TemporaryDirectory(prefix="vit-bench-cache-") as temporary:
        cache_dir = Path(temporary)
        if isolate:
            cold = run_child("cold", data_root, cache_dir, image_size, threads)
            warm = run_child("warm", data_root, cache_dir, image_size, threads)
        else:
            cold = run_one_load(data_root, cache_dir, image_size, threads)
            warm = run_one_load(data_root, cache_dir, image_size, threads)
    return {
        "bench": "cache_load",
        "data": str(data_root),
        "image_size": image_size,
        "threads": threads,
        "isolated": isolate,
        "images": cold["images"],
        "cold_load_s": cold["seconds"],
        "warm_load_s": warm["seconds"],
        "speedup": round(cold["seconds"] / warm["seconds"], 1) if warm["seconds"] > 0 else None,
        "cold_img_s": round(cold["images"] / cold["seconds"], 1) if cold["seconds"] > 0 else None,
        "cold_peak_rss_mb": cold["peak_rss_mb"],
        "warm_peak_rss_mb": warm["peak_rss_mb"],
        "baseline_rss_mb": cold["baseline_rss_mb"],
        "cache_mb": cold["cache_mb"],
        "cache_files": warm["cache_files"],
        "skipped_files": cold["skipped_files"],
        "same_tensors": cold["digest"] == warm["digest"] and cold["images"] == warm["images"],
        "torch": cold["torch"],
        "python": platform.python_version(),
        "cpu": cpu_name(),
    }


def print_report(record: dict) -> None:
    """The readable table (one row per load)."""
    title = (
        f"load_folder_dataset on {record['data']} ({record['images']} images -> "
        f"{record['image_size']}x{record['image_size']}, cache {record['cache_mb']} MiB, "
        f"identical tensors: {record['same_tensors']}; {record['cpu']})"
    )
    rows = [
        ["first (cold decode)", record["cold_load_s"], record["cold_img_s"], record["cold_peak_rss_mb"]],
        ["second (warm cache)", record["warm_load_s"], None, record["warm_peak_rss_mb"]],
    ]
    rows = [[value if value is not None else "" for value in row] for row in rows]
    headers = ["load", "seconds", "img/s", "peak RSS MiB"]
    print_table(title, headers, rows)
    print(f"speed-up {record['speedup']}x; RSS after imports only: {record['baseline_rss_mb']} MiB\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder (default $VIT_CLASSROOM_DATA/coco5-64)")
    parser.add_argument("--image-size", type=int, default=64, help="side of the decoded images (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny generated folder of JPEGs, both loads in this process (smoke test)"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="run both loads in this process instead of one child process each"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # internal: one load, JSON out
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)  # internal: the child's cache folder
    return parser.parse_args(argv)


def resolve_data_root(data: str | None) -> Path:
    """--data, or $VIT_CLASSROOM_DATA/coco5-64; exits with a clear message when missing."""
    if data is not None:
        return Path(data).expanduser()
    shared = default_data_root()
    if shared is None or not (shared / "coco5-64").is_dir():
        raise SystemExit("no dataset: pass --data PATH or set VIT_CLASSROOM_DATA to the folder holding coco5-64/.")
    return shared / "coco5-64"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_one_load(Path(args.data), Path(args.cache_dir), args.image_size, args.threads)))
        return
    if args.quick:
        with tempfile.TemporaryDirectory(prefix="vit-bench-data-") as temporary:
            data_root = Path(temporary) / "quick"
            write_quick_folder(data_root)
            record = measure(data_root, args.image_size, args.threads, isolate=False)
        record["quick"] = True
    else:
        record = measure(resolve_data_root(args.data), args.image_size, args.threads, isolate=not args.in_process)
    print_report(record)
    print_json_line(record)


if __name__ == "__main__":
    main()
