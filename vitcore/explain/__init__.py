"""Explaining predictions: attention maps, attention rollout, overlays, prediction and localization.

- ``attention_maps``: ``extract_attention(model, images) -> AttentionMaps`` for one image.
- ``rollout``: ``attention_rollout(attentions, num_prefix_tokens)`` (Abnar & Zuidema, 2020).
- ``overlay``: ``render_overlay(image, heat, opacity)`` paints a (g, g) map over a photo.
- ``predict``: ``predict_image(...) -> Prediction`` and ``overlay_for_prediction(...)``.
- ``localization``: share of attention that falls on an object mask, versus chance.
"""

from vitcore.explain.attention_maps import AttentionMaps, extract_attention, is_attention_model
from vitcore.explain.localization import (
    LocalizationScore,
    attention_mass_on_mask,
    localization_score,
    mask_area_fraction,
)
from vitcore.explain.overlay import colormap_lut, heat_to_rgba, render_overlay
from vitcore.explain.predict import Prediction, overlay_for_prediction, predict_image
from vitcore.explain.rollout import attention_rollout

__all__ = [
    "AttentionMaps",
    "LocalizationScore",
    "Prediction",
    "attention_mass_on_mask",
    "attention_rollout",
    "colormap_lut",
    "extract_attention",
    "heat_to_rgba",
    "is_attention_model",
    "localization_score",
    "mask_area_fraction",
    "overlay_for_prediction",
    "predict_image",
    "render_overlay",
]
