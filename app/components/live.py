"""Live progress widgets for background training jobs (read-only: they poll, never block).

Used inside `@st.fragment(run_every=...)` functions so the numbers refresh
every 1.5 s without a click; the worker threads never call Streamlit.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from vitcore.models.cost import format_seconds


def snapshot_iterations(snapshot) -> pd.DataFrame:
    """A JobSnapshot's kept iteration points as columns progress (epochs), loss, running_acc."""
    steps_per_epoch = max(int(snapshot.steps_per_epoch or 1), 1)
    return pd.DataFrame(
        {
            "progress": [step / steps_per_epoch for step in snapshot.iteration_steps],
            "loss": list(snapshot.iteration_losses),
            "running_acc": list(snapshot.iteration_accs),
        }
    )


def progress_text(label: str, snapshot) -> str:
    """'label · running · epoch 2/10 · step 13/40 · ETA 1 min 5 s' (and the pause for pictures, when there was one)."""
    parts = [label, snapshot.status]
    if snapshot.epoch:
        parts.append(f"epoch {snapshot.epoch}/{snapshot.epochs_total}")
    if snapshot.steps_per_epoch:
        parts.append(f"step {snapshot.step}/{snapshot.steps_per_epoch}")
    if snapshot.status == "running" and snapshot.eta_s is not None:
        parts.append(f"ETA {format_seconds(snapshot.eta_s)}")
    if snapshot.paused_s >= 1.0:  # CPU runs wait while students' pictures are answered
        parts.append(f"paused {format_seconds(snapshot.paused_s)} for students' pictures")
    if snapshot.status in ("finished", "failed", "stopped") and snapshot.message:
        parts.append(snapshot.message)
    return " · ".join(parts)


def progress_line(label: str, snapshot) -> None:
    """One progress bar with progress_text as its label."""
    st.progress(float(snapshot.fraction_done), text=progress_text(label, snapshot))
