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
from vitcore.data.subset import training_subset
from vitcore.device import has_native_bf16, resolve_device
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
from vitcore.train.teacher import distillation_loss, teacher_answers
from vitcore.train.timelapse_recorder import TimelapseRecorder, build_recorder

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
    """bf16 under "auto" on CUDA only; "native" on any device with bf16 instructions (has_native_bf16: a CPU with
    AVX512-BF16 or AMX runs conv nets about twice as fast); "bf16" forces it; "off" disables it."""
    if config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda"):
        return torch.bfloat16
    if config.amp == "native" and has_native_bf16(device):
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


class _Reporter:
    """Where the loop's results go: the run folder's status, the event callback, and the epochs done so far."""

    def __init__(self, run, emit: Callable[[dict], None]):
        self.run = run  # the run folder (None: nothing is written)
        self.emit = emit  # on_event callback
        self.history: list[dict] = []  # one metrics dict per finished epoch (including ones before a resume)

    def finish(self, status: str, message: str, fingerprints: list[str] | None = None) -> FitResult:
        """Record the final status and return the FitResult."""
        if self.run is not None:
            self.run.set_status(status, message)
        self.emit({"type": "status", "status": status, "message": message})
        return self.result(status, message, fingerprints)

    def result(self, status: str, message: str, fingerprints: list[str] | None = None) -> FitResult:
        final = self.history[-1]["val_acc"] if self.history else None
        return FitResult(status, len(self.history), list(self.history), final, message, list(fingerprints or []))


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
    teacher: nn.Module | None = None,
) -> FitResult:
    """Train `model` on `data.train`, validating on `data.val` after every epoch.

    `distributed`: this process's place in a multi-process run (None: train alone).
    `before_step`: called before every optimizer step (before the stop check) and before each validation
    pass; it may wait (a dashboard's trainer pauses there while students' pictures are answered, see
    vitcore.train.foreground).
    `teacher`: for a ViT with a distillation token, the model whose hard answers that token learns (DeiT;
    vitcore.train.teacher.load_teacher); without one, such a ViT trains the mean of its two heads on the labels.
    """
    reporter = _Reporter(run, on_event or (lambda event: None))
    try:
        device = distributed.device if distributed is not None else resolve_device(config.device)
        if distributed is not None:
            per_rank_batch_size(config.batch_size, distributed.world_size)  # fail early, on every rank alike
            if resume and distributed.world_size > 1:
                raise DistributedSetupError("resuming is only supported in a single process; resume without torchrun")
    except ValueError as error:
        return reporter.finish("failed", str(error))
    if config.num_threads is not None and device.type == "cpu":
        torch.set_num_threads(config.num_threads)  # process-wide: only when asked for
    if run is not None:
        run.set_status("running", f"training on {device.type}")
    reporter.emit({"type": "status", "status": "running", "message": f"training on {device.type}"})

    try:
        trainer = _set_up(model, data, config, device, reporter, should_stop or (lambda: False), before_step, distributed, teacher)
        return _train(trainer, resume)
    except TrainingFailed as failure:
        return reporter.finish("failed", str(failure))
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        smaller = max(1, config.batch_size // 2)
        return reporter.finish(
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
            return reporter.finish("failed", message)
        except OSError:  # not even status.json fits: report it to the caller only
            reporter.emit({"type": "status", "status": "failed", "message": message})
            return reporter.result("failed", message)


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
        return loss_and_accuracy(model, val_split, device, config.eval_batch_size, autocast_dtype, config.flip_tta)
    logits = predict_logits(model, val_split, device, config.eval_batch_size, autocast_dtype, config.flip_tta)  # (n, C) this rank's slice
    labels = val_split.labels.cpu()  # (n,)
    loss_sum = F.cross_entropy(logits, labels, reduction="sum").item() if len(labels) else 0.0
    correct = int((logits.argmax(dim=1) == labels).sum().item()) if len(labels) else 0
    loss_sum, correct, count = all_reduce_sums([loss_sum, correct, len(labels)], distributed)
    if count == 0:
        return float("nan"), float("nan")
    return loss_sum / count, correct / count


@dataclass
class _Trainer:
    """What one `fit` call trains with: built once by `_set_up`, never reassigned while the loop runs."""

    model: nn.Module  # the model itself (its weights are what checkpoints hold)
    training_model: nn.Module  # what the training forward goes through: the model, or its DDP wrapper
    config: TrainConfig  # the recipe
    device: torch.device  # where the model trains
    distributed: DistributedContext | None  # this process's place in a multi-process run, or None
    train_split: ImageSplit  # training images (on the device when config.data_on_device)
    val_split: ImageSplit  # validation images (this rank's slice when distributed)
    steps_per_epoch: int  # optimizer steps per epoch
    rank_batch_size: int  # images this process handles per step
    generator: torch.Generator  # shuffles the epochs (its state goes into checkpoints)
    optimizer: torch.optim.Optimizer  # updates the weights
    scheduler: object  # learning-rate schedule, stepped after every optimizer step
    augment: Callable  # uint8 batch -> augmented uint8 batch
    loss_function: nn.Module  # cross-entropy (with label smoothing)
    batch_mixer: Callable | None  # MixUp / CutMix, or None when both are off
    autocast_dtype: torch.dtype | None  # bf16 autocast, or None
    reporter: _Reporter  # run folder, events and the epochs done
    stop_requested: Callable[[], bool]  # polled before every step
    before_step: Callable[[], None] | None  # may wait before each step and validation (students' pictures first)
    iteration_log: IterationLog | None  # per-step curve on disk (None without a run)
    model_config: dict | None  # the run's model config, saved into checkpoints
    class_names: list[str]  # saved into checkpoints
    timelapse: TimelapseRecorder | None  # records the probe pictures' attention each epoch (ViT runs with a run folder)
    teacher: nn.Module | None  # a distilled ViT's teacher (eval mode, on the device), else None
    teacher_autocast_dtype: torch.dtype | None  # bf16 for the teacher where the device has bf16 instructions, else None


@dataclass
class _Progress:
    """Where the loop stands; everything a stopped run needs to continue exactly (saved into checkpoints)."""

    epoch_index: int = 0  # the epoch being trained (0-based)
    step_index: int = 0  # the next step inside it (0-based)
    epoch_order: torch.Tensor | None = None  # (N,) this epoch's shuffle, None before it is drawn
    totals: _EpochTotals = field(default_factory=_EpochTotals)  # running sums of the current epoch
    epoch_start: float = 0.0  # time.perf_counter() at which this epoch (minus the time before a stop) began
    session_steps: int = 0  # steps trained by this call (for the remaining-time estimate)
    session_start: float = field(default_factory=time.perf_counter)  # when this call started training
    last_heartbeat: float = field(default_factory=time.monotonic)  # when status.json was last touched


def _set_up(model, data, config, device, reporter, stop_requested, before_step, distributed, teacher=None) -> _Trainer:
    """Seed, move the model and data, and build the optimizer, schedule, augmentation and loss."""
    generator = seed_everything(config.seed)  # also seeds torch's global RNG
    if distributed is not None and distributed.rank > 0:
        # Same shuffle generator on every rank (same global batches), but each rank
        # gets its own augmentation/dropout randomness.
        torch.manual_seed(config.seed + distributed.rank)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # 4-D conv weights become NHWC; others are unchanged
    training_model, rank_batch_size = model, config.batch_size
    if distributed is not None:
        rank_batch_size = per_rank_batch_size(config.batch_size, distributed.world_size)
        # DDP copies rank 0's weights to every rank here, then averages gradients in backward().
        training_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_split: ImageSplit = training_subset(data.train, config.train_fraction, config.seed)  # all of it by default
    train_split = train_split.to(device) if config.data_on_device else train_split
    val_split: ImageSplit = data.val.to(device) if config.data_on_device else data.val
    if distributed is not None:
        val_split = shard_split(val_split, distributed)  # this rank validates its slice only
    if len(train_split) == 0:
        raise TrainingFailed("the training split is empty; load a dataset with training images")
    steps_per_epoch = steps_per_epoch_for(len(train_split), config)
    optimizer = build_optimizer(model, config)
    run = reporter.run
    model_config = None
    if run is not None:
        try:
            model_config = run.config().get("model_config")
        except Exception:  # a corrupt config must not stop training; the checkpoint just lacks it
            model_config = None
    return _Trainer(
        model=model, training_model=training_model, config=config, device=device, distributed=distributed,
        train_split=train_split, val_split=val_split, steps_per_epoch=steps_per_epoch, rank_batch_size=rank_batch_size,
        generator=generator, optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.schedule, config.lr, steps_per_epoch, config.epochs, config.warmup_epochs),
        augment=build_augmenter(config.augmentation, int(train_split.images.shape[-1]), config.crop_padding,
                                config.crop_per_batch),
        loss_function=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing),
        batch_mixer=build_batch_mixer(config.mixup_alpha, config.cutmix_alpha, len(data.class_names)),
        autocast_dtype=autocast_dtype_for(config, device), reporter=reporter, stop_requested=stop_requested,
        before_step=before_step, iteration_log=IterationLog(run) if run is not None else None,
        model_config=model_config, class_names=list(data.class_names),
        timelapse=build_recorder(run, model, data.val, len(data.class_names), device,
                                 enabled=config.record_timelapse and (distributed is None or distributed.is_main)),
        teacher=_checked_teacher(model, teacher, device, distributed),
        teacher_autocast_dtype=torch.bfloat16 if teacher is not None and has_native_bf16(device) else None,
    )


