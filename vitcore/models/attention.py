"""Pick an attention implementation by name.

Every variant is built as `variant(dim, num_heads, attention_dropout=0.0, proj_dropout=0.0)`, shares the
parameter names (`qkv`, `proj`), and has the one signature

    forward(x (B, N, D), need_weights=False, num_queries=None) -> (out (B, Q, D), weights (B, H, Q, N) | None)

where Q = N unless `num_queries` keeps only the first Q tokens as queries (keys and values still come from
all N tokens; a CLS-pooled ViT asks for Q = 1 in its last block). So a trained state_dict loads into a
model that uses another variant, and the variants give the same numbers (tests/test_attention_variants.py).
"""

from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models.attention_einsum import EinsumAttention
from vitcore.models.attention_fused import FusedAttention
from vitcore.models.attention_loop import LoopAttention

ATTENTION_VARIANTS: dict[str, type[nn.Module]] = {
    "loop": LoopAttention,  # explicit loop over heads (teaching)
    "einsum": EinsumAttention,  # einops + einsum, a few lines
    "fused": FusedAttention,  # F.scaled_dot_product_attention (one fused kernel; fastest on long sequences and GPUs)
}


def build_attention(
    name: str, dim: int, num_heads: int, attention_dropout: float = 0.0, proj_dropout: float = 0.0
) -> nn.Module:
    """Construct the attention variant called `name` ("loop", "einsum" or "fused")."""
    try:
        variant = ATTENTION_VARIANTS[name]
    except KeyError:
        choices = ", ".join(repr(key) for key in ATTENTION_VARIANTS)
        raise VitcoreError(f"unknown attention implementation {name!r}; choose one of {choices}") from None
    return variant(dim, num_heads, attention_dropout=attention_dropout, proj_dropout=proj_dropout)
