"""Per-channel normalisation, the first layer of every model.

Models take float images in [0, 1]; this layer subtracts the channel mean
and divides by the channel standard deviation (ImageNet statistics for RGB).
Mean and std are buffers, so they move with `model.to(device)`.
"""

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel mean of ImageNet RGB pixels in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)  # per-channel standard deviation of the same pixels
GENERIC_MEAN = 0.5  # mean used for every channel when the input is not RGB
GENERIC_STD = 0.25  # standard deviation used for every channel when the input is not RGB


class Normalize(nn.Module):
    """(B, C, S, S) float in [0, 1] -> (B, C, S, S) roughly zero-mean, unit-variance."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        mean = IMAGENET_MEAN if in_channels == 3 else (GENERIC_MEAN,) * in_channels
        std = IMAGENET_STD if in_channels == 3 else (GENERIC_STD,) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)  # (1, C, 1, 1)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)  # (1, C, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std  # (B, C, S, S)