def _checked_teacher(model: nn.Module, teacher: nn.Module | None, device: torch.device, distributed) -> nn.Module | None:
    """The teacher on the device in eval mode; a teacher for a model without a distillation token is refused."""
    if teacher is None:
        return None
    if getattr(model, "head_dist", None) is None:
        raise TrainingFailed("a teacher needs a ViT with a distillation token (the vit/distilled preset)")
    if distributed is not None:
        raise TrainingFailed("distillation runs in a single process; train without torchrun")
    return teacher.to(device, memory_format=torch.channels_last).eval()  # NHWC: faster convolutions (teacher_answers)


def _train(trainer: _Trainer, resume: bool) -> FitResult:
    """The loop: epochs of steps, each epoch ended by a validation pass and a checkpoint.

    Raises TrainingFailed / OutOfMemoryError / OSError for `fit` to report.
    """
    config, reporter = trainer.config, trainer.reporter
    progress = _Progress()
    if resume and reporter.run is not None and reporter.run.has_checkpoint:
        _resume(trainer, progress)
    if trainer.timelapse is not None and (progress.epoch_index, progress.step_index) == (0, 0):
        if 0 not in trainer.timelapse.recorded_epochs():
            trainer.timelapse.record(0)  # the untrained model: the time-lapse's first frame
    progress.session_start, progress.last_heartbeat = time.perf_counter(), time.monotonic()  # the clock starts now
    for epoch_index in range(progress.epoch_index, config.epochs):
        rank_order = _begin_epoch(trainer, progress, epoch_index)  # (N / ranks,) this process's share of the shuffle
        for step_index in range(progress.step_index, trainer.steps_per_epoch):
            if trainer.before_step is not None:
                trainer.before_step()
            step_started = time.monotonic()
            if _stop_is_requested(trainer):
                return _stop(trainer, progress, step_index)
            _train_one_step(trainer, progress, rank_order, step_index)
            wait_for_demo_pace(step_started, config.min_seconds_per_step, trainer.stop_requested)
        _end_epoch(trainer, progress)
    final = reporter.history[-1]["val_acc"] if reporter.history else float("nan")
    distributed = trainer.distributed
    fingerprints = gather_fingerprints(trainer.model, distributed) if distributed is not None else None
    return reporter.finish("finished", f"finished {len(reporter.history)} epochs; validation accuracy {final:.1%}", fingerprints)


