"""Learning-rate schedules, stepped once per optimizer step (not per epoch).

- "constant": linear warmup (optional), then the peak lr forever.
- "cosine":   linear warmup, then a half cosine from the peak lr down to ~0.
- "onecycle": torch's OneCycleLR (warm up from lr/25, anneal to lr/1e4).

The multiplier is a small callable object holding only numbers, so the
scheduler's `state_dict()` stays loadable with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import math

import torch


class WarmupCosineMultiplier:
    """lr multiplier for step t: linear warmup to 1, then cosine (or flat) decay."""

    def __init__(self, warmup_steps: int, total_steps: int, cosine: bool, final_fraction: float = 0.0):
        self.warmup_steps = int(warmup_steps)  # steps spent ramping up linearly
        self.total_steps = int(total_steps)  # steps in the whole run
        self.cosine = bool(cosine)  # False keeps the peak lr after warmup
        self.final_fraction = float(final_fraction)  # multiplier reached at the very last step

    def __call__(self, step: int) -> float:
        if self.warmup_steps > 0 and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.cosine:
            return 1.0
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        cosine_value = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_fraction + (1.0 - self.final_fraction) * cosine_value


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    peak_lr: float,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float = 0.0,
) -> torch.optim.lr_scheduler.LRScheduler:
    """Return a per-step scheduler for `schedule` ("constant" | "cosine" | "onecycle")."""
    total_steps = max(1, int(steps_per_epoch) * int(epochs))
    warmup_steps = min(total_steps - 1, int(round(warmup_epochs * steps_per_epoch))) if warmup_epochs > 0 else 0
    if schedule == "onecycle" and total_steps < 4:
        # OneCycleLR needs a few steps per phase (its phase lengths would be 0 and divide by zero);
        # a run this short gets the same shape from the warmup + cosine multiplier instead.
        schedule = "cosine"
    if schedule == "onecycle":
        warmup_fraction = warmup_steps / total_steps if warmup_steps > 0 else 0.3
        warmup_fraction = min(max(warmup_fraction, 1.0 / total_steps), 0.99)
        uses_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0.0) > 0
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=peak_lr,
            total_steps=total_steps,
            pct_start=warmup_fraction,
            cycle_momentum=uses_momentum,
        )
    if schedule in ("constant", "cosine"):
        multiplier = WarmupCosineMultiplier(warmup_steps, total_steps, cosine=(schedule == "cosine"))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=multiplier)
    raise ValueError(f"schedule must be 'constant', 'cosine' or 'onecycle', got {schedule!r}")


def lr_curve(schedule: str, peak_lr: float, steps_per_epoch: int, epochs: int, warmup_epochs: float = 0.0) -> list[float]:
    """The lr at every step of a run, for plotting a schedule before training."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=peak_lr)
    scheduler = build_scheduler(optimizer, schedule, peak_lr, steps_per_epoch, epochs, warmup_epochs)
    learning_rates = []
    for _ in range(max(1, steps_per_epoch * epochs)):
        learning_rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return learning_rates
