"""App-side adapters between the pages and vitcore's run store / explain modules.

Pages want short, display-ready things (a label per run, metrics as two
DataFrames, a prediction for a PIL image); this module turns vitcore's objects
into those, without doing any training or model maths itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image

DRAWINGS_ONLY_NOTE = (
    "This model has only ever seen the embedded drawings, never a photo, so take its answer about a real picture "
    "with a pinch of salt; to classify photos, choose or build a folder of real photos on the Data page and train on it."
)  # the Attention page's note under the answer when a run trained on the synthetic set is asked about an upload


@dataclass
class RunInfo:
    """Display-ready facts about one run folder."""

    run_id: str  # folder name
    name: str  # human name given at creation, e.g. "vit-classroom"
    model_kind: str  # "vit" | "cnn" | ""
    status: str  # queued/running/finished/failed/stopped/interrupted/unknown/corrupt
    message: str  # status message
    created: str  # ISO creation time
    dataset_id: str  # content id of the dataset it was trained on
    owner: str | None  # session id of whoever submitted it (None when unknown)
    epochs_completed: int  # epochs with a metrics line
    epochs_planned: int  # TrainConfig.epochs, 0 when unknown
    last_val_acc: float | None  # val accuracy after the last epoch
    has_checkpoint: bool  # checkpoint.pt exists
    checkpoint_mtime: float  # checkpoint modification time (cache key for loaded models), 0 if none
    error: str | None  # why the folder could not be read

    @property
    def label(self) -> str:
        accuracy = "" if self.last_val_acc is None else f" · val {self.last_val_acc:.0%}"
        return f"{self.name or self.run_id} · {self.status} · {self.created[:16].replace('T', ' ')}{accuracy}"

    @property
    def choice_label(self) -> str:
        """Label for selectboxes: stable while the run trains, because Streamlit remembers a choice by its text."""
        return f"{self.name or self.run_id} · {self.created[:16].replace('T', ' ')} · {self.run_id[-4:]}"

    @property
    def trained_on_drawings(self) -> bool:
        """True when the run learned from the embedded synthetic set (drawn objects), never from a photo."""
        from vitcore.data.synthetic import is_synthetic_dataset_id

        return is_synthetic_dataset_id(self.dataset_id)

    @property
    def description(self) -> str:
        return f"{self.model_kind.upper() or '?'} · {self.epochs_completed}/{self.epochs_planned or '?'} epochs"


def list_runs(store) -> list[RunInfo]:
    """Every run under the store, newest first, as RunInfo (broken folders included with `error`)."""
    infos = []
    for summary in store.list_runs():
        epochs_planned = 0
        if summary.error is None:
            try:
                epochs_planned = int(summary.run.config().get("train_config", {}).get("epochs", 0))
            except Exception:  # a config that changed between the two reads
                epochs_planned = 0
        checkpoint_mtime = 0.0
        if summary.has_checkpoint:
            try:
                checkpoint_mtime = summary.run.checkpoint_path.stat().st_mtime
            except OSError:
                checkpoint_mtime = 0.0
        infos.append(
            RunInfo(
                run_id=summary.id,
                name=summary.name,
                model_kind=summary.model_kind,
                status=summary.status,
                message=summary.message,
                created=summary.created,
                dataset_id=summary.dataset_id,
                owner=summary.owner,
                epochs_completed=summary.epochs_completed,
                epochs_planned=epochs_planned,
                last_val_acc=summary.last_val_acc,
                has_checkpoint=summary.has_checkpoint,
                checkpoint_mtime=checkpoint_mtime,
                error=summary.error,
            )
        )
    return infos


def epoch_frame(records: list[dict]) -> pd.DataFrame:
    """Per-epoch rows (epoch, train_loss, train_acc, val_loss, val_acc, seconds) from metrics records."""
    rows = [record for record in records if record.get("type", "epoch") == "epoch"]
    frame = pd.DataFrame(rows)
    if frame.empty or "epoch" not in frame:
        return pd.DataFrame(columns=["epoch", "train_acc", "val_acc"])
    return frame.drop(columns=["type"], errors="ignore").sort_values("epoch").reset_index(drop=True)


def iteration_frame(events: list[dict]) -> pd.DataFrame:
    """Per-iteration rows with a float `progress` in epochs (1.5 = half-way through epoch 2)."""
    rows = []
    for event in events:
        if event.get("type", "iteration") != "iteration":
            continue
        steps = max(int(event.get("steps_per_epoch") or 1), 1)
        epoch = int(event.get("epoch", 0))
        step = int(event.get("step", 0))
        rows.append(
            {
                "progress": (epoch - 1 if epoch >= 1 else epoch) + step / steps,
                "loss": event.get("loss", math.nan),
                "running_acc": event.get("running_acc", math.nan),
            }
        )
    return pd.DataFrame(rows, columns=["progress", "loss", "running_acc"])


def metrics_csv(records: list[dict]) -> bytes:
    """metrics.jsonl as CSV bytes for a download button."""
    return pd.DataFrame(records).to_csv(index=False).encode("utf-8")


def predict(model, picture: Image.Image, class_names: list[str], image_size: int, device: torch.device):
    """vitcore.explain.predict.predict_image for one PIL picture."""
    from vitcore.explain.predict import predict_image

    return predict_image(model, picture, class_names, image_size, device)


def overlay(picture: Image.Image, heat: np.ndarray, opacity: float) -> Image.Image:
    """vitcore.explain.overlay.render_overlay, capped at 512 px for the page."""
    from vitcore.explain.overlay import render_overlay

    return render_overlay(picture, heat, opacity=opacity, max_side=512)


def localization(heat: np.ndarray, mask: np.ndarray):
    """vitcore.explain.localization.localization_score (mass on mask vs chance)."""
    from vitcore.explain.localization import localization_score

    return localization_score(heat, mask)
