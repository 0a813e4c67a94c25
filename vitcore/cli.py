"""Command line: `python -m vitcore data|train|eval|predict|explain ...`.

Every command answers bad arguments and missing paths with one clear line on
stderr and a non-zero exit code (2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vitcore.errors import VitcoreError
from vitcore.runs.store import default_runs_root

EXIT_USAGE = 2  # bad arguments, missing paths, bad input


class CliError(VitcoreError):
    """A problem with the command line itself (missing path, bad value)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an argument error is one line, not the usage block."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        raise CliError(f"{self.prog}: {message}")


def _existing_path(value: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"path does not exist: {value}")
    return path


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return number


def _float_argument(value: str, what: str = "a number") -> float:
    """`value` as a float, or the argparse error "expected <what>, got '<value>'"."""
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None


def _positive_float(value: str) -> float:
    number = _float_argument(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return number


def _fraction(text: str) -> float:
    """A share in (0, 1] for --train-fraction."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1 (e.g. 0.25), got {value}")
    return value


def _tqdm_progress(description: str):
    """A progress(done, total, message) callback drawing a tqdm bar on stderr.

    The bar is created on the first report, so a command that fails while
    validating its input prints only its one-line error.
    """
    from tqdm import tqdm

    bars: list = []  # holds the bar once the first report arrives

    def progress(done: int, total: int, message: str = "") -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=description, unit="img", leave=True, file=sys.stderr))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_postfix_str(message[:40], refresh=False)
        bar.refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    progress.close = close  # type: ignore[attr-defined]
    return progress


# ----------------------------------------------------------------------------- data


def cmd_data_report(args: argparse.Namespace) -> int:
    from vitcore.data.report import build_report

    report = build_report(args.root)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.summary_lines()))
    return 0


def cmd_data_build_coco(args: argparse.Namespace) -> int:
    from vitcore.data.coco_builder import CocoBuildConfig, build_from_coco

    if not args.download and args.images is None:
        raise CliError("give --images FOLDER with the COCO images, or --download to fetch them")
    config = CocoBuildConfig(
        annotations=args.annotations,
        output_root=args.out,
        image_dir=args.images,
        download=args.download,
        image_base_url=args.image_base_url,
        classes=tuple(args.classes),
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        image_size=args.size,
        policy=args.policy,
        allow_fewer=args.allow_fewer,
        masks=not args.no_masks,
    )
    progress = _tqdm_progress("building")
    try:
        manifest = build_from_coco(config, progress=progress)
    finally:
        progress.close()
    counts = manifest.get("counts", {})
    print(f"wrote {args.out} ({args.policy} policy): {json.dumps(counts)}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    from vitcore.data.synthetic import generate_synthetic, write_synthetic_folder

    progress = _tqdm_progress("rendering")
    try:
        data = generate_synthetic(
            train_per_class=args.train_per_class,
            val_per_class=args.val_per_class,
            image_size=args.size,
            seed=args.seed,
            progress=progress,
        )
    finally:
        progress.close()
    write_synthetic_folder(data, args.out)
    print(f"wrote {len(data.train)} train and {len(data.val)} val images to {args.out}")
    return 0


# ----------------------------------------------------------------------------- train


def _unit_interval(value: str) -> float:
    number = _float_argument(value)
    if not 0.0 <= number < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return number


def _mixing_strength(value: str) -> float:
    number = _float_argument(value)
    if not number >= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (0 turns it off), got {value}")
    return number


def _demo_pace(value: str) -> float:
    from vitcore.train.config import MAX_DEMO_PACE_S

    number = _float_argument(value, "a number of seconds")
    if not 0.0 <= number <= MAX_DEMO_PACE_S:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and {MAX_DEMO_PACE_S:g}, got {value}")
    return number


def cmd_train(args: argparse.Namespace) -> int:
    """Train a preset; under `torchrun --nproc_per_node=N` every process runs this, rank 0 writes the run."""
    from vitcore.train.distributed import init_distributed, launched_by_torchrun, shutdown_distributed

    context = init_distributed(args.device or "auto") if launched_by_torchrun() else None
    try:
        return _train_command(args, context)
    finally:
        shutdown_distributed(context)


def _train_command(args: argparse.Namespace, context) -> int:
    from functools import partial

    import torch
    import torch.distributed as dist

    from vitcore.data.sources import load_dataset
    from vitcore.presets import get_preset
    from vitcore.seeding import seed_everything
    from vitcore.train.distributed import per_rank_batch_size
    from vitcore.train.engine import fit
    from vitcore.models.factory import build_model, count_parameters
    from vitcore.models.config import config_to_dict
    from vitcore.runs.store import RunStore

    is_main = context is None or context.is_main  # only rank 0 writes files and prints
    data_source = None if args.data in (None, "synthetic") else str(_existing_path(args.data))

    def load():  # -> ClassificationData
        return load_dataset(data_source, drop_multilabel=args.drop_dirty, drop_leaked=args.drop_dirty, progress=None)

    if context is None:
        data = load()
    else:  # rank 0 fills the tensor cache first; the other ranks then read it instead of decoding again
        data = load() if is_main else None
        dist.barrier()
        data = data if is_main else load()
    vit_only_flags = {"attention": args.attention, "tokenizer": args.tokenizer, "stem-width": args.stem_width}
    given_vit_flags = [flag for flag, value in vit_only_flags.items() if value is not None]
    if args.model != "vit" and given_vit_flags:
        raise CliError(f"--{given_vit_flags[0]} only applies to --model vit")
    model_changes = {"attention": args.attention, "tokenizer": args.tokenizer, "stem_width": args.stem_width,
                     "dropout": args.dropout}
    train_changes = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "augmentation": args.augmentation,
        "mixup_alpha": args.mixup,
        "cutmix_alpha": args.cutmix,
        "max_train_batches_per_epoch": args.max_batches,
        "min_seconds_per_step": args.demo_pace,
        "train_fraction": args.train_fraction,
        "teacher_run": args.teacher,
    }
    preset = get_preset(args.model, args.preset, num_classes=len(data.class_names), image_size=data.image_size).with_overrides(
        model={key: value for key, value in model_changes.items() if value is not None},  # only the flags given
        train={key: value for key, value in train_changes.items() if value is not None},
    )
    model_config, train_config = preset.model_config, preset.train_config
    teacher = None
    if args.teacher is not None:
        if not getattr(model_config, "distillation", False):
            raise CliError("--teacher needs a ViT with a distillation token: --model vit --preset distilled")
        from vitcore.train.teacher import load_teacher

        teacher = load_teacher(RunStore(args.runs_dir), args.teacher, data, torch.device("cpu"))  # a bad teacher: one line
    if context is not None:
        per_rank_batch_size(train_config.batch_size, context.world_size)  # clear error before any run folder exists
    seed_everything(train_config.seed)  # the same initial weights for the same seed (and on every rank)
    model = build_model(model_config)
    run = None
    if is_main:
        store = RunStore(args.runs_dir)
        run = store.create_run(
            name=f"{args.model}-{args.preset}",
            model_config=config_to_dict(model_config),
            train_config=train_config.to_dict(),
            class_names=data.class_names,
            dataset_id=data.dataset_id,
            dataset_source=data.source,
            owner="cli",
        )
        processes = "" if context is None else f", {context.world_size} processes ({context.backend} on {context.device.type})"
        print(
            f"run {run.id}: {args.model}/{args.preset}, {count_parameters(model):,} parameters, "
            f"{len(data.train)} train / {len(data.val)} val images from {data.source}{processes}",
            file=sys.stderr,
        )
        result = _fit_with_progress_bar(partial(fit, distributed=context, teacher=teacher), model, data, train_config, run)
    else:
        result = fit(model, data, train_config, run=None, distributed=context, teacher=teacher)
    if is_main:
        summary = {"run": run.id, "status": result.status, "val_acc": result.final_val_acc, "message": result.message}
        if context is not None:
            fingerprints = result.replica_fingerprints
            summary.update(
                world_size=context.world_size,
                replicas_in_sync=bool(fingerprints) and len(set(fingerprints)) == 1,
                replica_fingerprints=fingerprints,
            )
        print(json.dumps(summary))
    return 0 if result.status == "finished" else 1


def _fit_with_progress_bar(fit, model, data, train_config, run, resume: bool = False):
    from tqdm import tqdm

    bar = tqdm(total=None, unit="batch", file=sys.stderr, desc="training")

    def on_event(event: dict) -> None:
        if event["type"] == "iteration":
            total = event["steps_per_epoch"] * train_config.epochs
            if bar.total != total:
                bar.total = total
            bar.n = (event["epoch"] - 1) * event["steps_per_epoch"] + event["step"]
            bar.set_postfix(loss=f"{event['loss']:.3f}", acc=f"{event['running_acc']:.2f}", refresh=False)
            bar.refresh()
        elif event["type"] == "epoch":
            bar.write(
                f"epoch {event['epoch']}: train acc {event['train_acc']:.3f}  val acc {event['val_acc']:.3f}  "
                f"val loss {event['val_loss']:.3f}  ({event['seconds']:.1f} s)"
            )
        elif event["type"] == "status" and event.get("message"):
            bar.write(f"[{event['status']}] {event['message']}")

    try:
        return fit(model, data, train_config, on_event=on_event, run=run, resume=resume)
    finally:
        bar.close()


def cmd_resume(args: argparse.Namespace) -> int:
    from functools import partial

    from vitcore.data.sources import load_dataset
    from vitcore.models.config import model_config_from_dict
    from vitcore.models.factory import build_model
    from vitcore.runs.store import RunStore
    from vitcore.train.config import TrainConfig
    from vitcore.train.engine import fit

    store = RunStore(args.runs_dir)
    run = store.get(args.run)
    config = run.config()
    data = load_dataset(_source_for_run(config))
    model = build_model(model_config_from_dict(config["model_config"]))
    train_config = TrainConfig.from_dict(config["train_config"])
    teacher = None
    if train_config.teacher_run:  # a distilled ViT: its teacher again
        import torch

        from vitcore.train.teacher import load_teacher

        teacher = load_teacher(store, train_config.teacher_run, data, torch.device("cpu"))
    result = _fit_with_progress_bar(partial(fit, teacher=teacher), model, data, train_config, run, resume=True)
    print(json.dumps({"run": run.id, "status": result.status, "val_acc": result.final_val_acc}))
    return 0 if result.status == "finished" else 1


def _source_for_run(config: dict) -> str | None:
    """The dataset a run was trained on: a folder path, or None for the embedded set."""
    source = config.get("dataset_source", "")
    return source if source and Path(source).is_dir() else None


# ----------------------------------------------------------------------------- eval / predict


def cmd_eval(args: argparse.Namespace) -> int:
    from vitcore.data.sources import load_dataset
    from vitcore.device import resolve_device
    from vitcore.evaluate import evaluate
    from vitcore.runs.checkpoint import load_model_from_run
    from vitcore.runs.store import RunStore

    device = resolve_device(args.device)
    run = RunStore(args.runs_dir).get(args.run)
    model, _, class_names = load_model_from_run(run, device)
    source = args.data if args.data else _source_for_run(run.config())
    data = load_dataset(source)
    if data.class_names != class_names:
        raise CliError(f"the data's classes {data.class_names} differ from the run's {class_names}")
    result = evaluate(model, data.val, class_names, device, flip_tta=args.tta)
    if args.json:
        print(json.dumps({**result.to_dict(), "flip_tta": args.tta}))
        return 0
    with_tta = " with flip test-time augmentation" if args.tta else ""
    print(f"run {run.id}: val accuracy {result.accuracy:.4f} on {len(data.val)} images{with_tta}")
    width = max(len(name) for name in class_names)
    print("confusion matrix (rows = true class, columns = predicted):")
    print(" " * (width + 2) + " ".join(f"{name[:6]:>6}" for name in class_names))
    for name, row in zip(class_names, result.confusion):
        print(f"{name:>{width}}  " + " ".join(f"{int(count):>6d}" for count in row))
    print(f"{len(result.misclassified)} misclassified val images")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from vitcore.data.images import decode_image
    from vitcore.device import resolve_device
    from vitcore.explain.predict import overlay_for_prediction, predict_image
    from vitcore.runs.checkpoint import load_model_from_run
    from vitcore.runs.store import RunStore

    image_path = _existing_path(args.image)
    device = resolve_device(args.device)
    run = RunStore(args.runs_dir).get(args.run)
    model, model_config, class_names = load_model_from_run(run, device)
    original = decode_image(image_path)
    prediction = predict_image(
        model, original, class_names, image_size=model_config.image_size, device=device, top_k=args.top_k
    )
    for rank, (name, probability) in enumerate(prediction.top_k, start=1):
        print(f"{rank}. {name:<10} {probability:6.1%}")
    if prediction.attention is not None:
        overlay_path = Path(args.overlay) if args.overlay else image_path.with_name(image_path.stem + "_attention.png")
        overlay_for_prediction(prediction, original, opacity=args.opacity).save(overlay_path)
        print(f"attention overlay: {overlay_path}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """One picture explained: the walkthrough's pictures and numbers (a ViT, no --method), or one method's
    overlay PNG and heat map (.npy) for either kind of model."""
    import numpy as np
    import torch

    from vitcore.data.dataset import to_float
    from vitcore.data.images import decode_image
    from vitcore.explain.methods import explain, methods_for
    from vitcore.explain.overlay import render_overlay
    from vitcore.explain.predict import prepare_input
    from vitcore.explain.walkthrough import can_walk_through
    from vitcore.runs.checkpoint import load_model_from_run
    from vitcore.runs.store import RunStore

    image_path = _existing_path(args.image)
    # One picture, and the walkthrough hands its numbers back as numpy arrays: the CPU is the place for it.
    model, model_config, class_names = load_model_from_run(RunStore(args.runs_dir).get(args.run), torch.device("cpu"))
    original = decode_image(image_path)
    pixels = prepare_input(original, model_config.image_size)  # (3, S, S) uint8: exactly what the model sees
    out = Path(args.out)
    if args.method is None and can_walk_through(model):
        return _write_walkthrough(args, model.eval(), class_names, original, pixels, image_path, out)
    method = args.method or methods_for(model)[0]
    if method not in methods_for(model):
        raise CliError(f"--method {method} does not apply to this run; choose one of {', '.join(methods_for(model))}")
    explanation = explain(model.eval(), to_float(pixels.unsqueeze(0)), method)  # heat (S, S) sums to 1
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{method}.npy", explanation.heat)
    render_overlay(original, explanation.heat, opacity=args.opacity).save(out / f"{method}_overlay.png")
    print(f"{class_names[explanation.target]} {explanation.probabilities[explanation.target]:.1%}; "
          f"wrote {method}_overlay.png and {method}.npy ({explanation.heat.shape[0]}x{explanation.heat.shape[1]}) to {out}")
    return 0


def _write_walkthrough(args, model, class_names, original, pixels, image_path: Path, out: Path) -> int:
    """The walkthrough's PNGs and numbers.json for one picture."""
    from vitcore.data.dataset import to_float
    from vitcore.explain.attention_maps import maps_from_attentions
    from vitcore.explain.overlay import heat_tiles_picture, patch_grid_picture, render_overlay
    from vitcore.explain.walkthrough import walk_through

    walk = walk_through(model, to_float(pixels.unsqueeze(0)))  # (1, 3, S, S) in [0, 1]
    maps = maps_from_attentions(walk.attention, walk.num_prefix_tokens)  # rollout and CLS maps from the same pass
    out.mkdir(parents=True, exist_ok=True)
    grid = walk.grid_size
    pictures = {
        "patches.png": patch_grid_picture(pixels.permute(1, 2, 0).numpy(), grid),
        "position_similarity.png": heat_tiles_picture(walk.position_similarity.reshape(grid, grid, grid, grid)),
        "heads.png": heat_tiles_picture(maps.cls_to_patch),  # rows = layers, columns = heads
        "rollout_overlay.png": render_overlay(original, maps.rollout, opacity=args.opacity),
        "logit_lens.png": heat_tiles_picture(walk.lens[None, None], cell_px=24),  # rows = layers, columns = classes
    }
    for name, picture in pictures.items():
        picture.save(out / name)
    predicted = int(walk.probabilities.argmax())
    numbers = {
        "run": args.run,
        "image": str(image_path),
        "class_names": list(class_names),
        "prediction": {"class": class_names[predicted], "probability": float(walk.probabilities[predicted]),
                       "probabilities": [float(value) for value in walk.probabilities]},
        "logit_lens": [[float(value) for value in layer] for layer in walk.lens],  # (L, C) probabilities after each block
        "settled_layer": int(walk.settled_layer),
        "mean_attention_distance": [[float(value) for value in layer] for layer in walk.attention_distance],  # (L, H)
        "attention_update": [float(value) for value in walk.attention_update],  # (L,) |update| / |stream|
        "mlp_update": [float(value) for value in walk.mlp_update],  # (L,)
    }
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2))
    print(f"{class_names[predicted]} {walk.probabilities[predicted]:.1%}; answer settled at layer {walk.settled_layer}")
    print(f"wrote {', '.join(sorted(pictures))} and numbers.json to {out}")
    return 0


