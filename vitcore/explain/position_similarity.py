"""How similar each learned position embedding is to every other (the ViT paper's figure 7, centre).

A ViT adds one learned vector per token position before the first block. If training taught it the picture's
geometry, the embedding of a patch is most similar to those of its neighbours, its row and its column.
`position_similarity` returns, for each of the g*g patch positions, a g x g map of cosine similarities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def position_similarity(pos_embed: torch.Tensor, num_prefix_tokens: int, grid: int) -> torch.Tensor:
    """(P, g, g) cosine similarity of position p's embedding to every patch position, from pos_embed (1, N, D).

    The prefix tokens' embeddings (CLS, distillation) are left out; P = g*g patches in reading order.
    """
    patches = pos_embed.detach()[0, num_prefix_tokens:]  # (P, D)
    unit = F.normalize(patches.float(), dim=-1)  # (P, D), each of length 1
    similarity = unit @ unit.T  # (P, P), cosine similarities
    return similarity.reshape(grid * grid, grid, grid)  # (P, g, g): row p is position p's map
