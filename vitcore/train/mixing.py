"""Batch mixing regularisers: MixUp and CutMix, from torchvision.transforms.v2.

Both blend two images of the batch and give the blended image a blended label:
- MixUp: image = w * image_a + (1 - w) * image_b, label = w * label_a + (1 - w) * label_b;
- CutMix: a random box of image_b is pasted into image_a, and the label weights
  are the two images' visible areas.
w is drawn from Beta(alpha, alpha) once per batch. When both are on, each batch
uses one of the two, chosen with equal odds (as timm and DeiT do).

The labels come back as (B, C) class probabilities; `nn.CrossEntropyLoss`
accepts them directly (label smoothing included), so the loss is the same
weighted sum of the two images' losses that hand-written mixup computes.
All randomness comes from torch's global RNG, which `fit` seeds and checkpoints.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision.transforms import v2

BatchMixer = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def build_batch_mixer(mixup_alpha: float, cutmix_alpha: float, num_classes: int) -> BatchMixer | None:
    """(images (B, 3, S, S) float, labels (B,) long) -> (mixed images, (B, C) soft labels); None when both are off."""
    mixers = []
    if mixup_alpha > 0:
        mixers.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        mixers.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)
