"""Every explanation method behind one call: `explain(model, image, method)` -> one heat map over the picture.

| method                 | models | what it is                                                           |
|------------------------|--------|----------------------------------------------------------------------|
| `rollout`              | ViT    | attention rolled out through all layers (Abnar & Zuidema 2020)       |
| `relevance`            | ViT    | gradient-weighted attention relevance for a class (Chefer et al. 2021); not the homework encoder |
| `gradcam`              | CNN    | Grad-CAM on the last convolutional stage (captum)                    |
| `integrated_gradients` | CNN    | integrated gradients from a black picture (captum)                   |

Whatever its native resolution (a 4x4 patch grid, a 16x16 feature map, every pixel), each method's map is
resized to the picture (S x S, bilinear), clipped at 0 and normalised to sum to 1, so the pages, the CLI
and the localization scores treat every method alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.explain.attention_maps import is_attention_model

VIT_METHODS = ("rollout", "relevance")  # for Vision Transformers (correct or homework)
CNN_METHODS = ("gradcam", "integrated_gradients")  # for the CNNs
METHOD_TITLES = {  # what the pages call each method
    "rollout": "attention rollout",
    "relevance": "attention relevance (Chefer et al.)",
    "gradcam": "Grad-CAM",
    "integrated_gradients": "integrated gradients",
}


@dataclass
class Explanation:
    """One picture's explanation by one method."""

    heat: np.ndarray  # (S, S) float32, non-negative, sums to 1: where the method says the model looked
    method: str  # the method's name (see METHOD_TITLES)
    target: int  # the class explained (the model's prediction unless one was asked for)
    probabilities: np.ndarray  # (C,) the model's softmax for the picture


def methods_for(model: nn.Module) -> tuple[str, ...]:
    """The methods that apply to this model: VIT_METHODS for a ViT, CNN_METHODS for a CNN.

    The homework's encoder gets rollout only: its heads multiply V with their own weights and stack a copy
    afterwards, so no gradient reaches the matrix it returns.
    """
    from vitcore.models.homework_vit import HomeworkViT

    if isinstance(model, HomeworkViT):
        return ("rollout",)
    return VIT_METHODS if is_attention_model(model) else CNN_METHODS


def picture_heat(heat: torch.Tensor, size: int) -> np.ndarray:
    """(h, w) map -> (size, size) float32: bilinear resize, clipped at 0, sums to 1 (uniform when all zero)."""
    grid = torch.nan_to_num(heat.detach().float().cpu())[None, None]  # (1, 1, h, w)
    pixels = F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)[0, 0].clamp_min(0)  # (S, S)
    total = float(pixels.sum())
    if total <= 0:
        return np.full((size, size), 1.0 / (size * size), dtype=np.float32)
    return (pixels / total).numpy().astype(np.float32)


def _native_heat(model: nn.Module, image: torch.Tensor, method: str, target: int) -> torch.Tensor:
    """The method's own map: (g, g), (h, w) or (S, S)."""
    if method == "rollout":
        from vitcore.explain.attention_maps import extract_attention

        return torch.from_numpy(extract_attention(model, image).rollout)  # (g, g)
    if method == "relevance":
        from vitcore.explain.relevance import attention_relevance

        return attention_relevance(model, image, target)  # (g, g)
    if method == "gradcam":
        from vitcore.explain.cnn_attribution import grad_cam

        return grad_cam(model, image, target)  # (h, w)
    from vitcore.explain.cnn_attribution import integrated_gradients

    return integrated_gradients(model, image, target)  # (S, S)


def explain(model: nn.Module, image: torch.Tensor, method: str, target: int | None = None) -> Explanation:
    """Explain one float picture (1, 3, S, S) in [0, 1] with `method`; `target` defaults to the predicted class.

    The model is put in eval mode for the call and back in its former mode afterwards.
    """
    allowed = methods_for(model)
    if method not in allowed:
        kind = ("the homework's encoder" if allowed == ("rollout",) else "a ViT") if is_attention_model(model) else "a CNN"
        raise VitcoreError(f"{method!r} does not explain {kind}; choose one of {', '.join(allowed)}.")
    if image.ndim != 4 or image.shape[0] != 1:
        raise VitcoreError(f"one picture (1, 3, S, S) is explained at a time, got {tuple(image.shape)}.")
    first_parameter = next(model.parameters())
    image = image.to(first_parameter.device)  # (1, 3, S, S)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probabilities = model(image).softmax(dim=-1)[0].float().cpu()  # (C,)
        chosen = int(probabilities.argmax()) if target is None else int(target)
        if not 0 <= chosen < probabilities.numel():
            raise VitcoreError(f"class {chosen} does not exist; the model has {probabilities.numel()} classes.")
        heat = picture_heat(_native_heat(model, image, method, chosen), int(image.shape[-1]))  # (S, S)
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return Explanation(heat=heat, method=method, target=chosen, probabilities=probabilities.numpy())
