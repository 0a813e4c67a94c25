"""Cheap numbers shown before training starts: parameter count and a time estimate.

Nothing here allocates real weights: models are built on torch's "meta" device
(shapes only, no memory), so even the ~497M-parameter homework encoder is
counted instantly. Time is estimated from forward FLOPs (counted on the meta
model) and a one-off matmul speed measurement of this machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

TRAIN_FLOPS_PER_FORWARD = 3.0  # forward + backward ~ 3x the forward FLOPs
ACHIEVED_FRACTION = 0.35  # real training reaches only part of the raw matmul speed (small kernels, data, optimizer)


@dataclass
class ModelCost:
    """Size and compute of one model configuration."""

    parameters: int  # trainable parameter count
    forward_flops_per_image: float  # FLOPs of one forward pass for a single image


def build_on_meta(model_config) -> torch.nn.Module:
    """Build the model with shapes only (no memory, no init cost)."""
    from vitcore.models.factory import build_model

    with torch.device("meta"):
        return build_model(model_config)


def model_cost(model_config) -> ModelCost:
    """Parameter count and forward FLOPs per image, computed on the meta device."""
    model = build_on_meta(model_config)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    size = int(getattr(model_config, "image_size", 64))
    images = torch.zeros(2, 3, size, size, device="meta")  # (2, 3, S, S)
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(images)
        flops = counter.get_total_flops() / 2.0
    except Exception:  # an op without a meta kernel: fall back to ~2 FLOPs per weight per token
        flops = 2.0 * parameters * 17
    return ModelCost(parameters=int(parameters), forward_flops_per_image=float(flops))


def measure_matmul_flops(device: torch.device, size: int = 512, repeats: int = 5) -> float:
    """Raw float32 matmul speed of `device` in FLOP/s (takes a few milliseconds)."""
    left = torch.randn(size, size, device=device)  # (size, size)
    right = torch.randn(size, size, device=device)  # (size, size)
    left @ right  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        left @ right  # (size, size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = max(time.perf_counter() - start, 1e-9)
    return 2.0 * size**3 * repeats / seconds


def estimate_training_seconds(cost: ModelCost, images_per_epoch: int, epochs: int, flops_per_second: float) -> float:
    """Rough wall time of a training run: FLOPs needed / achievable FLOP/s (plus validation)."""
    train_flops = TRAIN_FLOPS_PER_FORWARD * cost.forward_flops_per_image * images_per_epoch * epochs
    return train_flops / max(flops_per_second * ACHIEVED_FRACTION, 1.0)


def format_seconds(seconds: float) -> str:
    """12 s, 3 min 5 s, 2 h 4 min."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def format_count(count: int) -> str:
    """1234567 -> '1.23 M'."""
    if count >= 1_000_000_000:
        return f"{count / 1e9:.2f} B"
    if count >= 1_000_000:
        return f"{count / 1e6:.2f} M"
    if count >= 1_000:
        return f"{count / 1e3:.1f} k"
    return str(count)
