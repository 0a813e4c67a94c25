"""Mean attention distance: how far, in patches, each head looks (the ViT paper's figure 7, right).

For a query patch i, a head's attention row gives weights a_ij over the key patches j; its attention distance
is the weighted mean of the distances between patch centres, sum_j a_ij * |pos_i - pos_j|, measured in
patches on the g x g grid. Averaged over the query patches (and pictures), one number per layer and head:
small = the head looks at its neighbourhood (like a convolution), large = it looks across the picture.
The prefix tokens (CLS, distillation) have no place on the grid: their rows and columns are left out and
each patch's row is renormalised over the patches.
"""

from __future__ import annotations

import torch


def patch_distances(grid: int) -> torch.Tensor:
    """(g*g, g*g) Euclidean distances between patch centres, in patches; patches in reading order."""
    rows, columns = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")  # (g, g) each
    centres = torch.stack([rows.flatten(), columns.flatten()], dim=1).float()  # (g*g, 2)
    return torch.cdist(centres, centres)  # (g*g, g*g)


def mean_attention_distance(attentions: list[torch.Tensor], num_prefix_tokens: int) -> torch.Tensor:
    """(L, H) mean attention distance in patches, from one (B, H, N, N) attention tensor per layer."""
    per_layer = []
    for weights in attentions:  # (B, H, N, N), rows = queries
        patch_weights = weights[:, :, num_prefix_tokens:, num_prefix_tokens:]  # (B, H, P, P), P = g*g
        patch_weights = patch_weights / patch_weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)  # rows sum to 1 over patches
        grid = int(round(patch_weights.shape[-1] ** 0.5))
        distances = patch_distances(grid).to(patch_weights)  # (P, P)
        per_query = (patch_weights * distances).sum(dim=-1)  # (B, H, P): each query patch's weighted distance
        per_layer.append(per_query.mean(dim=(0, 2)))  # (H,)
    return torch.stack(per_layer)  # (L, H)
