"""Run `fit` in a background thread and let a UI poll its progress.

    job = TrainingJob(store, model_config, train_config, data)
    job.start()
    ... job.snapshot()   # a frozen copy, safe to read from any thread
    job.stop(); job.join()

The worker thread only ever writes into a lock-guarded progress record; the
UI reads `snapshot()` copies. Any exception inside the thread ends up as
status "failed" with its message, both in the snapshot and in status.json.
"""

from __future__ import annotations

import dataclasses
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from vitcore.data.dataset import ClassificationData
from vitcore.seeding import seed_everything
from vitcore.train.config import TrainConfig
from vitcore.train.engine import FitResult, fit
from vitcore.train.foreground import TrainingYield
from vitcore.train.priority import lower_current_thread_priority
from vitcore.train.teacher import load_teacher

ITERATION_HISTORY_LIMIT = 2000  # iteration points kept for the live loss curve


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, immutable view of a job's progress at one moment."""

    run_id: str  # the run folder id
    status: str  # queued | running | finished | failed | stopped
    message: str  # latest human message
    epoch: int  # current (1-based) epoch, 0 before the first step
    epochs_total: int  # epochs in the recipe
    step: int  # current (1-based) step within the epoch
    steps_per_epoch: int  # optimizer steps per epoch (0 until known)
    fraction_done: float  # 0..1 over the whole run
    eta_s: float | None  # estimated seconds left
    loss: float | None  # latest training batch loss
    running_acc: float | None  # training accuracy so far in this epoch
    lr: float | None  # latest learning rate
    iteration_steps: tuple[int, ...]  # global step of each kept iteration point
    iteration_losses: tuple[float, ...]  # loss at each kept iteration point
    iteration_accs: tuple[float, ...]  # running accuracy at each kept iteration point
    iteration_lrs: tuple[float, ...]  # learning rate at each kept iteration point
    epoch_history: tuple[dict, ...]  # one dict per finished epoch (train/val loss and acc...)
    is_alive: bool  # whether the worker thread is still running
    result: FitResult | None  # set once fit has returned
    paused_s: float = 0.0  # seconds this run paused between steps for students' pictures (vitcore.train.foreground)


class _Progress:
    """Mutable progress record; every access goes through the job's lock."""

    def __init__(self, epochs_total: int):
        self.status = "queued"  # job status
        self.message = "waiting to start"  # latest message
        self.epoch = 0  # current epoch (1-based)
        self.epochs_total = epochs_total  # epochs in the recipe
        self.step = 0  # current step (1-based)
        self.steps_per_epoch = 0  # steps per epoch
        self.eta_s = None  # seconds left
        self.loss = None  # latest batch loss
        self.running_acc = None  # running train accuracy
        self.lr = None  # latest lr
        self.iterations = deque(maxlen=ITERATION_HISTORY_LIMIT)  # (global_step, loss, acc, lr)
        self.epoch_history = []  # finished epochs
        self.result = None  # FitResult when done
        self.paused_s = 0.0  # seconds spent pausing for students' pictures


def _model_config_dict(model_config) -> dict:
    if isinstance(model_config, dict):
        return dict(model_config)
    from vitcore.models.config import config_to_dict

    return config_to_dict(model_config)


def _default_model_builder(model_config_dict: dict) -> nn.Module:
    from vitcore.models.config import model_config_from_dict
    from vitcore.models.factory import build_model

    return build_model(model_config_from_dict(model_config_dict))


