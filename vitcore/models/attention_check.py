"""Are the three attention implementations really the same, and how fast is each one here?

Copies one set of weights into every variant of `ATTENTION_VARIANTS`, feeds them the same random tokens and
reports the largest differences (`check_equivalence`), and times a forward pass of each (`time_variants`).
The Attention lab page shows both; tests/test_attention_variants.py checks the same property more strictly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Progress = Callable[[int, int, str], None]


@dataclass
class EquivalenceReport:
    """Largest absolute differences between the attention variants on one random input."""

    output_diff: dict[str, float]  # variant name -> max |out_variant - out_loop|
    weight_diff: dict[str, float]  # variant name -> max |weights_variant - weights_loop|
    row_sum_error: float  # max |row sum - 1| of the loop's attention weights


def _variants(dim: int, num_heads: int, seed: int) -> dict[str, torch.nn.Module]:
    """One module per variant, all holding the loop version's weights."""
    from vitcore.models.attention import ATTENTION_VARIANTS

    torch.manual_seed(seed)
    modules = {name: variant(dim, num_heads).eval() for name, variant in ATTENTION_VARIANTS.items()}
    reference = modules["loop"].state_dict()
    for module in modules.values():
        module.load_state_dict(reference)
    return modules


def check_equivalence(dim: int = 64, num_heads: int = 4, tokens: int = 17, batch: int = 2, seed: int = 0) -> EquivalenceReport:
    """Run loop / einsum / fused on the same random tokens with the same weights and compare."""
    modules = _variants(dim, num_heads, seed)
    generator = torch.Generator().manual_seed(seed)
    tokens_in = torch.randn(batch, tokens, dim, generator=generator)  # (B, N, D)
    outputs, weights = {}, {}
    with torch.no_grad():
        for name, module in modules.items():
            out, attention = module(tokens_in, need_weights=True)  # (B, N, D), (B, H, N, N)
            outputs[name], weights[name] = out, attention
    reference_out, reference_weights = outputs["loop"], weights["loop"]
    return EquivalenceReport(
        output_diff={name: float((out - reference_out).abs().max()) for name, out in outputs.items() if name != "loop"},
        weight_diff={
            name: float((attention - reference_weights).abs().max())
            for name, attention in weights.items()
            if name != "loop" and attention is not None
        },
        row_sum_error=float((reference_weights.sum(dim=-1) - 1).abs().max()),
    )


def time_variants(
    dim: int = 256,
    num_heads: int = 8,
    tokens: int = 17,
    batch: int = 32,
    repeats: int = 10,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Median seconds per forward pass of each variant (small batch, few repeats)."""
    modules = _variants(dim, num_heads, seed)
    tokens_in = torch.randn(batch, tokens, dim, generator=torch.Generator().manual_seed(seed))  # (B, N, D)
    total = len(modules) * repeats
    done = 0
    medians: dict[str, float] = {}
    with torch.inference_mode():
        for name, module in modules.items():
            module(tokens_in)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                module(tokens_in)  # (B, N, D)
                times.append(time.perf_counter() - start)
                done += 1
                if progress is not None:
                    progress(done, total, f"timing {name}")
            medians[name] = float(np.median(times))
    return medians
