"""Epoch time on a GPU: seconds per training epoch and train img/s of each preset, data resident, bf16 autocast.

    python bench/gpu_epoch.py                                   # vit/classroom vit/best cnn/best, 4 epochs each
    python bench/gpu_epoch.py --presets vit/homework --epochs 2
    python bench/gpu_epoch.py --data synthetic                  # no dataset needed (same image count and size)
    python bench/gpu_epoch.py --quick                           # tiny synthetic set on the CPU (smoke run)

Protocol, per preset, in this process:
1. the dataset is loaded (from the tensor cache when it is filled) and `vitcore.train.engine.fit`
   trains the preset's model with the preset's own recipe (batch size, optimizer, augmentation),
   but with `data_on_device=True` (the uint8 images are copied to the GPU once, so a step
   never waits for the host), `amp="bf16"` (autocast) and `--epochs` epochs;
2. fit's `on_event` hook stamps the time when the LAST step of each epoch ends
   (after `torch.cuda.synchronize()`, so its queued kernels count) and when that epoch's
   validation ends;
3. training seconds of epoch e = end of its last step - end of epoch e-1's validation. Epoch 1
   counts from the call of fit, so it also holds the copy of the data to the GPU and the
   first-call kernel set-up: it is reported apart, as `first_epoch_s`;
4. `epoch_s` = the median training seconds of epochs 2..E, `train_img_s` = train images /
   `epoch_s`, `val_s` = the median validation seconds (2,500 images at 64x64 for coco5-64).
Accuracy is not reported: the schedules are squeezed into --epochs, so it means nothing here
(bench/accuracy.py --device cuda measures it).

Target (issue #5): one epoch of the 7.5k train images in <= 1 s on an H100-class GPU.

Output: a table, then ONE JSON line (last stdout line): "results", one record per preset
(preset, batch_size, steps_per_epoch, epochs, first_epoch_s, epoch_s, epoch_s_all, train_img_s,
val_s, params), and device, gpu, torch, train_images, val_images, data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: make `bench` and `vitcore` importable

from bench.common import load_bench_data, log, print_json_line, print_table  # noqa: E402

DEFAULT_PRESETS = ["vit/classroom", "vit/best", "cnn/best"]  # the presets the issue names, plus the CNN best
ALL_PRESETS = ["vit/classroom", "vit/best", "vit/homework", "cnn/hw4", "cnn/best"]  # "kind/name"


def synchronize(device) -> None:
    """Wait for the queued GPU work (no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_preset(preset_name: str, data, epochs: int, device, seed: int) -> dict:
    """Train one preset for `epochs` epochs; per-epoch training and validation seconds."""
    import torch

    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset
    from vitcore.train.engine import fit, steps_per_epoch_for

    kind, name = preset_name.split("/")
    preset = get_preset(kind, name, num_classes=len(data.class_names), image_size=data.image_size)
    train_config = replace(preset.train_config, epochs=epochs, seed=seed, device=str(device),
                           data_on_device=True, amp="bf16" if device.type == "cuda" else "off")
    torch.manual_seed(seed)
    model = build_model(preset.model_config)
    stamps: list[tuple[str, float]] = []  # ("steps_done" | "validated", perf_counter)

    def on_event(event: dict) -> None:
        if event["type"] == "iteration" and event["step"] == event["steps_per_epoch"]:
            synchronize(device)  # the last step's backward and optimizer step are still queued
            stamps.append(("steps_done", time.perf_counter()))
        elif event["type"] == "epoch":
            stamps.append(("validated", time.perf_counter()))  # validation ends with .item(): already synchronised

    start = time.perf_counter()
    result = fit(model, data, train_config, on_event=on_event)
    if result.status != "finished":
        raise RuntimeError(f"{preset_name}: {result.message}")
    steps_done = [moment for kind_, moment in stamps if kind_ == "steps_done"]
    validated = [moment for kind_, moment in stamps if kind_ == "validated"]
    epoch_starts = [start] + validated[:-1]
    train_seconds = [done - began for began, done in zip(epoch_starts, steps_done)]
    val_seconds = [end - done for done, end in zip(steps_done, validated)]
    steady = train_seconds[1:] or train_seconds  # epoch 1 holds the set-up
    epoch_s = statistics.median(steady)
    steps_per_epoch = steps_per_epoch_for(len(data.train), train_config)
    return {
        "preset": preset_name,
        "batch_size": train_config.batch_size,
        "steps_per_epoch": steps_per_epoch,
        "epochs": epochs,
        "first_epoch_s": round(train_seconds[0], 3),
        "epoch_s": round(epoch_s, 3),
        "epoch_s_all": [round(seconds, 3) for seconds in train_seconds],
        "train_img_s": round(len(data.train) / epoch_s, 1),
        "val_s": round(statistics.median(val_seconds), 3),
        "params": sum(parameter.numel() for parameter in model.parameters()),
    }


def load_data(args):
    """The dataset to time: --quick's 40 synthetic images, --data, or $VIT_CLASSROOM_DATA/coco5-64 (exits 2 if missing)."""
    if args.quick:
        from vitcore.data.synthetic import generate_synthetic

        return generate_synthetic(train_per_class=8, val_per_class=4, image_size=64, seed=0)
    return load_bench_data(args.data, args.cache_dir)[0]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder, or 'synthetic' (default: $VIT_CLASSROOM_DATA/coco5-64)")
    parser.add_argument("--presets", nargs="+", default=None, choices=ALL_PRESETS, help="kind/name, e.g. vit/best")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per preset; the first is reported apart (default 4)")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:1, or cpu to time the CPU anyway")
    parser.add_argument("--seed", type=int, default=0, help="weights, shuffling and augmentation seed")
    parser.add_argument("--cache-dir", type=Path, default=None, help="tensor cache folder (default: VIT_CLASSROOM_CACHE or data/cache)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 synthetic images on the CPU, 2 epochs")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    presets = args.presets or (["vit/classroom", "cnn/hw4"] if args.quick else DEFAULT_PRESETS)
    if args.quick:
        args.device, args.epochs = "cpu", min(args.epochs, 2)

    import torch

    from vitcore.device import describe_device, resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"error: {error} (this benchmark times a GPU; pass --device cpu to time the CPU anyway)", file=sys.stderr)
        return 2
    if args.quick:
        torch.set_num_threads(1)
    data = load_data(args)
    records = []
    for preset_name in presets:
        log(f"  {preset_name}: {args.epochs} epochs on {describe_device(device)}")
        records.append(time_preset(preset_name, data, args.epochs, device, args.seed))
        log(f"  {preset_name}: {records[-1]['epoch_s']:.3f} s per epoch ({records[-1]['train_img_s']:.0f} img/s)")
    source = "quick-synthetic" if args.quick else data.source

    headers = ["preset", "batch", "steps/epoch", "first epoch s", "epoch s", "train img/s", "val s", "params"]
    rows = [[r["preset"], r["batch_size"], r["steps_per_epoch"], r["first_epoch_s"], r["epoch_s"], r["train_img_s"],
             r["val_s"], r["params"]] for r in records]
    print_table(f"epoch time on {describe_device(device)} ({source}; {len(data.train)} train images, data on the device, "
                f"{'bf16 autocast' if device.type == 'cuda' else 'fp32'})", headers, rows)
    print_json_line({
        "bench": "gpu_epoch", "device": device.type, "gpu": describe_device(device), "torch": torch.__version__,
        "data": source, "train_images": len(data.train), "val_images": len(data.val), "quick": args.quick,
        "results": records,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
