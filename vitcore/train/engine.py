"""The training loop: `fit(model, data, config, ...) -> FitResult`.

No threads here: `fit` runs in whatever thread calls it (the dashboard runs it
in `TrainingJob`'s worker thread). It talks to the outside world through:
- `on_event(event: dict)`: "iteration", "epoch" and "status" events
  (keys listed in docs/architecture.md; epochs and steps are 1-based);
- `should_stop() -> bool`: polled before every optimizer step;
- `run`: the run folder to write status, metrics and checkpoints into;
- `distributed`: a `DistributedContext` when several processes train together
  (torchrun). The model is then wrapped in DistributedDataParallel, each rank
  trains on its share of every GLOBAL batch (`config.batch_size` images; see
  `vitcore.train.distributed`), the logged loss/accuracy are summed over all
  ranks, each rank validates a slice of the val split and the results are
  summed, and the stop request and the NaN check are agreed on by all ranks so
  no rank is left waiting. Only rank 0 should get a `run`.

Reproducibility: `config.seed` seeds torch's global RNG (augmentation, dropout,
mixup) and a separate generator for shuffling. Both RNG states, the epoch's
shuffle order and the position inside the epoch go into every checkpoint, so a
stopped run resumed with `resume=True` ends with the same weights as a run that
was never interrupted (on the same device and thread count).
"""

from __future__ import annotations

import errno
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from vitcore.data.dataset import ClassificationData, ImageSplit, to_float
from vitcore.device import resolve_device
from vitcore.evaluate import autocast_context, loss_and_accuracy, predict_logits
from vitcore.seeding import seed_everything
from vitcore.train.augment import build_augmenter
from vitcore.runs.iteration_log import IterationLog
from vitcore.train.config import TrainConfig
from vitcore.train.distributed import (
    DistributedContext,
    DistributedSetupError,
    all_reduce_sums,
    any_rank,
    broadcast_buffers_from_main,
    gather_fingerprints,
    per_rank_batch_size,
    rank_epoch_order,
    shard_split,
)
from vitcore.train.mixing import build_batch_mixer
from vitcore.train.schedule import build_scheduler

CHECKPOINT_FORMAT_VERSION = 1
HEARTBEAT_INTERVAL_S = 10.0
DEMO_PACE_POLL_S = 0.05  # how often a demo-paced step checks for a stop request while it waits


@dataclass
class FitResult:
    """What `fit` returns."""

    status: str  # "finished" | "stopped" | "failed"
    epochs_completed: int  # epochs fully trained (including ones before a resume)
    history: list[dict] = field(default_factory=list)  # one metrics dict per finished epoch
    final_val_acc: float | None = None  # val accuracy after the last finished epoch
    message: str = ""  # one human sentence (why it failed/stopped, or a summary)
    replica_fingerprints: list[str] = field(default_factory=list)  # distributed runs: each rank's weight hash (all equal when in sync)


class TrainingFailed(Exception):
    """Raised inside `fit` to leave the loop with a user-facing message."""


@dataclass
class _EpochTotals:
    """Running sums over the current epoch (saved with mid-epoch checkpoints)."""

    loss_sum: float = 0.0  # sum of per-batch mean loss times batch size
    correct: int = 0  # correctly classified training images so far
    seen: int = 0  # training images seen so far
    seconds: float = 0.0  # time spent in this epoch before the last stop

    def to_dict(self) -> dict:
        return {"loss_sum": self.loss_sum, "correct": self.correct, "seen": self.seen, "seconds": self.seconds}


def steps_per_epoch_for(num_train: int, config: TrainConfig) -> int:
    """Optimizer steps per epoch: ceil(N / batch), minus a trailing batch of 1 image, capped by the config."""
    full, remainder = divmod(num_train, config.batch_size)
    steps = full + (1 if remainder > 1 or full == 0 else 0)
    steps = max(1, steps)
    if config.max_train_batches_per_epoch is not None:
        steps = min(steps, config.max_train_batches_per_epoch)
    return steps


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD; biases, norm weights and embeddings (tensors with < 2 dims) get no weight decay."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # On a GPU, one fused kernel updates every tensor (same maths, far fewer kernel launches per step).
    fused = {"fused": True} if all(parameter.is_cuda for parameter in decay + no_decay) else {}
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, **fused)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, betas=config.betas, **fused)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0, **fused)


