"""Small experiments behind the Attention lab page (no Streamlit here).

They only wire vitcore's attention classes and homework encoder together on
random input: copy one state_dict into every variant and compare outputs,
time them, and look at the homework's attention matrix with each bug toggled.
"""

from __future__ import annotations

import dataclasses
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


def timing_summary(seconds_by_variant: dict[str, float]) -> str:
    """What a timing measured, in words: the variants from fastest to slowest, with how much slower each one was.

    The text only states what was measured, so it can never contradict the bars above it (on a 2-core CPU with
    17 tokens the loop has come out ahead of the fused kernel).
    """
    ordered = sorted(seconds_by_variant, key=seconds_by_variant.get)  # fastest first
    fastest = ordered[0]
    parts = [f"**{fastest}** {seconds_by_variant[fastest] * 1000:.2f} ms"]
    for name in ordered[1:]:
        ratio = seconds_by_variant[name] / seconds_by_variant[fastest] if seconds_by_variant[fastest] > 0 else float("inf")
        parts.append(f"**{name}** {seconds_by_variant[name] * 1000:.2f} ms ({ratio:.1f}× the time)")
    return (
        "Measured just now on this server, fastest first: " + ", ".join(parts) + ". "
        "With 17 tokens each head's attention matrix is only 17×17, so fixed costs (Python calls, launching each "
        "operation) weigh more than the arithmetic: that is why the order on a CPU can differ from the textbook one. "
        "The fused kernel pulls ahead with long sequences and on GPUs."
    )


def small_homework_config(bugs, image_size: int = 64):
    """A tiny homework-style ViT (fast on any CPU) with the given bug switches."""
    from vitcore.models.config import ViTConfig

    return ViTConfig(
        image_size=image_size, patch_size=16, num_classes=5, hidden_dim=32, depth=2, num_heads=4, homework_bugs=bugs
    )


def homework_attention(bugs, seed: int = 0) -> np.ndarray:
    """(N, N) first-layer, first-head attention of a tiny homework ViT on one random image."""
    from vitcore.models.factory import build_model

    torch.manual_seed(seed)
    config = small_homework_config(bugs)
    model = build_model(config).eval()
    images = torch.rand(1, 3, config.image_size, config.image_size, generator=torch.Generator().manual_seed(seed))  # (1, 3, S, S)
    with torch.no_grad():
        _, attentions = model(images, return_attention=True)  # L x (1, H, N, N)
    return attentions[0][0, 0].float().numpy()  # (N, N)


def homework_size_config(bugs):
    """The homework preset's model config with these bug switches."""
    from vitcore.presets import get_preset

    config = get_preset("vit", "homework").model_config
    return dataclasses.replace(config, homework_bugs=bugs)