def _resume(trainer: _Trainer, progress: _Progress) -> None:
    """Continue from the run's checkpoint: weights, optimizer, schedule, RNG, history and the place in the epoch."""
    run, reporter = trainer.reporter.run, trainer.reporter
    state = run.load_checkpoint(map_location=trainer.device)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    _restore_rng_state(state["rng"], trainer.generator, trainer.device)
    reporter.history.extend(state.get("history", []))
    progress.epoch_index = int(state["epochs_completed"])
    if state.get("epoch_order") is not None:  # stopped inside an epoch: same order, same position
        progress.step_index = int(state.get("step_in_epoch", 0))
        progress.epoch_order = state["epoch_order"].cpu()
        progress.totals = _EpochTotals(**state["epoch_totals"])
    _append_missing_metrics(run, reporter.history)
    reporter.emit({
        "type": "status", "status": "running",
        "message": f"resumed at epoch {progress.epoch_index + 1} step {progress.step_index + 1}",
    })


def _begin_epoch(trainer: _Trainer, progress: _Progress, epoch_index: int) -> torch.Tensor:
    """Draw the epoch's shuffle (unless resuming inside it) and return this process's share of it."""
    progress.epoch_index = epoch_index
    if progress.epoch_order is None:
        progress.epoch_order = torch.randperm(len(trainer.train_split), generator=trainer.generator)  # (N,) on the CPU
        progress.totals = _EpochTotals()
    progress.epoch_start = time.perf_counter() - progress.totals.seconds
    trainer.training_model.train()
    if trainer.distributed is None:
        return progress.epoch_order
    # The global order is the same on every rank; each rank keeps its strided share of it.
    return rank_epoch_order(progress.epoch_order, trainer.distributed)