def autocast_dtype_for(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 under "auto" on CUDA only; "bf16" forces it; "off" disables it."""
    if config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _rng_state(generator: torch.Generator, device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "shuffle": generator.get_state(), "cuda": None}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng_state(state: dict, generator: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    generator.set_state(state["shuffle"].cpu())
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def fit(
    model: nn.Module,
    data: ClassificationData,
    config: TrainConfig,
    on_event: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    run=None,
    resume: bool = False,
    distributed: DistributedContext | None = None,
    before_step: Callable[[], None] | None = None,
) -> FitResult:
    """Train `model` on `data.train`, validating on `data.val` after every epoch.

    `distributed`: this process's place in a multi-process run (None: train alone).
    `before_step`: called before every optimizer step (before the stop check) and before each validation
    pass; it may wait (a dashboard's trainer pauses there while students' pictures are answered, see
    vitcore.train.foreground).
    """
    emit = on_event or (lambda event: None)
    stop_requested = should_stop or (lambda: False)
    history: list[dict] = []

    def finish(status: str, message: str, fingerprints: list[str] | None = None) -> FitResult:
        if run is not None:
            run.set_status(status, message)
        emit({"type": "status", "status": status, "message": message})
        final = history[-1]["val_acc"] if history else None
        return FitResult(status, len(history), list(history), final, message, list(fingerprints or []))

    try:
        device = distributed.device if distributed is not None else resolve_device(config.device)
        if distributed is not None:
            per_rank_batch_size(config.batch_size, distributed.world_size)  # fail early, on every rank alike
            if resume and distributed.world_size > 1:
                raise DistributedSetupError("resuming is only supported in a single process; resume without torchrun")
    except ValueError as error:
        return finish("failed", str(error))
    if config.num_threads is not None and device.type == "cpu":
        torch.set_num_threads(config.num_threads)  # process-wide: only when asked for
    if run is not None:
        run.set_status("running", f"training on {device.type}")
    emit({"type": "status", "status": "running", "message": f"training on {device.type}"})

    try:
        return _train(model, data, config, device, emit, stop_requested, run, resume, history, finish, distributed,
                      before_step)
    except TrainingFailed as failure:
        return finish("failed", str(failure))
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        smaller = max(1, config.batch_size // 2)
        return finish(
            "failed",
            f"ran out of {device.type.upper()} memory with batch_size {config.batch_size}; "
            f"try a smaller batch size (e.g. {smaller}) or a smaller model",
        )
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        message = (
            "the disk is full (no space left on device) while saving the run; free some disk space, "
            "then resume it from its last checkpoint"
        )
        try:
            return finish("failed", message)
        except OSError:  # not even status.json fits: report it to the caller only
            emit({"type": "status", "status": "failed", "message": message})
            return FitResult("failed", len(history), list(history), history[-1]["val_acc"] if history else None, message)


def wait_for_demo_pace(step_started: float, min_seconds_per_step: float, stop_requested: Callable[[], bool]) -> None:
    """Sleep until `min_seconds_per_step` has passed since `step_started` (time.monotonic), waking early on a stop request."""
    while True:
        remaining = min_seconds_per_step - (time.monotonic() - step_started)
        if remaining <= 0 or stop_requested():  # full speed (pace 0) never polls: should_stop is asked once per step
            return
        time.sleep(min(remaining, DEMO_PACE_POLL_S))


def _validate(model, val_split: ImageSplit, device, config: TrainConfig, autocast_dtype, distributed) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the val split (each rank does its slice, then the sums are added)."""
    if distributed is None:
        return loss_and_accuracy(model, val_split, device, config.eval_batch_size, autocast_dtype)
    logits = predict_logits(model, val_split, device, config.eval_batch_size, autocast_dtype)  # (n, C) this rank's slice
    labels = val_split.labels.cpu()  # (n,)
    loss_sum = F.cross_entropy(logits, labels, reduction="sum").item() if len(labels) else 0.0
    correct = int((logits.argmax(dim=1) == labels).sum().item()) if len(labels) else 0
    loss_sum, correct, count = all_reduce_sums([loss_sum, correct, len(labels)], distributed)
    if count == 0:
        return float("nan"), float("nan")
    return loss_sum / count, correct / count


def _train(model, data, config, device, emit, stop_requested, run, resume, history, finish, distributed=None,
           before_step=None) -> FitResult:
    """The loop itself; raises TrainingFailed / OutOfMemoryError for `fit` to report."""
    generator = seed_everything(config.seed)  # also seeds torch's global RNG
    if distributed is not None and distributed.rank > 0:
        # Same shuffle generator on every rank (same global batches), but each rank
        # gets its own augmentation/dropout randomness.
        torch.manual_seed(config.seed + distributed.rank)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # 4-D conv weights become NHWC; others are unchanged
    training_model: nn.Module = model  # what the training forward goes through (DDP wrapper when distributed)
    rank_batch_size = config.batch_size  # images this process handles per step
    if distributed is not None:
        rank_batch_size = per_rank_batch_size(config.batch_size, distributed.world_size)
        # DDP copies rank 0's weights to every rank here, then averages gradients in backward().
        training_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_split: ImageSplit = data.train.to(device) if config.data_on_device else data.train
    val_split: ImageSplit = data.val.to(device) if config.data_on_device else data.val
    if distributed is not None:
        val_split = shard_split(val_split, distributed)  # this rank validates its slice only
    num_train = len(train_split)
    if num_train == 0:
        raise TrainingFailed("the training split is empty; load a dataset with training images")
    steps_per_epoch = steps_per_epoch_for(num_train, config)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config.schedule, config.lr, steps_per_epoch, config.epochs, config.warmup_epochs)
    augment = build_augmenter(config.augmentation, int(train_split.images.shape[-1]))
    autocast_dtype = autocast_dtype_for(config, device)
    loss_function = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    batch_mixer = build_batch_mixer(config.mixup_alpha, config.cutmix_alpha, len(data.class_names))  # None when both are off

    iteration_log = IterationLog(run) if run is not None else None  # per-step curve on disk
    start_epoch, start_step, epoch_order, totals = 0, 0, None, _EpochTotals()
    if resume and run is not None and run.has_checkpoint:
        state = run.load_checkpoint(map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _restore_rng_state(state["rng"], generator, device)
        history.extend(state.get("history", []))
        start_epoch = int(state["epochs_completed"])
        start_step = int(state.get("step_in_epoch", 0))
        if state.get("epoch_order") is not None:  # stopped inside an epoch: same order, same position
            epoch_order = state["epoch_order"].cpu()
            totals = _EpochTotals(**state["epoch_totals"])
        else:
            start_step = 0
        _append_missing_metrics(run, history)
        emit({"type": "status", "status": "running", "message": f"resumed at epoch {start_epoch + 1} step {start_step + 1}"})

    model_config = None
    class_names = list(data.class_names)
    if run is not None:
        try:
            model_config = run.config().get("model_config")
        except Exception:  # a corrupt config must not stop training; the checkpoint just lacks it
            model_config = None

    def checkpoint_state(epochs_completed: int, step_in_epoch: int, order, epoch_totals: _EpochTotals) -> dict:
        return {
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epochs_completed": epochs_completed,
            "step_in_epoch": step_in_epoch,
            "epoch_order": order,
            "epoch_totals": epoch_totals.to_dict(),
            "rng": _rng_state(generator, device),
            "history": list(history),
            "train_config": config.to_dict(),
            "model_config": model_config,
            "class_names": class_names,
        }

    total_steps = steps_per_epoch * config.epochs
    session_start = time.perf_counter()
    session_steps = 0
    last_heartbeat = time.monotonic()

    def eta_seconds(global_step_done: int) -> float:
        if session_steps == 0:
            return 0.0
        per_step = (time.perf_counter() - session_start) / session_steps
        return per_step * max(0, total_steps - global_step_done)

    for epoch_index in range(start_epoch, config.epochs):
        epoch_number = epoch_index + 1
        if epoch_order is None:
            epoch_order = torch.randperm(num_train, generator=generator)  # (N,) on the CPU
            totals = _EpochTotals()
        # The global order is the same on every rank; each rank keeps its strided share of it.
        rank_order = rank_epoch_order(epoch_order, distributed) if distributed is not None else epoch_order
        epoch_start = time.perf_counter() - totals.seconds
        training_model.train()
        for step_index in range(start_step, steps_per_epoch):
            if before_step is not None:
                before_step()
            step_started = time.monotonic()
            stop_now = stop_requested()
            if distributed is not None:
                stop_now = any_rank(stop_now, distributed)  # every rank stops at the same step
            if stop_now:
                totals.seconds = time.perf_counter() - epoch_start
                message = f"stopped by request at epoch {epoch_number} step {step_index + 1}"
                if distributed is not None:
                    broadcast_buffers_from_main(model, distributed)  # e.g. BatchNorm statistics: save rank 0's
                if run is not None:
                    iteration_log.flush()
                    run.save_checkpoint(checkpoint_state(epoch_index, step_index, epoch_order, totals))
                    message += "; resume it to continue from here"
                return finish("stopped", message)
            batch_indices = rank_order[step_index * rank_batch_size : (step_index + 1) * rank_batch_size]
            batch_indices = batch_indices.to(train_split.images.device)
            images_uint8 = augment(train_split.images[batch_indices].to(device, non_blocking=True))  # (B, 3, S, S)
            labels = train_split.labels[batch_indices].to(device, non_blocking=True)  # (B,)
            images = to_float(images_uint8)  # (B, 3, S, S) in [0, 1]
            targets = labels  # (B,) class indices, or (B, C) class probabilities after MixUp/CutMix
            if batch_mixer is not None:
                images, targets = batch_mixer(images, labels)  # (B, 3, S, S), (B, C)
            if config.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)  # (B, 3, S, S), stored as (B, S, S, 3)

            with autocast_context(device, autocast_dtype):
                logits = training_model(images)  # (B, C)
                loss = loss_function(logits, targets)  # running accuracy below still counts the unmixed labels

            loss_value = loss.item()  # mean over this process's batch
            batch_size = int(labels.shape[0])
            batch_loss_sum = loss_value * batch_size
            batch_correct = int((logits.argmax(dim=1) == labels).sum().item())
            if distributed is not None:  # global numbers: identical on every rank, so all ranks agree on NaN
                batch_loss_sum, batch_correct, batch_size = all_reduce_sums(
                    [batch_loss_sum, batch_correct, batch_size], distributed
                )
                batch_correct, batch_size = int(batch_correct), int(batch_size)
                loss_value = batch_loss_sum / batch_size  # mean over the global batch
            if not math.isfinite(loss_value):
                raise TrainingFailed(
                    f"loss became {'NaN' if math.isnan(loss_value) else 'infinite'} at epoch {epoch_number} "
                    f"step {step_index + 1}; try a lower learning rate (e.g. lr/10 = {config.lr / 10:g}) "
                    "or enable gradient clipping"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            learning_rate = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()

            totals.loss_sum += batch_loss_sum
            totals.correct += batch_correct
            totals.seen += batch_size
            session_steps += 1
            global_step = epoch_index * steps_per_epoch + step_index + 1
            iteration_event = {
                "type": "iteration",
                "epoch": epoch_number,
                "step": step_index + 1,
                "steps_per_epoch": steps_per_epoch,
                "global_step": global_step,
                "loss": loss_value,
                "running_acc": totals.correct / totals.seen,
                "lr": learning_rate,
                "eta_s": eta_seconds(global_step),
            }
            emit(iteration_event)
            if iteration_log is not None:
                iteration_log.add(iteration_event)
            if run is not None and time.monotonic() - last_heartbeat > HEARTBEAT_INTERVAL_S:
                run.heartbeat()
                last_heartbeat = time.monotonic()
            wait_for_demo_pace(step_started, config.min_seconds_per_step, stop_requested)

        if iteration_log is not None:
            iteration_log.flush()
        if distributed is not None:
            broadcast_buffers_from_main(model, distributed)  # every rank evaluates (and rank 0 saves) one model
        if before_step is not None:  # the validation pass is a burst of work too
            before_step()
        val_loss, val_acc = _validate(model, val_split, device, config, autocast_dtype, distributed)
        record = {
            "epoch": epoch_number,
            "train_loss": totals.loss_sum / max(1, totals.seen),
            "train_acc": totals.correct / max(1, totals.seen),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - epoch_start,
            "time": time.time(),
        }
        history.append(record)
        epoch_order, rank_order, start_step = None, None, 0
        if run is not None:
            run.save_checkpoint(checkpoint_state(epoch_number, 0, None, _EpochTotals()))
            run.append_metrics(record)
            run.heartbeat()
            last_heartbeat = time.monotonic()
        emit({"type": "epoch", **record, "eta_s": eta_seconds((epoch_index + 1) * steps_per_epoch)})

    final = history[-1]["val_acc"] if history else float("nan")
    fingerprints = gather_fingerprints(model, distributed) if distributed is not None else None
    return finish("finished", f"finished {len(history)} epochs; validation accuracy {final:.1%}", fingerprints)


def _append_missing_metrics(run, history: list[dict]) -> None:
    """After a crash between checkpoint and metrics write, re-add the epochs metrics.jsonl lacks."""
    logged = {record.get("epoch") for record in run.read_metrics()}
    for record in history:
        if record.get("epoch") not in logged:
            run.append_metrics(record)