class TrainingJob:
    """One training run executed in a (non-daemon) worker thread."""

    def __init__(
        self,
        store,
        model_config,
        train_config: TrainConfig,
        data: ClassificationData | Callable[[], ClassificationData],
        owner: str | None = None,
        name: str | None = None,
        model_builder: Callable[[dict], nn.Module] | None = None,
        run=None,
        on_finished: Callable[["TrainingJob"], None] | None = None,
        step_yield: TrainingYield | None = None,
    ):
        self.store = store  # the RunStore the run lives in
        self.owner = owner if run is None else run.config().get("owner")  # the session that started the run
        self.model_config = _model_config_dict(model_config)  # JSON-safe model config
        self.train_config = train_config  # the training recipe
        self._data = data  # the dataset, or a function that loads it inside the thread
        self._model_builder = model_builder or _default_model_builder  # dict -> nn.Module
        self._resume = run is not None  # True when continuing an existing run
        self._on_finished = on_finished  # called in the worker thread after the last status is recorded
        self.step_yield = step_yield  # pauses between steps while students' pictures are answered (None: never)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress = _Progress(train_config.epochs)
        if run is not None:
            self._progress.epoch_history = list(run.read_metrics())  # epochs finished before the resume
        if run is None:
            known = data if isinstance(data, ClassificationData) else None
            kind = self.model_config.get("kind", "model")
            run = store.create_run(
                name=name or f"{kind}-classroom",
                model_config=self.model_config,
                train_config=train_config.to_dict(),
                class_names=list(known.class_names) if known else [],
                dataset_id=known.dataset_id if known else "",
                dataset_source=known.source if known else "",
                owner=owner,
            )
        self.run = run  # the run folder written by fit

    @classmethod
    def resume(cls, store, run_id: str, data, model_builder=None, on_finished=None) -> "TrainingJob":
        """A job that continues `run_id` from its last checkpoint (call `start()` next)."""
        from vitcore.errors import RunError

        run = store.get(run_id)
        config = run.config()
        if not run.has_checkpoint:
            raise RunError(f"run {run_id} has no checkpoint to resume from")
        train_config = TrainConfig.from_dict(config["train_config"])
        job = cls(store, config["model_config"], train_config, data, owner=config.get("owner"),
                  model_builder=model_builder, run=run, on_finished=on_finished)
        run.set_status("queued", "waiting to resume")
        return job

    @property
    def run_id(self) -> str:
        return self.run.id

    # ---- control ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is not None:
            raise RuntimeError("this training job was already started")
        self._thread = threading.Thread(target=self._work, name=f"train-{self.run.id}", daemon=False)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to stop before its next step (it saves a checkpoint first)."""
        self._stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread; True when it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        if self.train_config.cpu_nice and str(self.train_config.device).startswith("cpu"):
            lower_current_thread_priority(self.train_config.cpu_nice)  # before any tensor work: torch's threads inherit it
        try:
            self._train_and_record()
        finally:
            if self._on_finished is not None:  # e.g. the scheduler starting the next queued job
                self._on_finished(self)

    def _train_and_record(self) -> None:
        try:
            data = self._data if isinstance(self._data, ClassificationData) else self._data()
            if not self._resume and not self.run.config().get("class_names"):
                self.run.update_config(
                    class_names=list(data.class_names), dataset_id=data.dataset_id, dataset_source=data.source
                )
            num_classes = self.model_config.get("num_classes")
            if num_classes is not None and num_classes != len(data.class_names):
                raise ValueError(
                    f"the model has {num_classes} outputs but the dataset has {len(data.class_names)} classes"
                )
            teacher = None
            if self.train_config.teacher_run:  # a distilled ViT: its teacher is loaded (and checked) again on every start
                teacher = load_teacher(self.store, self.train_config.teacher_run, data, torch.device("cpu"))
            seed_everything(self.train_config.seed)  # same initial weights for the same seed
            model = self._model_builder(self.model_config)
            result = fit(
                model,
                data,
                self.train_config,
                on_event=self._on_event,
                should_stop=self._stop_event.is_set,
                run=self.run,
                resume=self._resume,
                before_step=self._yield_to_foreground if self.step_yield is not None else None,
                teacher=teacher,
            )
        except BaseException as error:  # never lose an error inside the thread
            message = f"{type(error).__name__}: {error}"
            traceback.print_exc()
            try:
                self.run.set_status("failed", message)
            except Exception:
                pass
            with self._lock:
                self._progress.status = "failed"
                self._progress.message = message
                self._progress.result = FitResult("failed", len(self._progress.epoch_history),
                                                  list(self._progress.epoch_history), None, message)
            return
        with self._lock:
            self._progress.status = result.status
            self._progress.message = result.message
            self._progress.result = result

    def _yield_to_foreground(self) -> None:
        paused = self.step_yield.before_step(self._stop_event.is_set)  # a stop request ends the pause at once
        if paused > 0:
            with self._lock:
                self._progress.paused_s += paused

    def _on_event(self, event: dict) -> None:
        with self._lock:
            progress = self._progress
            if event["type"] == "iteration":
                progress.epoch = event["epoch"]
                progress.step = event["step"]
                progress.steps_per_epoch = event["steps_per_epoch"]
                progress.loss = event["loss"]
                progress.running_acc = event["running_acc"]
                progress.lr = event["lr"]
                progress.eta_s = event["eta_s"]
                global_step = event.get("global_step", (event["epoch"] - 1) * event["steps_per_epoch"] + event["step"])
                progress.iterations.append((global_step, event["loss"], event["running_acc"], event["lr"]))
            elif event["type"] == "epoch":
                progress.epoch_history.append({k: v for k, v in event.items() if k != "type"})
                progress.eta_s = event["eta_s"]
            elif event["type"] == "status":
                progress.status = event["status"]
                progress.message = event["message"]

    # ---- reading ---------------------------------------------------------------------------
    def snapshot(self) -> JobSnapshot:
        """A frozen copy of the progress, safe to use after the lock is released."""
        with self._lock:
            progress = self._progress
            steps_total = progress.steps_per_epoch * progress.epochs_total
            if progress.status == "finished":
                fraction = 1.0
            elif steps_total:
                done = (progress.epoch - 1) * progress.steps_per_epoch + progress.step
                fraction = min(1.0, max(0.0, done / steps_total))
            else:
                fraction = 0.0
            iterations = list(progress.iterations)
            return JobSnapshot(
                run_id=self.run.id,
                status=progress.status,
                message=progress.message,
                epoch=progress.epoch,
                epochs_total=progress.epochs_total,
                step=progress.step,
                steps_per_epoch=progress.steps_per_epoch,
                fraction_done=fraction,
                eta_s=progress.eta_s,
                loss=progress.loss,
                running_acc=progress.running_acc,
                lr=progress.lr,
                iteration_steps=tuple(point[0] for point in iterations),
                iteration_losses=tuple(point[1] for point in iterations),
                iteration_accs=tuple(point[2] for point in iterations),
                iteration_lrs=tuple(point[3] for point in iterations),
                epoch_history=tuple(dict(record) for record in progress.epoch_history),
                is_alive=self.is_alive(),
                result=None if progress.result is None else dataclasses.replace(progress.result),
                paused_s=progress.paused_s,
            )
