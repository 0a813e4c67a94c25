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

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, num_queries: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, D) -> (out (B, Q, D), weights (B, H, Q, N) or None).

        Q = N unless `num_queries` asks for the first Q tokens' outputs only
        (keys and values still come from all N tokens). A CLS-pooled ViT uses
        Q = 1 in its last block, since the head reads nothing but the CLS token.
        """
        batch, tokens, _ = x.shape
        if num_queries is None or num_queries >= tokens:
            num_queries = tokens
            qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)  # (B, N, 3, H, d)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, d) each
        else:
            # The qkv Linear's output rows are [queries | keys | values]: split its weight instead of its output.
            q_weight, kv_weight = self.qkv.weight.split([self.dim, 2 * self.dim])  # (D, D), (2D, D)
            q_bias, kv_bias = self.qkv.bias.split([self.dim, 2 * self.dim])  # (D,), (2D,)
            q = F.linear(x[:, :num_queries], q_weight, q_bias)  # (B, Q, D)
            q = q.reshape(batch, num_queries, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, Q, d)
            kv = F.linear(x, kv_weight, kv_bias).reshape(batch, tokens, 2, self.num_heads, self.head_dim)  # (B, N, 2, H, d)
            k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, d) each

        weights = None
        if need_weights:
            # Explicit path: same maths as the kernel, but the matrix is kept.
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, Q, N)
            weights = scores.softmax(dim=-1)  # (B, H, Q, N)
            mixed = self.attn_drop(weights) @ v  # (B, H, Q, d)
        else:
            dropout_p = self.attn_drop.p if self.training else 0.0
            mixed = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=self.scale)  # (B, H, Q, d)

        merged = mixed.transpose(1, 2).reshape(batch, num_queries, self.dim)  # (B, Q, D)
        out = self.proj_drop(self.proj(merged))  # (B, Q, D)
        return out, weights
