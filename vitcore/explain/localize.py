"""Which explanation points at the object? Scores over every validation picture that has an object mask.

For a model, a method (vitcore.explain.methods) and the pictures with a mask:
- the **pointing game** (Zhang et al. 2016): the share of pictures whose heat map peaks on the object;
- the **energy inside the mask**: the mean share of the heat that lies on the object;
- the **chance level** of both: the mean share of the picture the object covers (what a flat map scores).

Two controls (Adebayo et al. 2018, "Sanity checks for saliency maps") tell whether a method shows what the
model *learned*: the same scores for the **untrained** model (a fresh seeded initialisation of the same
architecture) and for the trained model with its **last layers randomized** (the last third of its layers,
in the order the model defines them, re-initialised). A method whose energy inside the mask does not drop
for either is flagged: its maps come from the picture or the architecture, not from training.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from vitcore.data.dataset import ImageSplit, to_float
from vitcore.explain.localization import energy_inside, pointing_hit
from vitcore.explain.methods import explain, methods_for
from vitcore.models.factory import build_model

MODEL_STATES = ("trained", "untrained", "last layers randomized")  # the model and its two controls
RANDOMIZED_SHARE = 1 / 3  # share of the layers (the last ones) that the randomization control re-initialises


@dataclass
class LocalizationResult:
    """One method's scores for one state of the model, over the pictures with a mask."""

    method: str  # explanation method (vitcore.explain.methods)
    model_state: str  # one of MODEL_STATES
    pictures: int  # validation pictures with an object mask that were scored
    pointing_game: float  # share of pictures whose heat map peaks on the object
    energy_inside: float  # mean share of the heat on the object
    chance: float  # mean share of the picture the object covers: a flat map's score for both
    seconds: float  # time the scoring took


def untrained_copy(model_config, seed: int) -> nn.Module:
    """A fresh seeded initialisation of the same architecture (the first control)."""
    torch.manual_seed(seed)
    return build_model(model_config)


def randomize_last_layers(model: nn.Module, seed: int, share: float = RANDOMIZED_SHARE) -> nn.Module:
    """A copy of `model` whose last `share` of layers (leaf modules with weights, in definition order) are
    re-initialised with their own `reset_parameters` (the second control); the original is untouched."""
    randomized = copy.deepcopy(model)
    layers = [module for module in randomized.modules()
              if not list(module.children()) and hasattr(module, "reset_parameters") and list(module.parameters(recurse=False))]
    count = max(1, math.ceil(len(layers) * share))
    torch.manual_seed(seed)
    for layer in layers[-count:]:
        layer.reset_parameters()
    return randomized


def masked_pictures(split: ImageSplit, limit: int | None = None) -> torch.Tensor:
    """(K,) indices of the split's pictures that have an object mask (the first `limit` of them)."""
    indices = torch.nonzero(split.mask_known(), as_tuple=False).flatten()  # (K,)
    return indices[:limit] if limit is not None else indices


def score(model: nn.Module, split: ImageSplit, method: str, model_state: str = "trained", limit: int | None = None,
          progress: Callable[[int, int], None] | None = None) -> LocalizationResult:
    """Pointing game and energy of one method on every picture with a mask (each explained for its predicted class)."""
    started = time.perf_counter()
    indices = masked_pictures(split, limit)
    hits, energies, areas = [], [], []
    for done, index in enumerate(indices.tolist(), start=1):
        image = to_float(split.images[index : index + 1].cpu())  # (1, 3, S, S)
        mask = split.masks[index].cpu().numpy()  # (S, S) bool
        heat = explain(model, image, method).heat  # (S, S)
        hits.append(pointing_hit(heat, mask))
        energies.append(energy_inside(heat, mask))
        areas.append(float(mask.mean()))
        if progress is not None:
            progress(done, len(indices))
    mean = lambda values: float(np.mean(values)) if values else float("nan")  # noqa: E731
    return LocalizationResult(method=method, model_state=model_state, pictures=len(indices), pointing_game=mean(hits),
                              energy_inside=mean(energies), chance=mean(areas), seconds=time.perf_counter() - started)


def localization_table(model: nn.Module, model_config, split: ImageSplit, methods: tuple[str, ...] | None = None,
                       seed: int = 0, limit: int | None = None,
                       progress: Callable[[str, int, int], None] | None = None) -> list[LocalizationResult]:
    """Every method's scores for the trained model and both controls (three rows per method)."""
    models = {
        "trained": model,
        "untrained": untrained_copy(model_config, seed),
        "last layers randomized": randomize_last_layers(model, seed),
    }
    rows = []
    for method in methods or methods_for(model):
        for state, candidate in models.items():
            report = (lambda done, total, label=f"{method} · {state}": progress(label, done, total)) if progress else None
            rows.append(score(candidate.eval(), split, method, state, limit, report))
    return rows


def flagged_methods(rows: list[LocalizationResult]) -> set[str]:
    """Methods whose energy inside the mask does not drop for the untrained or the randomized model.

    (Energy, not the pointing game: one picture more or less moves the pointing game by a whole step on a
    small validation set, the energy moves smoothly.)"""
    trained = {row.method: row for row in rows if row.model_state == "trained"}
    flagged = set()
    for row in rows:
        reference = trained.get(row.method)
        if row.model_state == "trained" or reference is None:
            continue
        if row.energy_inside >= reference.energy_inside:
            flagged.add(row.method)
    return flagged
