"""Attention rollout (Abnar & Zuidema, 2020): follow attention through every layer.

One layer's attention says which tokens each token reads from *in that layer*.
But after layer 1 a "patch token" already carries information mixed in from
other patches, so the last layer's attention alone does not tell us which
*image patches* the CLS token finally depends on. Rollout answers that by
chaining the layers together:

1. Fuse the heads of layer l into one matrix ``A_l`` (N, N): the mean over heads
   by default ("max" and "min" are common alternatives).
2. Optionally drop the weakest links (``discard_ratio``): the smallest entries
   of ``A_l`` are set to 0, which sharpens the map.
3. Account for the residual connection: the token also keeps its own value, so
   ``A'_l = 0.5 * A_l + 0.5 * I``; then re-normalise every row to sum to 1.
4. Multiply the layers in order: ``R = A'_L @ ... @ A'_2 @ A'_1``. Row i of ``R``
   says how much the final token i is made of each input token.
5. Read out the patches: with a CLS token, take the CLS row over the patch
   columns; without one (sequence pooling), average all rows, since every
   token contributes to the pooled feature.
6. Normalise the patch values to sum to 1 and lay them out as the (g, g) grid.

Reference: S. Abnar and W. Zuidema, "Quantifying Attention Flow in
Transformers", ACL 2020.
"""

from collections.abc import Sequence

import numpy as np
import torch

from vitcore.errors import VitcoreError

HEAD_FUSIONS = ("mean", "max", "min")  # the ways the heads of one layer can be fused


def _to_numpy(array) -> np.ndarray:
    """A torch tensor or array-like as a float64 numpy array (moved to the CPU)."""
    if isinstance(array, torch.Tensor):
        return array.detach().to("cpu", torch.float64).numpy()
    return np.asarray(array, dtype=np.float64)


def stack_layers(attentions) -> np.ndarray:
    """Accept a list of per-layer (H, N, N) maps or one (L, H, N, N) array; return (L, H, N, N).

    A leading batch dimension of size 1 per layer ((1, H, N, N)) is also accepted,
    so the raw output of ``model(images, return_attention=True)`` works directly.
    """
    if isinstance(attentions, (torch.Tensor, np.ndarray)):
        layers = _to_numpy(attentions)  # (L, H, N, N)
    elif isinstance(attentions, Sequence) and len(attentions) > 0:
        per_layer = [_to_numpy(layer) for layer in attentions]
        per_layer = [layer[0] if layer.ndim == 4 and layer.shape[0] == 1 else layer for layer in per_layer]
        if any(layer.ndim != 3 for layer in per_layer):
            raise VitcoreError("each layer's attention must have shape (H, N, N) for a single image.")
        if len({layer.shape for layer in per_layer}) != 1:
            raise VitcoreError("all layers' attention maps must have the same shape (H, N, N).")
        layers = np.stack(per_layer)  # (L, H, N, N)
    else:
        raise VitcoreError("attention rollout needs at least one layer of attention maps.")
    if layers.ndim != 4 or layers.shape[-1] != layers.shape[-2]:
        raise VitcoreError(f"attention maps must have shape (L, H, N, N), got {tuple(layers.shape)}.")
    return layers


def patch_grid_size(num_tokens: int, num_prefix_tokens: int) -> int:
    """Side g of the patch grid: the tokens after the prefix must form a g x g square."""
    num_patches = num_tokens - num_prefix_tokens
    grid_size = int(round(num_patches**0.5)) if num_patches > 0 else 0
    if grid_size * grid_size != num_patches or grid_size == 0:
        raise VitcoreError(
            f"{num_tokens} tokens with {num_prefix_tokens} prefix token(s) do not form a square patch grid."
        )
    return grid_size


def fuse_heads(layer_attention: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """(H, N, N) -> (N, N): combine the heads of one layer by mean, max or min."""
    if head_fusion == "mean":
        return layer_attention.mean(axis=0)  # (N, N)
    if head_fusion == "max":
        return layer_attention.max(axis=0)  # (N, N)
    if head_fusion == "min":
        return layer_attention.min(axis=0)  # (N, N)
    raise VitcoreError(f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}, got {head_fusion!r}.")


def discard_lowest(fused: np.ndarray, discard_ratio: float) -> np.ndarray:
    """Set the smallest ``discard_ratio`` share of the (N, N) entries to 0 (the diagonal is kept)."""
    if discard_ratio <= 0.0:
        return fused
    num_tokens = fused.shape[0]
    off_diagonal = ~np.eye(num_tokens, dtype=bool)  # (N, N) True off the diagonal
    candidates = fused[off_diagonal]  # (N*N - N,) the links that may be dropped
    num_to_drop = int(candidates.size * discard_ratio)
    if num_to_drop == 0:
        return fused
    threshold = np.partition(candidates, num_to_drop - 1)[num_to_drop - 1]
    pruned = fused.copy()  # (N, N)
    pruned[off_diagonal & (fused <= threshold)] = 0.0
    return pruned


def attention_rollout(
    attentions,
    num_prefix_tokens: int,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
) -> np.ndarray:
    """Roll attention out through all layers and return a (g, g) patch map summing to 1.

    Args:
        attentions: a list with one (H, N, N) map per layer (first layer first),
            or a single (L, H, N, N) array/tensor, for ONE image. Rows are queries.
        num_prefix_tokens: 1 when a CLS token leads the sequence (its row is read
            out), 0 with sequence pooling (the mean of all rows is read out).
        head_fusion: "mean" (Abnar & Zuidema), "max" or "min" over heads.
        discard_ratio: share in [0, 1) of the weakest off-diagonal links dropped
            per layer before adding the identity (0 = plain rollout).

    Returns:
        (g, g) float64 numpy array, non-negative, summing to 1 (uniform when the
        CLS token never reads any patch, e.g. identity attention).
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise VitcoreError(f"discard_ratio must be in [0, 1), got {discard_ratio}.")
    layers = stack_layers(attentions)  # (L, H, N, N)
    num_tokens = layers.shape[-1]
    grid_size = patch_grid_size(num_tokens, num_prefix_tokens)
    identity = np.eye(num_tokens)  # (N, N)

    joint = identity  # (N, N) rollout of zero layers: every token is itself
    for layer_attention in layers:  # layer_attention: (H, N, N)
        fused = fuse_heads(layer_attention, head_fusion)  # (N, N)
        fused = discard_lowest(fused, discard_ratio)  # (N, N)
        with_residual = 0.5 * fused + 0.5 * identity  # (N, N)
        with_residual = with_residual / with_residual.sum(axis=-1, keepdims=True)  # (N, N) rows sum to 1
        joint = with_residual @ joint  # (N, N) = A'_l @ ... @ A'_1

    if num_prefix_tokens > 0:
        patch_scores = joint[0, num_prefix_tokens:]  # (g*g,) CLS row, patch columns
    else:
        patch_scores = joint.mean(axis=0)  # (g*g,) mean over all query rows
    patch_scores = np.clip(patch_scores, 0.0, None)
    total = patch_scores.sum()
    if not np.isfinite(total):
        raise VitcoreError("the attention maps contain NaN or infinite values, so rollout is undefined.")
    if total <= 0:
        # The CLS token only ever read itself: no patch is preferred, so show a flat map.
        return np.full((grid_size, grid_size), 1.0 / (grid_size * grid_size))  # (g, g)
    return (patch_scores / total).reshape(grid_size, grid_size)  # (g, g)
