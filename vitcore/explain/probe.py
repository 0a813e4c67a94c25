"""The probe set: a few fixed validation pictures a ViT run looks at after every epoch (its attention time-lapse).

`choose_probe_indices` picks PROBE_PER_CLASS pictures of every class with a fixed seed, so every run on one
dataset watches the same pictures and two runs' time-lapses can be compared. `snapshot` reads, for those
pictures and the model as it is now, what the walkthrough shows: every layer and head's summary-token
attention over the patch grid (the CLS row, or the mean received attention without a CLS token), the
attention rollout and the logit lens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vitcore.explain.attention_maps import summary_to_patch_maps
from vitcore.explain.logit_lens import logit_lens
from vitcore.explain.rollout import attention_rollout

PROBE_PER_CLASS = 2  # probe pictures of each class (10 for five classes)
PROBE_SEED = 0  # the same for every run, so every run on one dataset watches the same pictures


def choose_probe_indices(labels: torch.Tensor, num_classes: int, per_class: int = PROBE_PER_CLASS, seed: int = PROBE_SEED) -> list[int]:
    """Validation indices of `per_class` pictures per class (fewer where a class has fewer), class by class."""
    generator = np.random.default_rng(seed)
    labels_array = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)  # (n,)
    chosen: list[int] = []
    for class_index in range(num_classes):
        members = np.flatnonzero(labels_array == class_index)  # (m,) in dataset order
        picked = generator.permutation(members)[:per_class]  # (<= per_class,)
        chosen += sorted(int(index) for index in picked)
    return chosen


@dataclass
class ProbeSnapshot:
    """What a ViT sees in the probe pictures at one moment of training (numpy, on the CPU)."""

    summary_attention: np.ndarray  # (P, L, H, g, g) each map sums to 1: what the summary token reads per layer and head
    rollout: np.ndarray  # (P, g, g) attention rollout over all layers, each sums to 1
    lens: np.ndarray  # (P, L, C) logit lens: class probabilities after every block; the last row is the prediction


@torch.no_grad()
def snapshot(model: nn.Module, images: torch.Tensor) -> ProbeSnapshot:
    """The probe snapshot of a ViT (correct or homework) for float images (P, 3, S, S) in [0, 1].

    Runs in eval mode and puts the model back in the mode it was in; draws no random numbers, so a training
    run that records snapshots trains exactly as one that does not.
    """
    was_training = model.training
    model.eval()
    try:
        _, attentions = model(images, return_attention=True)  # L x (P, H, N, N)
        lens = logit_lens(model, images).probabilities  # (P, L, C)
    finally:
        model.train(was_training)
    layers = torch.stack(attentions, dim=1).float().cpu().numpy()  # (P, L, H, N, N)
    prefix, grid = int(model.num_prefix_tokens), int(model.grid_size)
    summary = np.stack([summary_to_patch_maps(picture, prefix, grid) for picture in layers])  # (P, L, H, g, g)
    rollout = np.stack([attention_rollout(picture, prefix) for picture in layers])  # (P, g, g)
    return ProbeSnapshot(summary_attention=summary.astype(np.float32), rollout=rollout.astype(np.float32),
                         lens=lens.float().cpu().numpy())
