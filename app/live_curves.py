"""The live view's curves of one run, read and drawn once a second for every session watching it.

The Train page's live view redraws every 1.5 s in every open tab. Reading a run's files and building its
two plotly figures costs tens of milliseconds per redraw (make_subplots is most of it; measured by
`python bench/live_curves.py`), so 30 students watching the same run would spend about a whole core on
identical pictures. `shared_live_curves` builds them at most once per SHARE_S seconds per run and
state, and every session draws the same objects (Streamlit still serialises them once per tab).
`live_curves_for` goes one step further while a class's pictures are being answered: the watchers are
shown the curves they already have, so no tab redraws a changed chart on the cores that answer them.
The page's overview below the live view (the run list and the overlay of several runs' epochs) redraws
too while anything trains; `shared_run_list` and `shared_overlay_figure` share its reads and figure the same way.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import streamlit as st

from app import state
from app.services import run_tools
from app.components import charts
from app.components.live import snapshot_iterations
from vitcore.runs.iteration_tail import IterationTail

REFRESH_S = 1.5  # the Train page's live view redraws itself this often
SHARE_S = 1.0  # sessions watching one run within this many seconds share one read and one pair of figures
SMOOTHING_STEPS = 5  # the loss curve is a moving average over this many steps
MAX_CURVE_POINTS = 400  # the per-iteration curve is averaged down to at most this many points per trace
HOLD_QUIET_S = 1.5  # while students' pictures were answered less than this many seconds ago, watchers keep the last figures
HOLD_MAX_S = 10.0  # ...but never curves older than this: a lab that keeps uploading still sees the charts move
HELD_RUNS = 64  # runs whose last-drawn curves are kept for that (least recently drawn dropped first)


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


def iteration_curve(run, activity, tail: IterationTail | None = None) -> pd.DataFrame:
    """The per-step curve saved on disk, plus the newest live points the log has not flushed yet.

    `tail` reads only what was appended since its last read (the shared one of `run_tail`); without one the
    whole file is read.
    """
    on_disk = (tail or IterationTail(run.iterations_path)).frame()  # survives refreshes and restarts
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


def build_live_curves(run, activity, tail: IterationTail | None = None) -> LiveCurves:
    """Read `run`'s files and build its two figures (what every redraw of every tab did before the sharing)."""
    epochs = run_tools.epoch_frame(run.read_metrics())
    iterations, steps_per_point = thin_curve(iteration_curve(run, activity, tail), MAX_CURVE_POINTS)
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
    run = state.get_run_store().get(run_id)
    return build_live_curves(run, _activity, run_tail(run_id, str(run.iterations_path)))


@st.cache_resource(max_entries=HELD_RUNS, show_spinner=False)
def run_tail(run_id: str, iterations_path: str) -> IterationTail:
    """The server's one IterationTail of a run's iterations.jsonl: each refresh parses only the new steps."""
    return IterationTail(iterations_path)


def shared_run_list() -> tuple:
    """RunStore.list_runs of the server's run store, read at most once per SHARE_S seconds for every session.

    A run folder created or deleted changes the store folder's modification time, which is part of the cache
    key: a run started (or deleted) a moment ago is listed (or gone) at once, not a second later.
    """
    return _run_list(state.get_run_store().root.stat().st_mtime_ns)


@st.cache_resource(ttl=SHARE_S, max_entries=4, show_spinner=False)
def _run_list(listing_version: int) -> tuple:
    """The run list while the store folder's modification time is `listing_version`."""
    return tuple(state.get_run_store().list_runs())


@st.cache_resource(ttl=SHARE_S, max_entries=64, show_spinner=False)
def shared_overlay_figure(run_ids: tuple[str, ...], labels: tuple[str, ...]):
    """The per-epoch accuracy of several runs on one chart (legend `labels`), built once per SHARE_S seconds per choice.

    A run deleted a moment ago is simply left out. Returns None when no chosen run could be read.
    """
    from vitcore.errors import RunError

    store = state.get_run_store()
    frames = {}
    for run_id, label in zip(run_ids, labels):
        try:
            frames[label] = run_tools.epoch_frame(store.get(run_id).read_metrics())
        except RunError:
            continue
    return charts.epoch_accuracy(frames) if frames else None


class HeldCurves:
    """The curves each run's watchers were last shown, so they can be shown again unchanged; lock-guarded.

    Redrawing a plotly figure whose data changed costs a watching tab about 0.1-0.2 CPU-s; drawing the very
    same figure again costs almost nothing (measured on the teacher's Train tab: 0.31 CPU-s per second while
    the figures changed every refresh, 0.08 while they were the same objects).
    """

    def __init__(self, capacity: int = HELD_RUNS, max_age_s: float = HOLD_MAX_S, clock: Callable[[], float] = time.monotonic):
        self._capacity = capacity  # most runs kept
        self._max_age_s = max_age_s  # curves built longer ago than this are not handed out again
        self._clock = clock  # seconds, monotonic (tests pass a fake clock)
        self._lock = threading.Lock()  # guards _latest (pages of every session call in from their own threads)
        self._latest: OrderedDict[str, tuple[str, float, LiveCurves]] = OrderedDict()  # run id -> (state, built at, curves)

    def get(self, run_id: str, activity_state: str) -> LiveCurves | None:
        """The curves last shown for `run_id` in this activity state, or None (also when they are too old)."""
        with self._lock:
            held = self._latest.get(run_id)
        if held is None or held[0] != activity_state or self._clock() - held[1] > self._max_age_s:
            return None
        return held[2]

    def put(self, run_id: str, activity_state: str, curves: LiveCurves) -> None:
        with self._lock:
            self._latest[run_id] = (activity_state, self._clock(), curves)
            self._latest.move_to_end(run_id)
            while len(self._latest) > self._capacity:
                self._latest.popitem(last=False)


@st.cache_resource(show_spinner=False)
def held_curves() -> HeldCurves:
    """The server's one HeldCurves (shared by all sessions)."""
    return HeldCurves()


def live_curves_for(run_id: str, activity, foreground, held: HeldCurves | None = None) -> LiveCurves:
    """What a live view draws now: fresh shared curves, or while students' pictures are answered, the last ones.

    When a class uploads at once, every tab watching a run would otherwise redraw its charts with the one or two
    training steps taken meanwhile, on the same cores that answer the pictures. Holding them for those few
    seconds changes nothing a viewer can read: the trainer pauses then anyway (vitcore.train.foreground).
    A change of state (queued -> training -> idle) is always shown at once, and curves are held for at most
    HOLD_MAX_S, so in a lab where pictures never stop coming the charts still move every few refreshes.
    """
    held = held if held is not None else held_curves()
    if foreground.seconds_quiet() < HOLD_QUIET_S:
        kept = held.get(run_id, activity.state)
        if kept is not None:
            return kept
    curves = shared_live_curves(run_id, activity.state, activity)
    held.put(run_id, activity.state, curves)
    return curves
