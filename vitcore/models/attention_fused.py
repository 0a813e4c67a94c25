"""Multi-head self-attention with PyTorch's fused kernel.

`torch.nn.functional.scaled_dot_product_attention` picks a FlashAttention /
memory-efficient kernel when one is available; it never materialises the
attention matrix, so it cannot return it. When the caller asks for the
weights (`need_weights=True`, e.g. for attention maps) the module takes an
explicit path that computes the same numbers and keeps the matrix.
Parameters are identical to `attention_loop.py` and `attention_einsum.py`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from vitcore.errors import VitcoreError


class FusedAttention(nn.Module):
    """Multi-head self-attention on F.scaled_dot_product_attention."""

    def __init__(self, dim: int, num_heads: int, attention_dropout: float = 0.0, proj_dropout: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise VitcoreError(f"hidden size {dim} is not divisible by the number of heads {num_heads}")
        self.dim = dim  # D, the token width
        self.num_heads = num_heads  # H
        self.head_dim = dim // num_heads  # d = D / H
        self.scale = 1.0 / math.sqrt(self.head_dim)  # 1/sqrt(d) (also SDPA's default)
        self.qkv = nn.Linear(dim, 3 * dim)  # queries, keys and values of all heads in one Linear
        self.attn_drop = nn.Dropout(attention_dropout)  # dropout on the attention weights
        self.proj = nn.Linear(dim, dim)  # output projection that mixes the heads
        self.proj_drop = nn.Dropout(proj_dropout)  # dropout on the output

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, D) -> (out (B, N, D), weights (B, H, N, N) or None)."""
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)  # (B, N, 3, H, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, d) each

        weights = None
        if need_weights:
            # Explicit path: same maths as the kernel, but the matrix is kept.
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, N, N)
            weights = scores.softmax(dim=-1)  # (B, H, N, N)
            mixed = self.attn_drop(weights) @ v  # (B, H, N, d)
        else:
            dropout_p = self.attn_drop.p if self.training else 0.0
            mixed = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=self.scale)  # (B, H, N, d)

        merged = mixed.transpose(1, 2).reshape(batch, tokens, self.dim)  # (B, N, D)
        out = self.proj_drop(self.proj(merged))  # (B, N, D)
        return out, weights
