"""One process-wide training queue: fair, bounded, and safe to share between sessions.

A classroom server has one instructor, ~30 student browsers and one GPU (or
none). If every "Train" click started its own thread, 30 runs would fight over
the same cores and nobody would finish. `JobScheduler` is the single object
the whole server shares:

    scheduler = JobScheduler(store, config_from_env(os.environ), device)
    run_id = scheduler.submit(model_config, train_config, data, owner="session-ab12", name="vit-classroom")
    scheduler.queue_position(run_id)   # 1 = next to start, None = running or done
    scheduler.snapshot(run_id)         # JobSnapshot, like TrainingJob.snapshot()
    scheduler.stop(run_id, requester="session-ab12")
    scheduler.shutdown(timeout=30)     # stop everything and join every thread

How it works:
- `submit` creates the run folder at once (status "queued"), so every session
  sees it in the run list, and appends the job to a FIFO queue;
- at most `slot_count()` jobs train at the same time: on a GPU
  `torch.cuda.device_count() * max_concurrent_per_gpu`, on the CPU
  `max_concurrent_cpu`; VIT_CLASSROOM_MAX_JOBS overrides both;
- there is no dispatcher loop and no polling: every TrainingJob calls back
  into the scheduler from its worker thread when it ends, and that callback
  starts the next queued job (first come, first served);
- one `threading.Condition` guards the queue and the running set; nothing slow
  (joining threads, deleting folders) happens while it is held.

Who may do what: anyone may watch any run; only the session that started a
run (its `owner`) or the instructor (who knows `admin_token`, compared in
constant time) may cancel, stop or delete it.

CPU threads: a CPU training run gets `training_threads_for(device)` =
max(1, cores - 1) torch threads (written into `TrainConfig.num_threads`, which
`fit` applies on the CPU only), so one core stays free for the dashboard and
for students' predictions. `torch.set_num_threads` is process-wide, so that
is a cap for the whole process, not a reservation. The training thread also
raises its own nice value by `training_nice` (vitcore.train.priority), so when
a page script and the trainer both want a core, the page gets it. And it pauses
between steps while students' predictions run (pages wrap them in
`scheduler.foreground.running()`), for `yield_quiet_s` after the last one and at
most `yield_max_pause_s` at once (vitcore.train.foreground): that works on every
OS and against every process, where nice values do not.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import os
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from vitcore.errors import RunError, VitcoreError
from vitcore.runs.store import pid_is_alive
from vitcore.train.config import TrainConfig
from vitcore.train.foreground import ForegroundActivity, TrainingYield
from vitcore.train.job import JobSnapshot, TrainingJob

FINISHED_SNAPSHOTS_KEPT = 500  # final snapshots of ended jobs kept in memory (oldest dropped first)
MAX_JOBS_ENV = "VIT_CLASSROOM_MAX_JOBS"  # overall limit on concurrent training runs
YIELD_ENV = "VIT_CLASSROOM_TRAINING_YIELD_S"  # SchedulerConfig.yield_quiet_s (0 = CPU training never pauses for pictures)
ADMIN_TOKEN_ENV = "VIT_CLASSROOM_ADMIN_TOKEN"  # the instructor's secret for acting on any run


class SchedulerPermissionError(VitcoreError):
    """A session tried to change a run it did not start (and gave no valid instructor token)."""


@dataclass
class SchedulerConfig:
    """How many training runs may run at once, and who counts as the instructor."""

    max_concurrent_cpu: int = 1  # concurrent runs when training on the CPU
    max_concurrent_per_gpu: int = 1  # concurrent runs per CUDA GPU
    admin_token: str | None = None  # instructor secret; None means nobody can act on others' runs
    max_jobs: int | None = None  # overall limit that overrides both of the above (VIT_CLASSROOM_MAX_JOBS)
    training_nice: int = 10  # CPU runs: nice increment of the training thread, so page scripts get the cores first
    max_active_per_owner: int = 3  # queued + training runs one session may have at once (None-owner jobs: no limit)
    yield_quiet_s: float = 1.5  # CPU runs pause between steps until no student prediction has run for this long (0 = never)
    yield_max_pause_s: float = 4.0  # longest single pause, then at least one step; each second trained earns a second of pause

    def __post_init__(self) -> None:
        for name in ("max_concurrent_cpu", "max_concurrent_per_gpu", "max_active_per_owner"):
            if int(getattr(self, name)) < 1:
                raise VitcoreError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("yield_quiet_s", "yield_max_pause_s"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise VitcoreError(f"{name} must be a number of seconds >= 0, got {getattr(self, name)}")
        if self.max_jobs is not None and int(self.max_jobs) < 1:
            raise VitcoreError(f"the maximum number of concurrent training runs must be at least 1, got {self.max_jobs}")
        if self.admin_token is not None and not self.admin_token.strip():
            self.admin_token = None  # an empty token would let anyone in


def config_from_env(environ: Mapping[str, str]) -> SchedulerConfig:
    """Read VIT_CLASSROOM_MAX_JOBS (a whole number >= 1), VIT_CLASSROOM_ADMIN_TOKEN and VIT_CLASSROOM_TRAINING_YIELD_S."""
    max_jobs = None
    text = environ.get(MAX_JOBS_ENV, "").strip()
    if text:
        try:
            max_jobs = int(text)
        except ValueError:
            raise VitcoreError(f"{MAX_JOBS_ENV} must be a whole number such as 2, got {text!r}") from None
    token = environ.get(ADMIN_TOKEN_ENV) or None
    changes = {}
    text = environ.get(YIELD_ENV, "").strip()
    if text:
        try:
            changes["yield_quiet_s"] = float(text)
        except ValueError:
            raise VitcoreError(f"{YIELD_ENV} must be a number of seconds such as 1.5 (0 = never pause), got {text!r}") from None
    return SchedulerConfig(max_jobs=max_jobs, admin_token=token, **changes)


def available_cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def training_threads_for(device: torch.device) -> int:
    """Torch threads a training run should use: all cores but one, so inference stays responsive.

    Callers put this into `TrainConfig.num_threads`; `fit` applies it only when
    training on the CPU (on a GPU the value is ignored).
    """
    return max(1, available_cpu_cores() - 1)


def slot_count_for(device: torch.device, config: SchedulerConfig) -> int:
    """How many runs may train at the same time on `device` (see the module docstring)."""
    if config.max_jobs is not None:
        return int(config.max_jobs)
    if device.type == "cuda":
        gpus = 1 if device.index is not None else max(1, torch.cuda.device_count())
        return gpus * int(config.max_concurrent_per_gpu)
    return int(config.max_concurrent_cpu)


class JobScheduler:
    """The server-wide FIFO queue of training runs (one instance per process)."""

    def __init__(
        self,
        store,
        config: SchedulerConfig,
        device: torch.device,
        model_builder: Callable[[dict], torch.nn.Module] | None = None,
    ):
        self.store = store  # the RunStore every run is written into
        self.config = config  # limits and the admin token
        self.device = torch.device(device)  # where runs train (decides the slot count)
        self.slots = slot_count_for(self.device, config)  # concurrent runs allowed
        self._model_builder = model_builder  # dict -> nn.Module; None = the vitcore model factory
        self._condition = threading.Condition()  # guards everything below; notified when a job ends
        self._pending: deque[TrainingJob] = deque()  # waiting jobs, oldest first
        self._running: dict[str, TrainingJob] = {}  # run id -> job whose thread is working
        self._gpu_of: dict[str, int] = {}  # run id -> CUDA index it was placed on (multi-GPU only)
        self._ended: OrderedDict[str, JobSnapshot] = OrderedDict()  # run id -> final snapshot
        self._closed = False  # set by shutdown(): no new submissions, no promotions
        self._reserved: dict[str, int] = {}  # owner -> places held by submits still creating their run folder
        self.foreground = ForegroundActivity()  # pages wrap students' predictions in foreground.running()

    # ---- submitting -------------------------------------------------------------------------
    def submit(self, model_config, train_config: TrainConfig, data_or_loader_fn, owner: str | None,
               name: str | None = None) -> str:
        """Create the run (status "queued") and start it as soon as a slot is free; returns the run id.

        A session with `max_active_per_owner` runs already queued or training is refused (a clear
        VitcoreError, and no run folder is created): one student cannot fill the whole queue.
        """
        self._reserve_place_for(owner)  # check + count in one locked step: two quick clicks cannot both pass
        try:
            job = TrainingJob(
                self.store,
                model_config,
                self._prepare_train_config(train_config),
                data_or_loader_fn,
                owner=owner,
                name=name,
                model_builder=self._model_builder,
                on_finished=self._on_job_finished,
                step_yield=self._step_yield_for_new_job(),
            )
        except BaseException:
            self._release_place_of(owner)
            raise
        self._enqueue(job, reserved_for=owner)
        return job.run_id

    def resume(self, run_id: str, data_or_loader_fn, requester: str | None, admin_token: str | None = None) -> str:
        """Queue a stopped/interrupted run to continue from its last checkpoint (owner or instructor)."""
        self._refuse_if_closed()
        self._check_permission(run_id, requester, admin_token, "resume")
        with self._condition:
            if self._find_active_locked(run_id) is not None:
                raise RunError(f"run {run_id} is already queued or training")
        self._refuse_if_trained_elsewhere(run_id)
        job = TrainingJob.resume(self.store, run_id, data_or_loader_fn, model_builder=self._model_builder,
                                 on_finished=self._on_job_finished)
        job.train_config = self._prepare_train_config(job.train_config)
        job.step_yield = self._step_yield_for_new_job()
        self._enqueue(job)
        return run_id

    def _step_yield_for_new_job(self) -> TrainingYield | None:
        """CPU runs pause for students' predictions (see vitcore.train.foreground); GPU runs leave the cores alone."""
        if self.device.type != "cpu" or self.config.yield_quiet_s <= 0:
            return None
        return TrainingYield(self.foreground, self.config.yield_quiet_s, self.config.yield_max_pause_s)

    def _prepare_train_config(self, train_config: TrainConfig) -> TrainConfig:
        """Pin "auto" to the scheduler's device and leave a core free on the CPU."""
        changes = {}
        if train_config.device in ("auto", "", None):
            changes["device"] = str(self.device)
        if self.device.type == "cpu" and train_config.num_threads is None:
            changes["num_threads"] = training_threads_for(self.device)
        if self.device.type == "cpu" and train_config.cpu_nice == 0:
            changes["cpu_nice"] = int(self.config.training_nice)
        return dataclasses.replace(train_config, **changes) if changes else train_config

    def _enqueue(self, job: TrainingJob, reserved_for: str | None = None) -> None:
        """Append to the FIFO queue and dispatch (one small status write happens under the lock).

        `reserved_for`: the owner whose place `submit` reserved; the reservation ends here, in the same locked
        step that queues the job (or refuses it), so the owner's count never drops in between.
        """
        with self._condition:
            if reserved_for is not None:
                self._release_place_locked(reserved_for)
            if self._closed:
                job.run.set_status("stopped", "the server is shutting down; start the run again later")
                self._refuse_if_closed_locked()
            if self._find_active_locked(job.run_id) is not None:  # e.g. "resume" clicked twice
                raise RunError(f"run {job.run_id} is already queued or training")
            job.run.set_status("queued", "waiting for a free training slot")  # before it can start
            self._pending.append(job)
            self._ended.pop(job.run_id, None)  # a resumed run is active again
            self._promote_locked()

    def active_count_of(self, owner: str | None) -> int:
        """Runs of `owner` that are queued or training right now (or being created by `submit`)."""
        with self._condition:
            return self._active_count_locked(owner)

    def _active_count_locked(self, owner: str | None) -> int:
        jobs = list(self._pending) + list(self._running.values())
        return sum(1 for job in jobs if job.owner == owner) + self._reserved.get(owner, 0)

    def _reserve_place_for(self, owner: str | None) -> None:
        """Refuse when closed or when `owner` is at the limit; otherwise hold one place while the run is created.

        The check and the count happen under one lock: creating the run folder takes a moment, and without
        the reservation two submits from the same session could both pass the check before either is queued.
        """
        limit = int(self.config.max_active_per_owner)
        with self._condition:
            self._refuse_if_closed_locked()
            if owner is None:
                return  # the CLI and tests: no per-session limit, nothing to reserve
            if self._active_count_locked(owner) >= limit:
                raise VitcoreError(
                    f"you already have {limit} runs queued or training; wait for one to finish, or stop or cancel "
                    "one, so that everybody's runs get a turn"
                )
            self._reserved[owner] = self._reserved.get(owner, 0) + 1

    def _release_place_of(self, owner: str | None) -> None:
        with self._condition:
            self._release_place_locked(owner)

    def _release_place_locked(self, owner: str | None) -> None:
        if owner is None or owner not in self._reserved:
            return
        self._reserved[owner] -= 1
        if self._reserved[owner] <= 0:
            del self._reserved[owner]

    def _refuse_if_closed(self) -> None:
        with self._condition:
            self._refuse_if_closed_locked()

    def _refuse_if_closed_locked(self) -> None:
        if self._closed:
            raise VitcoreError("the training queue is shutting down; try again in a moment")

    # ---- dispatching ------------------------------------------------------------------------
    def _promote_locked(self) -> None:
        """Start queued jobs while slots are free (caller holds the lock)."""
        while not self._closed and self._pending and len(self._running) < self.slots:
            job = self._pending.popleft()
            self._place_on_gpu_locked(job)
            self._running[job.run_id] = job
            job.start()
        self._condition.notify_all()

    def _place_on_gpu_locked(self, job: TrainingJob) -> None:
        """With several GPUs and a plain "cuda" device, put the job on the least busy GPU."""
        if self.device.type != "cuda" or self.device.index is not None or torch.cuda.device_count() < 2:
            return
        if torch.device(job.train_config.device) != torch.device("cuda"):
            return  # the recipe names a specific GPU (or the CPU): respect it
        load = {index: 0 for index in range(torch.cuda.device_count())}
        for index in self._gpu_of.values():
            load[index] = load.get(index, 0) + 1
        chosen = min(load, key=lambda index: (load[index], index))
        self._gpu_of[job.run_id] = chosen
        job.train_config = dataclasses.replace(job.train_config, device=f"cuda:{chosen}")

    def _on_job_finished(self, job: TrainingJob) -> None:
        """Called by each job's worker thread as its last act: free the slot, start the next job."""
        final = dataclasses.replace(job.snapshot(), is_alive=False)
        with self._condition:
            if self._running.get(job.run_id) is job:
                del self._running[job.run_id]
            self._gpu_of.pop(job.run_id, None)
            self._remember_locked(final)
            self._promote_locked()

    def _remember_locked(self, snapshot: JobSnapshot) -> None:
        self._ended[snapshot.run_id] = snapshot
        self._ended.move_to_end(snapshot.run_id)
        while len(self._ended) > FINISHED_SNAPSHOTS_KEPT:
            self._ended.popitem(last=False)

    # ---- reading ----------------------------------------------------------------------------
    def queue_position(self, run_id: str) -> int | None:
        """1 for the next job to start, 2 for the one after...; None when not waiting."""
        with self._condition:
            for position, job in enumerate(self._pending, start=1):
                if job.run_id == run_id:
                    return position
        return None

    def snapshot(self, run_id: str) -> JobSnapshot | None:
        """The job's progress (queued, running or ended in this process), or None if unknown here."""
        with self._condition:
            position = next((i for i, job in enumerate(self._pending, start=1) if job.run_id == run_id), None)
            job = self._running.get(run_id) or (self._pending[position - 1] if position else None)
            ended = self._ended.get(run_id)
        if job is None:
            return ended
        current = job.snapshot()
        if position is not None:
            ahead = position - 1
            waiting = "next in line" if ahead == 0 else f"{ahead} run{'s' if ahead != 1 else ''} ahead"
            current = dataclasses.replace(current, message=f"waiting for a free training slot ({waiting})")
        return current

    def active_runs(self) -> list[str]:
        """Run ids that are training now, then the queued ones in the order they will start."""
        with self._condition:
            return list(self._running) + [job.run_id for job in self._pending]

    def training_runs(self) -> list[str]:
        """Run ids that are training now (not the queued ones), in the order they started."""
        with self._condition:
            return list(self._running)

    def running_count(self) -> int:
        with self._condition:
            return len(self._running)

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running (True) or the timeout passes (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending and not self._running, timeout)

    # ---- permissions ------------------------------------------------------------------------
    def is_admin(self, admin_token: str | None) -> bool:
        """True when `admin_token` matches the configured instructor token (constant-time compare)."""
        expected = self.config.admin_token
        if not expected or not admin_token:
            return False
        return hmac.compare_digest(str(admin_token).encode("utf-8"), expected.encode("utf-8"))

    def _owner_of(self, run_id: str) -> str | None:
        with self._condition:
            job = self._find_active_locked(run_id)
        run = job.run if job is not None else self.store.get(run_id)  # unknown id -> RunError
        try:
            return run.config().get("owner")
        except RunError:
            return None  # a corrupt config: only the instructor may act on it

    def _check_permission(self, run_id: str, requester: str | None, admin_token: str | None, action: str) -> None:
        if self.is_admin(admin_token):
            return
        owner = self._owner_of(run_id)
        if requester is None or owner is None or requester != owner:
            raise SchedulerPermissionError(
                f"only the session that started this run (or the instructor) can {action} it"
            )

    def _find_active_locked(self, run_id: str) -> TrainingJob | None:
        if run_id in self._running:
            return self._running[run_id]
        return next((job for job in self._pending if job.run_id == run_id), None)

    # ---- controlling ------------------------------------------------------------------------
    def cancel(self, run_id: str, requester: str | None, admin_token: str | None = None) -> None:
        """Take a queued run out of the queue (it is kept, with status "stopped")."""
        self._check_permission(run_id, requester, admin_token, "cancel")
        with self._condition:
            job = next((queued for queued in self._pending if queued.run_id == run_id), None)
            if job is None:
                state = "training already; stop it instead" if run_id in self._running else "not waiting in the queue"
                raise RunError(f"run {run_id} cannot be cancelled: it is {state}")
            self._pending.remove(job)
            self._condition.notify_all()
        job.run.set_status("stopped", "cancelled before it started")
        with self._condition:
            self._remember_locked(dataclasses.replace(job.snapshot(), status="stopped",
                                                      message="cancelled before it started"))

    def stop(self, run_id: str, requester: str | None, admin_token: str | None = None) -> None:
        """Stop a training run (it saves a checkpoint and can be resumed); a queued run is cancelled."""
        self._check_permission(run_id, requester, admin_token, "stop")
        with self._condition:
            job = self._running.get(run_id)
            queued = job is None and any(pending.run_id == run_id for pending in self._pending)
        if job is not None:
            job.stop()
        elif queued:
            self.cancel(run_id, requester, admin_token)
        else:
            raise RunError(f"run {run_id} is not queued or training in this server")

    def delete(self, run_id: str, requester: str | None, admin_token: str | None = None,
               timeout: float = 60.0) -> None:
        """Remove a run and its folder; a training run is stopped (and its thread joined) first."""
        self._check_permission(run_id, requester, admin_token, "delete")
        with self._condition:
            job = self._running.get(run_id)
            pending = next((queued for queued in self._pending if queued.run_id == run_id), None)
            if pending is not None:
                self._pending.remove(pending)
                self._condition.notify_all()
        if job is not None:
            job.stop()
            if not job.join(timeout):
                raise RunError(f"run {run_id} did not stop within {timeout:.0f} s; try deleting it again")
        elif pending is None:
            self._refuse_if_trained_elsewhere(run_id)
        self.store.delete(run_id)
        with self._condition:
            self._ended.pop(run_id, None)

    def _refuse_if_trained_elsewhere(self, run_id: str) -> None:
        """A run still training outside this queue (another process, or a bare TrainingJob) is kept."""
        try:
            status = self.store.get(run_id).status()
        except RunError:
            return  # a corrupt status file: nothing is writing it sensibly, let it go
        if status.get("status") == "running" and pid_is_alive(status.get("pid")):
            raise RunError(f"run {run_id} is still training outside this queue; stop it there first")

    def shutdown(self, timeout: float | None = 30.0) -> bool:
        """Stop every run, mark queued ones as interrupted and join all training threads.

        Returns True when every thread ended within `timeout` seconds.
        """
        with self._condition:
            self._closed = True
            queued = list(self._pending)
            self._pending.clear()
            running = list(self._running.values())
            self._condition.notify_all()
        message = "the server shut down before this run started; start it again"
        for job in queued:
            try:
                job.run.set_status("interrupted", message)
            except (OSError, RunError):
                pass  # its folder may have been deleted meanwhile
            with self._condition:
                self._remember_locked(dataclasses.replace(job.snapshot(), status="interrupted", message=message))
        for job in running:
            job.stop()
        all_joined = True
        for job in running:
            all_joined = job.join(timeout) and all_joined
        return all_joined

    def __enter__(self) -> "JobScheduler":
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()
