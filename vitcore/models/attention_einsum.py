"""Multi-head self-attention in a few lines with einops and torch.einsum.

Same parameters and same numbers as `attention_loop.py`: all heads are
processed at once by giving them their own tensor axis H.
"""

import math

import torch
from einops import rearrange
from torch import nn

from vitcore.errors import VitcoreError


class EinsumAttention(nn.Module):
    """Multi-head self-attention with einsum over a head axis."""

    def __init__(self, dim: int, num_heads: int, attention_dropout: float = 0.0, proj_dropout: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise VitcoreError(f"hidden size {dim} is not divisible by the number of heads {num_heads}")
        self.dim = dim  # D, the token width
        self.num_heads = num_heads  # H
        self.head_dim = dim // num_heads  # d = D / H
        self.scale = 1.0 / math.sqrt(self.head_dim)  # 1/sqrt(d), applied to the scores before the softmax
        self.qkv = nn.Linear(dim, 3 * dim)  # queries, keys and values of all heads in one Linear
        self.attn_drop = nn.Dropout(attention_dropout)  # dropout on the attention weights
        self.proj = nn.Linear(dim, dim)  # output projection that mixes the heads
        self.proj_drop = nn.Dropout(proj_dropout)  # dropout on the output

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, num_queries: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, D) -> (out (B, Q, D), weights (B, H, Q, N) or None); Q = N unless `num_queries` is given."""
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)  # (B, H, N, d) each
        q = q[:, :, :num_queries]  # (B, H, Q, d): only the first Q tokens ask (all of them by default)
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale  # (B, H, Q, N)
        weights = scores.softmax(dim=-1)  # (B, H, Q, N), softmax over keys
        mixed = torch.einsum("bhij,bhjd->bhid", self.attn_drop(weights), v)  # (B, H, Q, d)
        out = self.proj_drop(self.proj(rearrange(mixed, "b h n d -> b n (h d)")))  # (B, Q, D)
        return out, (weights if need_weights else None)
