"""The live view's curves of one run, read and drawn once a second for every session watching it.

The Train page's live view redraws every 1.5 s in every open tab. Reading a run's files and building its
two plotly figures costs tens of milliseconds per redraw (make_subplots is most of it; measured by
`python bench/live_curves.py`), so 30 students watching the same run would spend about a whole core on
identical pictures. `shared_live_curves` builds them at most once per SHARE_S seconds per run and
state, and every session draws the same objects (Streamlit still serialises them once per tab).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app import run_tools, state
from app.components import charts
from app.components.live import snapshot_iterations

REFRESH_S = 1.5  # the Train page's live view redraws itself this often
SHARE_S = 1.0  # sessions watching one run within this many seconds share one read and one pair of figures
SMOOTHING_STEPS = 5  # the loss curve is a moving average over this many steps
MAX_CURVE_POINTS = 400  # the per-iteration curve is averaged down to at most this many points per trace


@dataclass(frozen=True)
class LiveCurves:
    """What the live view shows of one run at one moment (shared, so never modified after it is built)."""

    epochs: pd.DataFrame  # one row per finished epoch (metrics.jsonl)
    status: dict  # status.json
    planned_epochs: int  # epochs in the run's recipe
    iterations: pd.DataFrame  # per-step curve: saved on disk plus the fresher live points
    steps_per_point: int  # training steps averaged into each drawn point of the iteration curve (1 = every step)
    iteration_figure: object | None  # plotly figure of `iterations` (None while there are none)
    epoch_figure: object | None  # plotly figure of `epochs` (None while there are none)


def iteration_curve(run, activity) -> pd.DataFrame:
    """The per-step curve saved on disk, plus the newest live points the log has not flushed yet."""
    on_disk = run_tools.iteration_frame(run.read_iterations())  # survives refreshes and restarts
    if activity is None or activity.snapshot is None or activity.state != "training":
        return on_disk
    live = snapshot_iterations(activity.snapshot)
    newest_saved = on_disk["progress"].max() if not on_disk.empty else float("-inf")
    fresher = live[live["progress"] > newest_saved]
    return fresher if on_disk.empty else pd.concat([on_disk, fresher], ignore_index=True)


def thin_curve(iterations: pd.DataFrame, max_points: int) -> tuple[pd.DataFrame, int]:
    """Average consecutive steps so at most `max_points` rows remain; returns (rows, steps per row).

    A chart a few hundred pixels wide cannot show more points than it has pixels, yet every point is
    sent to every watching tab and redrawn there every 1.5 s: a long run (thousands of steps) made each
    redraw slower step by step. Averaging keeps the curve's shape and bounds that work.
    """
    steps_per_point = max(1, -(-len(iterations) // max_points))  # ceiling division
    if steps_per_point == 1:
        return iterations, 1
    bucket = pd.RangeIndex(len(iterations)) // steps_per_point  # (rows,) bucket number of each step
    return iterations.groupby(bucket).mean().reset_index(drop=True), steps_per_point


def build_live_curves(run, activity) -> LiveCurves:
    """Read `run`'s files and build its two figures (what every redraw of every tab did before the sharing)."""
    epochs = run_tools.epoch_frame(run.read_metrics())
    iterations, steps_per_point = thin_curve(iteration_curve(run, activity), MAX_CURVE_POINTS)
    smoothing = max(1, -(-SMOOTHING_STEPS // steps_per_point))  # still about SMOOTHING_STEPS steps (or one point)
    return LiveCurves(
        epochs=epochs,
        status=run.status(),
        planned_epochs=max(int(run.config().get("train_config", {}).get("epochs", 1) or 1), 1),
        iterations=iterations,
        steps_per_point=steps_per_point,
        iteration_figure=None if iterations.empty else charts.iteration_curves({run.id: iterations}, smooth=smoothing),
        epoch_figure=None if epochs.empty else charts.epoch_accuracy({run.id: epochs}),
    )


@st.cache_resource(ttl=SHARE_S, max_entries=256, show_spinner=False)
def shared_live_curves(run_id: str, activity_state: str, _activity) -> LiveCurves:
    """`build_live_curves` of `run_id`, at most once per SHARE_S seconds for every watcher.

    `activity_state` ("queued", "training", "idle") is part of the key, so the moment a run ends its
    watchers get the final curves. `_activity` (a run_control activity, not hashed) supplies the live
    points of a training run. Errors, such as RunError for a corrupt file, propagate and are not cached.
    """
    return build_live_curves(state.get_run_store().get(run_id), _activity)
