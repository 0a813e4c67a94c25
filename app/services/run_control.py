"""Who may act on a run, and what a run is doing right now in the server's queue (no Streamlit here).

Everybody sees every run. Only the session that submitted a run (its owner id)
or the instructor (the sidebar's "Instructor token" matches
VIT_CLASSROOM_ADMIN_TOKEN) may cancel, stop, resume or delete it. The
scheduler enforces this itself (SchedulerPermissionError); the pages use
`may_control` only to decide which buttons to show.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunActivity:
    """What the scheduler is doing with one run at this moment."""

    state: str  # "queued" (waiting for a slot), "training" (its thread works) or "idle" (not in the queue)
    queue_position: int | None  # 1 = next to start; None unless queued
    snapshot: object | None  # vitcore JobSnapshot (live progress) or None when this server never ran it


def run_activity(scheduler, run_id: str) -> RunActivity:
    """Queue position and live snapshot of `run_id` (reads only; never waits for training)."""
    position = scheduler.queue_position(run_id)
    snapshot = scheduler.snapshot(run_id)
    if position is not None:
        return RunActivity("queued", position, snapshot)
    if run_id in scheduler.active_runs():
        return RunActivity("training", None, snapshot)
    return RunActivity("idle", None, snapshot)


def is_active(scheduler, run_id: str) -> bool:
    """True while the run waits in the queue or trains."""
    return run_id in scheduler.active_runs()


def ordinal(number: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def queue_text(position: int) -> str:
    """The words a student sees for a waiting run, e.g. "2nd in the queue"."""
    return f"{ordinal(position)} in the queue"


def may_control(scheduler, run_owner: str | None, session_owner: str, admin_token: str | None) -> bool:
    """Whether this session may cancel/stop/resume/delete a run started by `run_owner`."""
    if scheduler.is_admin(admin_token):
        return True
    return run_owner is not None and run_owner == session_owner