def cmd_localize(args: argparse.Namespace) -> int:
    """Pointing game and energy inside the object masks, for every method, with chance and the two sanity checks."""
    import torch

    from vitcore.data.sources import load_dataset
    from vitcore.explain.localize import flagged_methods, localization_table
    from vitcore.explain.methods import methods_for
    from vitcore.runs.checkpoint import load_model_from_run
    from vitcore.runs.store import RunStore

    run = RunStore(args.runs_dir).get(args.run)
    model, model_config, class_names = load_model_from_run(run, torch.device("cpu"))
    data = load_dataset(args.data if args.data else _source_for_run(run.config()))
    if data.class_names != class_names:
        raise CliError(f"the data's classes {data.class_names} differ from the run's {class_names}")
    if not bool(data.val.mask_known().any()):
        raise CliError("this dataset has no object masks, so nothing can be scored; build it from COCO with masks "
                       "(data build-coco) or use the embedded set")
    allowed = methods_for(model)
    if args.method is not None and args.method not in allowed:
        raise CliError(f"--method {args.method} does not apply to this run; choose one of {', '.join(allowed)}")
    bar = _tqdm_progress("explaining")
    rows = localization_table(model.eval(), model_config, data.val, (args.method,) if args.method else allowed,
                              seed=args.seed, limit=args.limit,
                              progress=lambda label, done, total: bar(done, total, label))
    bar.close()
    flagged = flagged_methods(rows)
    if args.json:
        print(json.dumps({"run": run.id, "flagged": sorted(flagged),
                          "rows": [dict(row.__dict__, flagged=row.method in flagged) for row in rows]}))
        return 0
    print(f"{'method':22s} {'model':24s} {'pictures':>8s} {'pointing':>9s} {'energy':>7s} {'chance':>7s} {'seconds':>8s}")
    for row in rows:
        print(f"{row.method:22s} {row.model_state:24s} {row.pictures:8d} {row.pointing_game:9.1%} {row.energy_inside:7.1%} "
              f"{row.chance:7.1%} {row.seconds:8.1f}")
    for method in sorted(flagged):
        print(f"{method}: its score does not drop for the untrained or randomized model, so its maps do not show "
              "what the model learned")
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from vitcore.explain.methods import CNN_METHODS, VIT_METHODS
    from vitcore.models.config import ATTENTION_CHOICES, TOKENIZER_CHOICES
    from vitcore.presets import PRESET_NAMES
    from vitcore.train.config import AUGMENTATIONS

    parser = OneLineParser(prog="vitcore", description="ViT Classroom engine: data, training, evaluation.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    data = commands.add_parser("data", help="inspect or build datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=OneLineParser)

    report = data_commands.add_parser("report", help="class counts, greyscale, multi-label and leaked files")
    report.add_argument("root", type=_existing_path, help="folder with train/ and val/ class folders")
    report.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    report.set_defaults(handler=cmd_data_report)

    build = data_commands.add_parser("build-coco", help="build the homework layout from COCO annotations")
    build.add_argument("annotations", type=_existing_path, help="instances_*.json")
    build.add_argument("--out", type=Path, required=True, help="output folder")
    build.add_argument("--images", type=_existing_path, default=None, help="local folder with the COCO images")
    build.add_argument("--download", action="store_true", help="download each image by its coco_url")
    build.add_argument("--image-base-url", default=None, help="download from BASE/<file_name> instead of coco_url")
    build.add_argument("--classes", nargs="+", default=["airplane", "bus", "cat", "dog", "pizza"])
    build.add_argument("--train-per-class", type=_positive_int, default=1500)
    build.add_argument("--val-per-class", type=_positive_int, default=500)
    build.add_argument("--size", type=_positive_int, default=64, help="output image side in pixels")
    build.add_argument("--policy", choices=["hw4", "single-label", "dominant"], default="hw4")
    build.add_argument("--allow-fewer", action="store_true", help="accept classes with fewer images than asked")
    build.add_argument("--no-masks", action="store_true", help="do not write masks_<split>.npz (the object masks)")
    build.set_defaults(handler=cmd_data_build_coco)

    synth = data_commands.add_parser("synth", help="render the embedded synthetic dataset to a folder")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--train-per-class", type=_positive_int, default=1500)
    synth.add_argument("--val-per-class", type=_positive_int, default=500)
    synth.add_argument("--size", type=_positive_int, default=64)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(handler=cmd_data_synth)

    train = commands.add_parser("train", help="train a ViT or CNN preset")
    train.add_argument("--model", choices=list(PRESET_NAMES), default="vit")
    train.add_argument("--preset", default="classroom",
                       help=", ".join(f"{kind}: {'|'.join(names)}" for kind, names in PRESET_NAMES.items()))
    train.add_argument("--data", default=None, help="dataset folder (default: the embedded synthetic set)")
    train.add_argument("--attention", choices=list(ATTENTION_CHOICES), default=None)
    train.add_argument("--tokenizer", choices=list(TOKENIZER_CHOICES), default=None,
                       help="ViT tokens: one 16x16 patch projection, or a small conv stem (same 4x4 grid)")
    train.add_argument("--stem-width", type=_positive_int, default=None,
                       help="conv stem: channels of its first convolution, doubling up to the token width (classroom: 32)")
    train.add_argument("--epochs", type=_positive_int, default=None)
    train.add_argument("--batch-size", type=_positive_int, default=None, help="GLOBAL batch (split across torchrun processes)")
    train.add_argument("--lr", type=_positive_float, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    train.add_argument("--max-batches", type=_positive_int, default=None, help="cap batches per epoch (quick demos)")
    train.add_argument("--demo-pace", type=_demo_pace, default=None, metavar="SECONDS",
                       help="slow motion for live demos: each step takes at least this long")
    train.add_argument("--augmentation", choices=list(AUGMENTATIONS), default=None,
                       help="override the preset's augmentation")
    train.add_argument("--dropout", type=_unit_interval, default=None, help="override the model's dropout (0 disables it)")
    train.add_argument("--mixup", type=_mixing_strength, default=None, metavar="ALPHA",
                       help="MixUp strength: blend pairs of images and labels (0 = off; the preset's value by default)")
    train.add_argument("--cutmix", type=_mixing_strength, default=None, metavar="ALPHA",
                       help="CutMix strength: paste a box of one image into another (0 = off; with --mixup, one per batch)")
    train.add_argument("--train-fraction", type=_fraction, default=None, metavar="SHARE",
                       help="train on this share of the training set (seeded, class by class; e.g. 0.25); val is unchanged")
    train.add_argument("--teacher", default=None, metavar="RUN",
                       help="vit/distilled: the finished CNN run (same data) whose answers the distillation token learns")
    train.add_argument("--drop-dirty", action="store_true", help="drop multi-label and train/val leaked files")
    train.add_argument("--runs-dir", type=Path, default=default_runs_root())
    train.set_defaults(handler=cmd_train)

    resume = commands.add_parser("resume", help="continue a stopped or interrupted run")
    resume.add_argument("run", help="run id")
    resume.add_argument("--runs-dir", type=Path, default=default_runs_root())
    resume.set_defaults(handler=cmd_resume)

    evaluate = commands.add_parser("eval", help="evaluate a run on its val split")
    evaluate.add_argument("run", help="run id")
    evaluate.add_argument("--data", default=None, help="dataset folder (default: the run's own)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--tta", action="store_true", help="add the logits of each picture's mirror image (flip test-time augmentation)")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--runs-dir", type=Path, default=default_runs_root())
    evaluate.set_defaults(handler=cmd_eval)

    predict = commands.add_parser("predict", help="classify one image and save an attention overlay")
    predict.add_argument("run", help="run id")
    predict.add_argument("image", help="image file (JPEG, PNG, WebP, any size or mode)")
    predict.add_argument("--top-k", type=_positive_int, default=3)
    predict.add_argument("--overlay", default=None, help="where to write the overlay PNG")
    predict.add_argument("--opacity", type=float, default=0.5)
    predict.add_argument("--device", default="auto")
    predict.add_argument("--runs-dir", type=Path, default=default_runs_root())
    predict.set_defaults(handler=cmd_predict)

    explain = commands.add_parser("explain", help="explain one image: the walkthrough's pictures, or one method's map")
    explain.add_argument("run", help="run id")
    explain.add_argument("image", help="image file (JPEG, PNG, WebP, any size or mode)")
    explain.add_argument("--out", required=True, help="folder for the PNGs, numbers.json or the .npy heat map")
    explain.add_argument("--method", choices=VIT_METHODS + CNN_METHODS, default=None,
                         help="write this method's overlay and heat map (default: the walkthrough for a ViT, gradcam for a CNN)")
    explain.add_argument("--opacity", type=float, default=0.5, help="opacity of the overlay")
    explain.add_argument("--runs-dir", type=Path, default=default_runs_root())
    explain.set_defaults(handler=cmd_explain)

    localize = commands.add_parser("localize", help="does each explanation point at the object? scores with chance and sanity checks")
    localize.add_argument("run", help="run id")
    localize.add_argument("--data", default=None, help="dataset folder with masks (default: the run's own)")
    localize.add_argument("--method", choices=VIT_METHODS + CNN_METHODS, default=None, help="one method (default: all for the run)")
    localize.add_argument("--limit", type=_positive_int, default=None, help="score only the first N pictures with a mask")
    localize.add_argument("--seed", type=int, default=0, help="seed of the untrained and randomized controls")
    localize.add_argument("--json", action="store_true")
    localize.add_argument("--runs-dir", type=Path, default=default_runs_root())
    localize.set_defaults(handler=cmd_localize)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except (ValueError, OSError, argparse.ArgumentTypeError) as error:  # VitcoreError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
