"""Accuracy of every preset: train from scratch for several seeds, evaluate on the full and de-duplicated val split.

    .venv/bin/python bench/accuracy.py                                  # all presets, 3 seeds, coco5-64
    .venv/bin/python bench/accuracy.py --presets vit/classroom cnn/best --seeds 2 --epochs 5
    .venv/bin/python bench/accuracy.py --max-train-images 2000 --device cuda
    .venv/bin/python bench/accuracy.py --presets vit/best --set train.mixup_alpha=0.2 model.drop_path=0.2   # an ablation
    .venv/bin/python bench/accuracy.py --presets cnn/best vit/distilled # the CNN, then a ViT it teaches (DeiT)
    .venv/bin/python bench/accuracy.py --quick                          # tiny synthetic folder, 1 epoch (smoke run)

For each preset (`vitcore.presets.get_preset`) and each seed --first-seed .. --first-seed + --seeds - 1 (default 0..2):
1. build the preset's model (weights seeded by the seed) and train it with the preset's
   own recipe (`vitcore.train.engine.fit`; --epochs overrides the epoch count) on the
   train split (--max-train-images: a seeded random subset of it);
2. evaluate (eval mode, no augmentation) on
   - the full val split,
   - the de-duplicated val split: val images whose file name is multi-label (filed under
     two classes) or leaked (also in train/) are dropped, using
     `vitcore.data.report.build_report(root).names_to_drop(True, True)`,
   - the train split it was trained on ("final train accuracy"), giving the
     train/val gap = train accuracy - full val accuracy.
--set FIELD=VALUE (repeatable) changes one field of the preset's recipe for an ablation:
`train.<TrainConfig field>` or `model.<ViTConfig/CNNConfig field>`; VALUE is read as JSON
(0.2, 60, true, null) and otherwise taken as a string ("strong"). The changes are shown
next to the preset name and recorded under "overrides".
`vit/distilled` needs a teacher: for each seed, the --teacher preset (default cnn/best) trained with
that seed and its own unchanged recipe (--teacher-epochs overrides its epochs; --set and --epochs do not
touch it). When that same preset, unchanged, ran earlier in this invocation, its trained model is reused;
otherwise it is trained first. The teacher's val accuracy and seconds are recorded beside the student's
(`teacher_val_acc`, `teacher_seconds`): the student's seconds do not include the teacher's.
Reported per preset: mean ± sample std over seeds, the seconds one seed took, and per seed the
peak RSS of the benchmark process so far (`peak_rss_mb`; it never decreases, so the FIRST preset's
figure is that preset's own peak: run a preset alone to measure its memory).

Runs from a fresh clone: no install, no prepared cache (the tensor cache is filled on
the first load), no run folders are written. --quick needs no dataset at all.

Output: a table, then ONE JSON line (last stdout line) with one record per preset.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: make `bench` and `vitcore` importable

from bench.common import load_bench_data, log, print_json_line, print_table  # noqa: E402

# "kind/name"; cnn/best runs before vit/distilled, which reuses its trained models as teachers
ALL_PRESETS = ["vit/classroom", "cnn/hw4", "cnn/best", "vit/best", "vit/distilled", "vit/homework"]
QUICK_PRESETS = ["vit/classroom", "cnn/hw4"]  # --quick default: the two cheapest recipes


def mean_and_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def subset_split(split, indices):
    """The images of `split` at `indices` (a (n,) long tensor), names and masks included."""
    from vitcore.data.dataset import ImageSplit

    return ImageSplit(
        images=split.images[indices],  # (n, 3, S, S)
        labels=split.labels[indices],  # (n,)
        names=[split.names[i] for i in indices.tolist()],
        masks=None if split.masks is None else split.masks[indices],
    )


def dedup_val_split(split, data_root: Path | None):
    """The val split without multi-label and leaked file names (unchanged for the synthetic set)."""
    import torch

    if data_root is None:
        return split, 0
    from vitcore.data.report import build_report

    drop = build_report(data_root).names_to_drop(True, True)  # bare file names
    keep = [index for index, name in enumerate(split.names) if name.split("/")[-1] not in drop]
    return subset_split(split, torch.tensor(keep, dtype=torch.long)), len(split) - len(keep)


def parse_overrides(assignments: list[str]) -> dict[str, dict]:
    """["train.epochs=60", "model.drop_path=0.2"] -> {"train": {"epochs": 60}, "model": {"drop_path": 0.2}}."""
    import json

    overrides: dict[str, dict] = {"train": {}, "model": {}}
    for assignment in assignments:
        target, separator, text = assignment.partition("=")
        section, dot, field = target.partition(".")
        if not separator or not dot or section not in overrides or not field:
            raise ValueError(f"--set takes train.FIELD=VALUE or model.FIELD=VALUE, got {assignment!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text  # a bare word such as strong or adamw
        overrides[section][field] = value
    return overrides


def describe_overrides(overrides: dict[str, dict]) -> str:
    """ "train.mixup_alpha=0.2 model.drop_path=0.2" ("" when nothing changed)."""
    return " ".join(f"{section}.{field}={value}" for section, changes in overrides.items() for field, value in changes.items())


def recipe(kind: str, name: str, overrides: dict[str, dict], num_classes: int = 5, image_size: int = 64):
    """(model config, train config) of preset kind/name with the --set changes applied."""
    from vitcore.presets import get_preset

    preset = get_preset(kind, name, num_classes=num_classes, image_size=image_size)
    preset = preset.with_overrides(model=overrides["model"], train=overrides["train"])
    return preset.model_config, preset.train_config


def run_one_seed(kind: str, name: str, seed: int, data, val_dedup, args, overrides: dict[str, dict] | None = None,
                 epochs: int | None = None, teacher=None) -> tuple[dict, object]:
    """Train preset kind/name once with `seed` (`overrides`: args.overrides; `epochs`: args.epochs when None);
    (accuracies on full val, de-duplicated val and train, the trained model)."""
    from dataclasses import replace

    import torch

    from vitcore.device import resolve_device
    from vitcore.evaluate import loss_and_accuracy
    from vitcore.models.factory import build_model
    from vitcore.train.engine import fit

    overrides = args.overrides if overrides is None else overrides
    epochs = args.epochs if epochs is None else epochs
    model_config, train_config = recipe(kind, name, overrides, len(data.class_names), data.image_size)
    changes = {"seed": seed, "device": args.device, "num_threads": args.threads}
    if epochs is not None:
        changes["epochs"] = epochs
    train_config = replace(train_config, **changes)
    device = resolve_device(args.device)
    torch.manual_seed(seed)
    model = build_model(model_config)
    start = time.perf_counter()
    def log_epoch(event: dict) -> None:  # progress on stderr: the long presets run for tens of minutes
        if event["type"] == "epoch":
            # Train accuracy here is the running one over the epoch's augmented (and mixed) batches: a cut-off
            # run's log still shows the gap's trend, though the final report re-measures it without augmentation.
            log(f"    {kind}/{name} seed {seed} epoch {event['epoch']}: val {event['val_acc']:.4f}, "
                f"running train {event['train_acc']:.4f} ({time.perf_counter() - start:.0f} s)")

    result = fit(model, data, train_config, on_event=log_epoch, teacher=teacher)
    if result.status != "finished":
        raise RuntimeError(f"{kind}/{name} seed {seed}: {result.message}")
    train_seconds = time.perf_counter() - start
    batch = train_config.eval_batch_size
    val_acc = loss_and_accuracy(model, data.val, device, batch)[1]
    val_tta_acc = loss_and_accuracy(model, data.val, device, batch, flip_tta=True)[1]  # plus each picture's mirror image
    dedup_acc = loss_and_accuracy(model, val_dedup, device, batch)[1]
    train_acc = loss_and_accuracy(model, data.train, device, batch)[1]
    log(f"  {kind}/{name} seed {seed}: val {val_acc:.4f}  val with flip TTA {val_tta_acc:.4f}  dedup val {dedup_acc:.4f}  "
        f"train {train_acc:.4f}  ({train_seconds:.1f} s, {train_config.epochs} epochs)")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kB
    record = {"seed": seed, "val_acc": val_acc, "val_tta_acc": val_tta_acc, "dedup_val_acc": dedup_acc, "train_acc": train_acc,
              "seconds": train_seconds,
              "epochs": train_config.epochs, "device": device.type, "peak_rss_mb": round(peak_rss_mb, 1)}
    return record, model


NO_OVERRIDES: dict[str, dict] = {"train": {}, "model": {}}  # a preset's own recipe


class TrainedModels:
    """The models this invocation trained with a preset's own recipe, so vit/distilled reuses them as teachers.

    Keyed by (preset, seed, epochs override); only unchanged recipes (no --set) are kept.
    """

    def __init__(self):
        self.by_key: dict[tuple, tuple[dict, object]] = {}  # (preset, seed, epochs) -> (its record, its model)

    def remember(self, preset_name: str, seed: int, epochs: int | None, overrides: dict, record: dict, model) -> None:
        if overrides == NO_OVERRIDES:
            self.by_key[(preset_name, seed, epochs)] = (record, model)

    def teacher_for(self, seed: int, data, val_dedup, args) -> tuple[dict, object]:
        """(the teacher's record, the teacher) for `seed`: reused when already trained, else trained now."""
        key = (args.teacher, seed, args.teacher_epochs)
        if key not in self.by_key:
            log(f"  training the teacher {args.teacher} seed {seed} for vit/distilled")
            kind, name = args.teacher.split("/")
            self.by_key[key] = run_one_seed(kind, name, seed, data, val_dedup, args, NO_OVERRIDES, args.teacher_epochs)
        return self.by_key[key]


def run_preset(preset_name: str, data, val_dedup, args, trained: TrainedModels) -> list[dict]:
    """Every seed of one preset; a distilled preset gets each seed's teacher (and records its figures)."""
    kind, name = preset_name.split("/")
    model_config, _ = recipe(kind, name, args.overrides, len(data.class_names), data.image_size)
    needs_teacher = getattr(model_config, "distillation", False)  # a ViT with a distillation token (vit/distilled)
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        teacher_record, teacher = (None, None)
        if needs_teacher:
            teacher_record, teacher = trained.teacher_for(seed, data, val_dedup, args)
        record, model = run_one_seed(kind, name, seed, data, val_dedup, args, teacher=teacher)
        if teacher_record is not None:
            record.update(teacher=args.teacher, teacher_val_acc=teacher_record["val_acc"],
                          teacher_val_tta_acc=teacher_record["val_tta_acc"], teacher_seconds=teacher_record["seconds"])
        trained.remember(preset_name, seed, args.epochs, args.overrides, record, model)
        runs.append(record)
    return runs


def teacher_note(record: dict) -> str:
    """ "(teacher cnn/best: val 0.7340, 1800 s)" for a distilled preset's table row, else ""."""
    if "teacher" not in record:
        return ""
    return (f"(teacher {record['teacher']}: val {record['teacher_val_acc_mean']:.4f}, "
            f"{record['teacher_seconds_per_seed']:.0f} s)")


def json_number(value: float) -> float | None:
    """Rounded to 4 decimals; NaN (an empty split) becomes None, which JSON can hold."""
    return None if value != value else round(value, 4)


def summarise(preset_name: str, runs: list[dict], overrides: dict[str, dict]) -> dict:
    """One JSON record for a preset from its per-seed runs."""
    record: dict = {"preset": preset_name, "overrides": overrides, "seeds": len(runs), "epochs": runs[0]["epochs"],
                    "device": runs[0]["device"]}
    for key in ("val_acc", "val_tta_acc", "dedup_val_acc", "train_acc"):
        mean, std = mean_and_std([run[key] for run in runs])
        record[f"{key}_mean"], record[f"{key}_std"] = json_number(mean), json_number(std)
    gap_mean, gap_std = mean_and_std([run["train_acc"] - run["val_acc"] for run in runs])
    record["gap_mean"], record["gap_std"] = json_number(gap_mean), json_number(gap_std)
    record["seconds_per_seed"] = round(statistics.fmean(run["seconds"] for run in runs), 2)
    if "teacher" in runs[0]:  # a distilled ViT: its teachers' figures beside its own
        record["teacher"] = runs[0]["teacher"]
        record["teacher_val_acc_mean"] = json_number(statistics.fmean(run["teacher_val_acc"] for run in runs))
        record["teacher_seconds_per_seed"] = round(statistics.fmean(run["teacher_seconds"] for run in runs), 2)
    record["per_seed"] = [{key: (json_number(value) if isinstance(value, float) else value) for key, value in run.items()}
                          for run in runs]
    return record


def quick_folder(out_root: Path, leaked: int = 3) -> Path:
    """A tiny 5-class synthetic image folder with `leaked` train files copied into val/ (so dedup has work)."""
    import shutil

    from vitcore.data.synthetic import generate_synthetic, write_synthetic_folder

    data = generate_synthetic(train_per_class=16, val_per_class=8, image_size=64, seed=0)
    for split_name, split in (("train", data.train), ("val", data.val)):  # unique file names across splits
        split.names = [f"synthetic/{split_name}-{name.rsplit('/', 1)[-1]}" for name in split.names]
    write_synthetic_folder(data, out_root)
    for path in sorted((out_root / "train").glob("*/*.png"))[:leaked]:
        shutil.copy(path, out_root / "val" / path.parent.name / path.name)
    return out_root


def plus_minus(record: dict, key: str) -> str:
    """ "0.5123 ± 0.0100" for a table cell ("-" when the split was empty)."""
    mean, std = record[f"{key}_mean"], record[f"{key}_std"]
    return "-" if mean is None else f"{mean:.4f} ± {std:.4f}"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder, or 'synthetic' (default: $VIT_CLASSROOM_DATA/coco5-64)")
    parser.add_argument("--presets", nargs="+", default=None, choices=ALL_PRESETS, help="kind/name, e.g. vit/best")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per preset (default 3; 1 with --quick)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one upward (to add seeds to an earlier run)")
    parser.add_argument("--epochs", type=int, default=None, help="override every preset's epoch count")
    parser.add_argument("--max-train-images", type=int, default=None, help="train on a seeded random subset this big")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 2; 1 with --quick)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="tensor cache folder (default: VIT_CLASSROOM_CACHE or data/cache)")
    parser.add_argument("--set", dest="assignments", nargs="+", action="extend", default=[], metavar="FIELD=VALUE",
                        help="ablation: change one recipe field, train.FIELD=VALUE or model.FIELD=VALUE (JSON value)")
    parser.add_argument("--teacher", default="cnn/best", choices=[p for p in ALL_PRESETS if p.startswith("cnn/")],
                        help="vit/distilled's teacher: this CNN preset trained with the same seed (default cnn/best)")
    parser.add_argument("--teacher-epochs", type=int, default=None,
                        help="the teacher's epochs (default: its preset's; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny synthetic folder, 1 epoch, 1 seed")
    args = parser.parse_args(argv)
    try:
        args.overrides = parse_overrides(args.assignments)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.epochs = 1 if args.epochs is None else args.epochs
        args.max_train_images = args.max_train_images or 40
        args.teacher_epochs = 1 if args.teacher_epochs is None else args.teacher_epochs
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.threads = args.threads or (1 if args.quick else 2)
    presets = args.presets or (QUICK_PRESETS if args.quick else ALL_PRESETS)

    import torch

    from vitcore.data.sources import load_dataset

    for preset_name in presets:  # a misspelt --set fails here, before minutes of data loading and training
        try:
            recipe(*preset_name.split("/"), args.overrides)
        except (TypeError, ValueError) as error:
            print(f"error: {preset_name}: {error}", file=sys.stderr)
            return 2

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="accuracy-") as scratch:
        cache_dir = args.cache_dir
        if args.quick and args.data is None:
            data_root, cache_dir = quick_folder(Path(scratch) / "data"), Path(scratch) / "cache"
            log(f"loading the quick folder {data_root}")
            data = load_dataset(str(data_root), cache_dir=cache_dir)
        else:
            data, data_root = load_bench_data(args.data, cache_dir)
        val_dedup, dropped = dedup_val_split(data.val, data_root)
        if args.max_train_images is not None and args.max_train_images < len(data.train):
            order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(1234))
            data.train = subset_split(data.train, order[: args.max_train_images])
        log(f"{len(data.train)} train images, {len(data.val)} val images ({len(val_dedup)} after dropping {dropped} "
            "multi-label/leaked)")
        records, trained = [], TrainedModels()
        for preset_name in presets:
            records.append(summarise(preset_name, run_preset(preset_name, data, val_dedup, args, trained), args.overrides))

    headers = ["preset", "seeds", "epochs", "val acc", "val acc, flip TTA", "dedup val acc", "train acc", "train-val gap",
               "s/seed", "device"]
    rows = [
        [
            " ".join(filter(None, [record["preset"], describe_overrides(record["overrides"]), teacher_note(record)])),
            record["seeds"], record["epochs"],
            plus_minus(record, "val_acc"), plus_minus(record, "val_tta_acc"), plus_minus(record, "dedup_val_acc"),
            plus_minus(record, "train_acc"),
            plus_minus(record, "gap"),
            record["seconds_per_seed"], record["device"],
        ]
        for record in records
    ]
    print_table(f"accuracy from scratch ({data.source}; {len(data.train)} train images)", headers, rows)
    print_json_line({
        "bench": "accuracy", "data": "quick-synthetic" if args.quick and args.data is None else data.source,
        "train_images": len(data.train), "val_images": len(data.val), "dedup_val_images": len(val_dedup),
        "threads": args.threads, "quick": args.quick, "results": records,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
