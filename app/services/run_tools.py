"""App-side adapters between the pages and vitcore's run store / explain modules.

Pages want short, display-ready things (a label per run, metrics as two
DataFrames, a prediction for a PIL image); this module turns vitcore's objects
into those, without doing any training or model maths itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image

DRAWINGS_ONLY_NOTE = (
    "This model has only ever seen the embedded drawings, never a photo, so take its answer about a real picture "
    "with a pinch of salt; to classify photos, choose or build a folder of real photos on the Data page and train on it."
)  # the Attention page's note under the answer when a run trained on the synthetic set is asked about an upload


def epoch_frame(records: list[dict]) -> pd.DataFrame:
    """Per-epoch rows (epoch, train_loss, train_acc, val_loss, val_acc, seconds) from metrics records."""
    rows = [record for record in records if record.get("type", "epoch") == "epoch"]
    frame = pd.DataFrame(rows)
    if frame.empty or "epoch" not in frame:
        return pd.DataFrame(columns=["epoch", "train_acc", "val_acc"])
    return frame.drop(columns=["type"], errors="ignore").sort_values("epoch").reset_index(drop=True)


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


def explain_picture(model, picture: Image.Image, method: str, image_size: int):
    """vitcore.explain.methods.explain for one PIL picture, resized like the training data (heat (S, S) sums to 1)."""
    from vitcore.data.dataset import to_float
    from vitcore.explain.methods import explain
    from vitcore.explain.predict import prepare_input

    pixels = prepare_input(picture, image_size)  # (3, S, S) uint8
    return explain(model, to_float(pixels.unsqueeze(0)), method)


def energy_on_object(heat: np.ndarray, mask: np.ndarray) -> float:
    """vitcore.explain.localization.energy_inside: the share of an (S, S) heat map on the object mask."""
    from vitcore.explain.localization import energy_inside

    return energy_inside(heat, mask)
