"""The Attention lab page's small experiments (no Streamlit here).

The equivalence check and the timing of the attention variants live in vitcore.models.attention_check;
here: what a timing measured, in words, and the homework's attention matrix with each bug toggled.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch


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
