"""Start, queue, stop and resume training from the dashboard (no Streamlit here).

Each run is a vitcore `TrainingJob` (its own worker thread, stop event, join).
The one-click "ViT then CNN" on Home uses `JobQueue`: one extra worker thread
that starts the jobs one after another, so two runs never fight over the CPU.
Every job is registered in the shared JobRegistry under its run id, together
with the session that started it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass

from app.jobs import JobRegistry

QUEUE_POLL_S = 0.25  # how often the queue thread checks its stop event while a job runs


@dataclass
class JobRequest:
    """One run to start: model + recipe + a human name."""

    model_config: object  # ViTConfig or CNNConfig (num_classes / image_size already matched to the data)
    train_config: object  # TrainConfig
    name: str  # run name, e.g. "vit-classroom"


def fit_to_data(model_config, data):
    """The preset's model config with num_classes and image_size taken from the dataset."""
    changes = {"num_classes": len(data.class_names)}
    if hasattr(model_config, "image_size"):
        changes["image_size"] = int(data.image_size)
    return dataclasses.replace(model_config, **changes)


def start_job(store, registry: JobRegistry, owner: str, data, request: JobRequest) -> str:
    """Create the run folder, start its worker thread and register it; returns the run id."""
    from vitcore.train.job import TrainingJob

    job = TrainingJob(store, request.model_config, request.train_config, data, owner=owner, name=request.name)
    job.start()
    registry.register(job.run_id, job, owner)
    return job.run_id


def resume_job(store, registry: JobRegistry, owner: str, data, run_id: str) -> str:
    """Continue a stopped/interrupted run from its last checkpoint (same run folder)."""
    from vitcore.train.job import TrainingJob

    job = TrainingJob.resume(store, run_id, data)
    job.start()
    registry.register(run_id, job, owner)
    return run_id


class JobQueue:
    """Runs several TrainingJobs strictly one after another in one extra thread.

    All run folders are created up front (status "queued"), so every session sees
    the whole plan at once. `stop()` stops the running job and cancels the rest.
    """

    def __init__(self, store, data, requests: list[JobRequest], owner: str):
        from vitcore.train.job import TrainingJob

        self.jobs = [
            TrainingJob(store, request.model_config, request.train_config, data, owner=owner, name=request.name)
            for request in requests
        ]  # one TrainingJob per request, in order
        self._stop_event = threading.Event()  # set by stop(): cancel the jobs not yet started
        self._thread: threading.Thread | None = None  # the queue's worker thread

    @property
    def run_ids(self) -> list[str]:
        return [job.run_id for job in self.jobs]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="train-queue", daemon=False)
        self._thread.start()

    def _work(self) -> None:
        for job in self.jobs:
            if self._stop_event.is_set():
                job.run.set_status("stopped", "cancelled before it started")
                continue
            job.start()
            while not job.join(timeout=QUEUE_POLL_S):
                if self._stop_event.is_set():
                    job.stop()

    def stop(self) -> None:
        self._stop_event.set()
        for job in self.jobs:
            job.stop()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class QueuedJobHandle:
    """Registry entry for one job of a queue: stop() cancels that job only; alive while queued or running."""

    def __init__(self, queue: JobQueue, job):
        self.queue = queue  # the queue the job belongs to
        self.job = job  # the TrainingJob itself

    def stop(self) -> None:
        self.job.stop()

    def join(self, timeout: float | None = None) -> bool:
        return self.job.join(timeout)

    def is_alive(self) -> bool:
        if self.job.is_alive():
            return True
        # Not started yet but the queue will still start it.
        return self.queue.is_alive() and self.job.snapshot().status == "queued" and self.job.run.status().get("status") == "queued"

    def snapshot(self):
        return self.job.snapshot()


def start_queue(store, registry: JobRegistry, owner: str, data, requests: list[JobRequest]) -> list[str]:
    """Create all runs, start the queue thread, register every job; returns the run ids in order."""
    queue = JobQueue(store, data, requests, owner)
    for job in queue.jobs:
        registry.register(job.run_id, QueuedJobHandle(queue, job), owner)
    queue.start()
    return queue.run_ids


def preset_for_data(kind: str, name: str, data):
    """vitcore preset `kind/name` sized for the dataset, with the server's training overrides applied."""
    from vitcore.presets import get_preset

    preset = get_preset(kind, name, num_classes=len(data.class_names), image_size=int(data.image_size))
    preset.train_config = apply_overrides(preset.train_config)
    return preset


def apply_overrides(train_config):
    """Apply env VIT_CLASSROOM_TRAIN_OVERRIDES (JSON of TrainConfig fields, e.g. '{"epochs": 1}').

    Lets a teacher (or the tests) shorten every preset on this server without code changes.
    """
    text = os.environ.get("VIT_CLASSROOM_TRAIN_OVERRIDES", "").strip()
    if not text:
        return train_config
    values = train_config.to_dict()
    values.update(json.loads(text))
    return type(train_config).from_dict(values)


def classroom_requests(data) -> list[JobRequest]:
    """The Home page's one-click plan: vit/classroom then cnn/hw4, fitted to `data`."""
    requests = []
    for kind, name in (("vit", "classroom"), ("cnn", "hw4")):
        preset = preset_for_data(kind, name, data)
        requests.append(JobRequest(preset.model_config, preset.train_config, f"{kind}-{name}"))
    return requests
