"""Pick an attention implementation by name.

All variants share parameter names (`qkv`, `proj`) and the signature
`forward(x (B, N, D), need_weights=False) -> (out (B, N, D), weights (B, H, N, N) | None)`,
so a trained state_dict can be loaded into a model that uses another variant.
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