def _stop_is_requested(trainer: _Trainer) -> bool:
    stop_now = trainer.stop_requested()
    if trainer.distributed is not None:
        stop_now = any_rank(stop_now, trainer.distributed)  # every rank stops at the same step
    return stop_now


def _stop(trainer: _Trainer, progress: _Progress, step_index: int) -> FitResult:
    """Stop before step `step_index`, saving a checkpoint that resumes exactly here."""
    progress.totals.seconds = time.perf_counter() - progress.epoch_start
    message = f"stopped by request at epoch {progress.epoch_index + 1} step {step_index + 1}"
    if trainer.distributed is not None:
        broadcast_buffers_from_main(trainer.model, trainer.distributed)  # e.g. BatchNorm statistics: save rank 0's
    if trainer.reporter.run is not None:
        trainer.iteration_log.flush()
        progress.step_index = step_index
        trainer.reporter.run.save_checkpoint(_checkpoint_state(trainer, progress))
        message += "; resume it to continue from here"
    return trainer.reporter.finish("stopped", message)


def _train_one_step(trainer: _Trainer, progress: _Progress, rank_order: torch.Tensor, step_index: int) -> None:
    """One optimizer step on the next batch of the epoch's order; emits (and logs) an "iteration" event."""
    config, device, split = trainer.config, trainer.device, trainer.train_split
    batch_indices = rank_order[step_index * trainer.rank_batch_size : (step_index + 1) * trainer.rank_batch_size]
    batch_indices = batch_indices.to(split.images.device)  # (B,)
    images_uint8 = trainer.augment(split.images[batch_indices].to(device, non_blocking=True))  # (B, 3, S, S)
    labels = split.labels[batch_indices].to(device, non_blocking=True)  # (B,)
    images = to_float(images_uint8)  # (B, 3, S, S) in [0, 1]
    targets = labels  # (B,) class indices, or (B, C) class probabilities after MixUp/CutMix
    if trainer.batch_mixer is not None:
        images, targets = trainer.batch_mixer(images, labels)  # (B, 3, S, S), (B, C)
    if config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)  # (B, 3, S, S), stored as (B, S, S, 3)

    with autocast_context(device, trainer.autocast_dtype):
        if trainer.teacher is not None:  # DeiT: the distillation token learns the teacher's answer on this very batch
            class_logits, distilled_logits = trainer.model.forward_heads(images)  # (B, C) each
            answers = teacher_answers(trainer.teacher, images, trainer.teacher_autocast_dtype)  # (B,) hard labels
            loss = distillation_loss(class_logits, distilled_logits, targets, answers, trainer.loss_function)
            logits = (class_logits + distilled_logits) / 2  # (B, C) the answer at inference
        else:
            logits = trainer.training_model(images)  # (B, C)
            loss = trainer.loss_function(logits, targets)  # running accuracy below still counts the unmixed labels

    loss_value = loss.item()  # mean over this process's batch
    batch_size = int(labels.shape[0])
    batch_loss_sum = loss_value * batch_size
    batch_correct = int((logits.argmax(dim=1) == labels).sum().item())
    if trainer.distributed is not None:  # global numbers: identical on every rank, so all ranks agree on NaN
        batch_loss_sum, batch_correct, batch_size = all_reduce_sums([batch_loss_sum, batch_correct, batch_size], trainer.distributed)
        batch_correct, batch_size = int(batch_correct), int(batch_size)
        loss_value = batch_loss_sum / batch_size  # mean over the global batch
    epoch_number = progress.epoch_index + 1
    if not math.isfinite(loss_value):
        raise TrainingFailed(
            f"loss became {'NaN' if math.isnan(loss_value) else 'infinite'} at epoch {epoch_number} "
            f"step {step_index + 1}; try a lower learning rate (e.g. lr/10 = {config.lr / 10:g}) "
            "or enable gradient clipping"
        )
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        nn.utils.clip_grad_norm_(trainer.model.parameters(), config.grad_clip)
    learning_rate = trainer.optimizer.param_groups[0]["lr"]
    trainer.optimizer.step()
    trainer.scheduler.step()

    totals = progress.totals
    totals.loss_sum += batch_loss_sum
    totals.correct += batch_correct
    totals.seen += batch_size
    progress.session_steps += 1
    global_step = progress.epoch_index * trainer.steps_per_epoch + step_index + 1
    iteration_event = {
        "type": "iteration",
        "epoch": epoch_number,
        "step": step_index + 1,
        "steps_per_epoch": trainer.steps_per_epoch,
        "global_step": global_step,
        "loss": loss_value,
        "running_acc": totals.correct / totals.seen,
        "lr": learning_rate,
        "eta_s": _eta_seconds(trainer, progress, global_step),
    }
    trainer.reporter.emit(iteration_event)
    if trainer.iteration_log is not None:
        trainer.iteration_log.add(iteration_event)
    run = trainer.reporter.run
    if run is not None and time.monotonic() - progress.last_heartbeat > HEARTBEAT_INTERVAL_S:
        run.heartbeat()
        progress.last_heartbeat = time.monotonic()


