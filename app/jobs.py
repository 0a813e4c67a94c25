"""A process-wide, lock-guarded registry of background training jobs.

Streamlit re-runs page scripts for every click, in many browser sessions at
once, so the running jobs cannot live in a page: they live here (one object per
server process, handed out by `st.cache_resource` in app/state.py). Only the
session that started a job may stop it; every session may watch it.

No Streamlit call happens in this module: worker threads only touch the lock-
guarded objects, and pages poll them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JobEntry:
    """One background job and who started it."""

    run_id: str  # the run folder id the job writes into
    job: Any  # a vitcore TrainingJob (or the app's sequential queue), has stop()/join()/snapshot()
    owner_id: str  # session id of the browser session that pressed Start
    started_at: float = field(default_factory=time.time)  # wall-clock start, for sorting


class JobRegistry:
    """Thread-safe dict run_id -> JobEntry shared by all sessions of the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _entries
        self._entries: dict[str, JobEntry] = {}  # run_id -> entry

    def register(self, run_id: str, job: Any, owner_id: str) -> JobEntry:
        """Remember a started job; a finished job with the same id is replaced."""
        entry = JobEntry(run_id=run_id, job=job, owner_id=owner_id)
        with self._lock:
            self._entries[run_id] = entry
        return entry

    def get(self, run_id: str) -> JobEntry | None:
        with self._lock:
            return self._entries.get(run_id)

    def entries(self) -> list[JobEntry]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda entry: entry.started_at)

    def is_alive(self, run_id: str) -> bool:
        """True while the job's worker thread is still working."""
        entry = self.get(run_id)
        return entry is not None and job_is_alive(entry.job)

    def can_stop(self, run_id: str, owner_id: str) -> bool:
        entry = self.get(run_id)
        return entry is not None and entry.owner_id == owner_id and job_is_alive(entry.job)

    def stop(self, run_id: str, owner_id: str) -> bool:
        """Ask the job to stop; refused (False) unless `owner_id` started it."""
        entry = self.get(run_id)
        if entry is None or entry.owner_id != owner_id:
            return False
        entry.job.stop()
        return True

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop and join every job (server shutdown, tests)."""
        for entry in self.entries():
            entry.job.stop()
        for entry in self.entries():
            entry.job.join(timeout=timeout)


def job_is_alive(job: Any) -> bool:
    """Whether a job object still has a live worker thread."""
    alive = getattr(job, "is_alive", None)
    if callable(alive):
        return bool(alive())
    if alive is not None:
        return bool(alive)
    snapshot = job.snapshot()
    return getattr(snapshot, "status", "") in ("queued", "running")
