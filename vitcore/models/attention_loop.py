"""Multi-head self-attention written out head by head (the teaching version).

This is the easiest of the three variants to read: every head is handled in
an explicit Python loop, with each step named. It pays Python overhead per
head, which matters with long sequences; with the 17 tokens of a 64 px image
it can even beat the fused kernel on a CPU (the Attention lab times all three). The
parameters (`qkv`, `proj`) have exactly the same names and layout as in
`attention_einsum.py` and `attention_fused.py`, so one state_dict loads into
any of them and all three give the same numbers.

For one head h with head size d = D / H:

    q, k, v  = slices of qkv(x)                      each (B, N, d)
    scores   = q @ k^T / sqrt(d)                     (B, N, N)   row i = query token i
    weights  = softmax(scores, over the KEY axis)    (B, N, N)   every row sums to 1
    mixed    = weights @ v                           (B, N, d)

The heads' outputs are concatenated back to (B, N, D) and mixed by `proj`.
"""

import math

import torch
from torch import nn

from vitcore.errors import VitcoreError


class LoopAttention(nn.Module):
    """Multi-head self-attention with an explicit loop over heads."""

    def __init__(self, dim: int, num_heads: int, attention_dropout: float = 0.0, proj_dropout: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise VitcoreError(f"hidden size {dim} is not divisible by the number of heads {num_heads}")
        self.dim = dim  # D, the token width
        self.num_heads = num_heads  # H
        self.head_dim = dim // num_heads  # d = D / H
        self.scale = 1.0 / math.sqrt(self.head_dim)  # 1/sqrt(d), applied to the scores BEFORE the softmax
        self.qkv = nn.Linear(dim, 3 * dim)  # one Linear computes queries, keys and values of all heads
        self.attn_drop = nn.Dropout(attention_dropout)  # dropout on the attention weights
        self.proj = nn.Linear(dim, dim)  # output projection that mixes the concatenated heads
        self.proj_drop = nn.Dropout(proj_dropout)  # dropout on the output

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, num_queries: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, D) -> (out (B, Q, D), weights (B, H, Q, N) or None).

        Q = N unless `num_queries` keeps only the first Q tokens as queries (keys and values: all N tokens).
        """
        D, d = self.dim, self.head_dim

        # One matrix multiply gives q, k and v for every head at once.
        # Layout of the last axis: [ q (head 0 .. head H-1) | k (...) | v (...) ].
        qkv = self.qkv(x)  # (B, N, 3D)

        # 1. Every head's attention weights.
        head_weights = []  # one (B, Q, N) tensor per head
        for h in range(self.num_heads):
            # This head's d features of the queries (of the first Q tokens) and keys.
            q = qkv[:, :num_queries, 0 * D + h * d : 0 * D + (h + 1) * d]  # (B, Q, d)
            k = qkv[:, :, 1 * D + h * d : 1 * D + (h + 1) * d]  # (B, N, d)

            # How well query token i matches key token j, scaled so the softmax
            # does not saturate when d is large.
            scores = q @ k.transpose(-2, -1) * self.scale  # (B, Q, N)

            # Softmax over the LAST axis = over the keys: each query token
            # distributes one unit of attention across all tokens.
            head_weights.append(scores.softmax(dim=-1))  # (B, Q, N), rows sum to 1
        # One tensor for all heads: the matrix that multiplies V and the one returned are the same tensor,
        # so an explanation can back-propagate to it (vitcore.explain.relevance).
        weights = torch.stack(head_weights, dim=1)  # (B, H, Q, N)

        # 2. Every query token receives each head's weighted average of the value vectors.
        head_outputs = []  # one (B, Q, d) tensor per head
        for h in range(self.num_heads):
            v = qkv[:, :, 2 * D + h * d : 2 * D + (h + 1) * d]  # (B, N, d) this head's values
            head_outputs.append(self.attn_drop(weights[:, h]) @ v)  # (B, Q, d)

        # Put the heads side by side again and let `proj` mix them.
        concatenated = torch.cat(head_outputs, dim=-1)  # (B, Q, D)
        out = self.proj_drop(self.proj(concatenated))  # (B, Q, D)
        return out, (weights if need_weights else None)