def _end_epoch(trainer: _Trainer, progress: _Progress) -> None:
    """Validate, record the epoch's metrics, save a checkpoint and emit an "epoch" event."""
    config, reporter = trainer.config, trainer.reporter
    if trainer.iteration_log is not None:
        trainer.iteration_log.flush()
    if trainer.distributed is not None:
        broadcast_buffers_from_main(trainer.model, trainer.distributed)  # every rank evaluates (and rank 0 saves) one model
    if trainer.before_step is not None:  # the validation pass is a burst of work too
        trainer.before_step()
    val_loss, val_acc = _validate(trainer.model, trainer.val_split, trainer.device, config, trainer.autocast_dtype, trainer.distributed)
    totals = progress.totals
    record = {
        "epoch": progress.epoch_index + 1,
        "train_loss": totals.loss_sum / max(1, totals.seen),
        "train_acc": totals.correct / max(1, totals.seen),
        "val_loss": val_loss,
        "val_acc": val_acc,
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "seconds": time.perf_counter() - progress.epoch_start,
        "time": time.time(),
    }
    reporter.history.append(record)
    progress.epoch_index += 1
    progress.step_index, progress.epoch_order, progress.totals = 0, None, _EpochTotals()
    if trainer.timelapse is not None:  # before the checkpoint: a crash in between repeats this epoch and its line
        trainer.timelapse.record(progress.epoch_index)
    if reporter.run is not None:
        reporter.run.save_checkpoint(_checkpoint_state(trainer, progress))
        reporter.run.append_metrics(record)
        reporter.run.heartbeat()
        progress.last_heartbeat = time.monotonic()
    reporter.emit({"type": "epoch", **record, "eta_s": _eta_seconds(trainer, progress, progress.epoch_index * trainer.steps_per_epoch)})


def _eta_seconds(trainer: _Trainer, progress: _Progress, global_steps_done: int) -> float:
    """Seconds left at this call's average step time (0 before its first step)."""
    if progress.session_steps == 0:
        return 0.0
    per_step = (time.perf_counter() - progress.session_start) / progress.session_steps
    return per_step * max(0, trainer.steps_per_epoch * trainer.config.epochs - global_steps_done)


def _checkpoint_state(trainer: _Trainer, progress: _Progress) -> dict:
    """Everything a resume needs, at `progress` (epochs completed = progress.epoch_index)."""
    return {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "epochs_completed": progress.epoch_index,
        "step_in_epoch": progress.step_index,
        "epoch_order": progress.epoch_order,
        "epoch_totals": progress.totals.to_dict(),
        "rng": _rng_state(trainer.generator, trainer.device),
        "history": list(trainer.reporter.history),
        "train_config": trainer.config.to_dict(),
        "model_config": trainer.model_config,
        "class_names": trainer.class_names,
    }


def _append_missing_metrics(run, history: list[dict]) -> None:
    """After a crash between checkpoint and metrics write, re-add the epochs metrics.jsonl lacks."""
    logged = {record.get("epoch") for record in run.read_metrics()}
    for record in history:
        if record.get("epoch") not in logged:
            run.append_metrics(record)
