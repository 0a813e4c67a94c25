"""A seeded share of the training split, class by class: the data-efficiency lesson's smaller training sets.

`training_subset(split, fraction, seed)` keeps round(fraction * n_c) pictures of every class c (at least one),
chosen by a generator seeded with `seed`, in dataset order. The validation split is never touched, so runs on
10 %, 25 %, 50 % and 100 % of the training set are scored on the same pictures.
"""

from __future__ import annotations

import torch

from vitcore.data.dataset import ImageSplit

SUBSET_SEED_OFFSET = 7919  # keeps the subset's draw apart from the run's other uses of its seed


def training_subset(split: ImageSplit, fraction: float, seed: int) -> ImageSplit:
    """The split itself when fraction >= 1; else a stratified seeded subset of it."""
    if fraction >= 1.0:
        return split
    generator = torch.Generator().manual_seed(int(seed) + SUBSET_SEED_OFFSET)
    labels = split.labels.cpu()  # (N,)
    kept = []
    for class_index in torch.unique(labels).tolist():
        members = torch.nonzero(labels == class_index, as_tuple=False).flatten()  # (n_c,)
        count = max(1, round(fraction * len(members)))
        kept.append(members[torch.randperm(len(members), generator=generator)[:count]])
    index = torch.sort(torch.cat(kept)).values  # (K,) in dataset order
    return split.select(index)
