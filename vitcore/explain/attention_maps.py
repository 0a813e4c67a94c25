"""Read a ViT's attention for one image and turn it into patch-grid maps.

``extract_attention`` runs the model once (eval mode, no gradients) with
``return_attention=True`` and keeps, for that one image:

- ``full``: every layer's and head's complete (N, N) attention matrix;
- ``cls_to_patch``: for every layer and head, a (g, g) map of how strongly the
  model's summary attends to each image patch;
- ``rollout``: the attention rollout over all layers (see ``rollout.py``).

With a CLS token (``num_prefix_tokens == 1``) the summary is the CLS token, so
the map is the CLS row restricted to the patch columns, renormalised to sum to
1 over the patches (the CLS->CLS weight is dropped). A model with sequence
pooling has no CLS token; its pooled feature is the mean over all tokens, so
the map is the mean attention each patch RECEIVES over all query rows
(column mean). ``AttentionMaps.cls_mode`` records which one was used.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.explain.rollout import attention_rollout, patch_grid_size, stack_layers

CLS_MODE_CLS_ROW = "cls_row"  # maps are the CLS token's row over the patch columns
CLS_MODE_MEAN_RECEIVED = "mean_received"  # no CLS token: mean attention each patch receives


@dataclass
class AttentionMaps:
    """All attention views of one image, as CPU float32/float64 numpy arrays."""

    full: np.ndarray  # (L, H, N, N) float32 raw attention per layer and head; rows = queries
    cls_to_patch: np.ndarray  # (L, H, g, g) float32 summary->patch attention, each map sums to 1
    rollout: np.ndarray  # (g, g) float64 attention rollout over all layers, sums to 1
    grid_size: int  # g: patches per side (4 for a 64 px image with 16 px patches)
    num_prefix_tokens: int  # tokens before the patches: 1 for a CLS token, 0 with sequence pooling
    cls_mode: str  # "cls_row" (CLS row over patches) or "mean_received" (column mean, no CLS token)

    @property
    def num_layers(self) -> int:
        """L, the number of encoder layers."""
        return int(self.full.shape[0])

    @property
    def num_heads(self) -> int:
        """H, the number of heads per layer."""
        return int(self.full.shape[1])

    def layer_mean(self, layer: int = -1) -> np.ndarray:
        """(g, g) head-averaged summary->patch map of one layer (default: the last), sums to 1."""
        return self.cls_to_patch[layer].mean(axis=0)  # (g, g)


def is_attention_model(model: nn.Module) -> bool:
    """True for models that follow the ViT contract (can return attention maps)."""
    return hasattr(model, "num_prefix_tokens") and hasattr(model, "grid_size")


def summary_to_patch_maps(full: np.ndarray, num_prefix_tokens: int, grid_size: int) -> np.ndarray:
    """(L, H, N, N) -> (L, H, g, g): CLS row over patches, or mean received attention without CLS."""
    if num_prefix_tokens > 0:
        patch_scores = full[:, :, 0, num_prefix_tokens:]  # (L, H, g*g) CLS query row, patch keys
    else:
        patch_scores = full.mean(axis=2)  # (L, H, g*g) mean over query rows = attention received
    totals = patch_scores.sum(axis=-1, keepdims=True)  # (L, H, 1)
    totals = np.where(totals > 0, totals, 1.0)  # avoid 0/0 if a head puts all weight on CLS
    patch_scores = patch_scores / totals  # (L, H, g*g) sums to 1 over patches
    num_layers, num_heads = full.shape[:2]
    return patch_scores.reshape(num_layers, num_heads, grid_size, grid_size)  # (L, H, g, g)


def maps_from_attentions(attentions, num_prefix_tokens: int) -> AttentionMaps:
    """Build AttentionMaps from a model's per-layer attention list for ONE image."""
    layers = stack_layers(attentions)  # (L, H, N, N) float64
    grid_size = patch_grid_size(layers.shape[-1], num_prefix_tokens)
    return AttentionMaps(
        full=layers.astype(np.float32),  # (L, H, N, N)
        cls_to_patch=summary_to_patch_maps(layers, num_prefix_tokens, grid_size).astype(np.float32),  # (L, H, g, g)
        rollout=attention_rollout(layers, num_prefix_tokens),  # (g, g)
        grid_size=grid_size,
        num_prefix_tokens=num_prefix_tokens,
        cls_mode=CLS_MODE_CLS_ROW if num_prefix_tokens > 0 else CLS_MODE_MEAN_RECEIVED,
    )


def forward_with_attention(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, AttentionMaps]:
    """One eval-mode, no-grad forward pass of ONE image; returns (logits (1, C), AttentionMaps).

    The model's train/eval mode is restored afterwards.
    """
    if not is_attention_model(model):
        raise VitcoreError("this model does not expose attention maps (only Vision Transformers do).")
    if images.ndim == 3:
        images = images.unsqueeze(0)  # (1, 3, S, S)
    if images.ndim != 4 or images.shape[0] != 1:
        raise VitcoreError(f"attention is extracted for exactly one image (1, 3, S, S), got {tuple(images.shape)}.")
    first_parameter = next(model.parameters(), None)
    if first_parameter is not None:
        images = images.to(first_parameter.device)  # (1, 3, S, S) on the model's device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, attentions = model(images, return_attention=True)  # (1, C), L x (1, H, N, N)
    finally:
        model.train(was_training)
    maps = maps_from_attentions([layer[0] for layer in attentions], int(model.num_prefix_tokens))
    if maps.grid_size != int(model.grid_size):
        raise VitcoreError(
            f"the attention maps form a {maps.grid_size}x{maps.grid_size} grid but the model reports {model.grid_size}."
        )
    return logits, maps


def extract_attention(model: nn.Module, images: torch.Tensor) -> AttentionMaps:
    """Attention maps of a ViT for one float image in [0, 1], shape (1, 3, S, S) (or (3, S, S))."""
    _, maps = forward_with_attention(model, images)
    return maps


__all__ = [
    "AttentionMaps",
    "CLS_MODE_CLS_ROW",
    "CLS_MODE_MEAN_RECEIVED",
    "attention_rollout",
    "extract_attention",
    "forward_with_attention",
    "is_attention_model",
    "maps_from_attentions",
    "summary_to_patch_maps",
]
