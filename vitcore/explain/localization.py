"""Does the model look at the object? Attention mass inside an object mask, the pointing game, energy inside.

A (g, g) heat map (e.g. attention rollout) is spread over the S x S image:
each patch's value is copied to every pixel of that patch (nearest-neighbour
upsampling; the patches tile the image exactly, so this is the honest
picture of a per-patch score), and the whole map is normalised to sum to 1.
The *mass on the mask* is then the share of all attention that falls on the
object's pixels.

The chance level is the mask's area fraction: a model that attends uniformly
everywhere puts exactly that share on the object. A score above chance means
the attention concentrates on the object.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vitcore.errors import VitcoreError


@dataclass
class LocalizationScore:
    """How much of a heat map lands on an object mask, compared with chance."""

    mass_on_mask: float  # share of the heat (0..1) that falls on the mask's pixels
    chance_level: float  # the mask's area fraction = mass a uniform heat map would put on it

    @property
    def lift(self) -> float:
        """mass_on_mask / chance_level: 1 = no better than uniform, >1 = attends to the object."""
        return self.mass_on_mask / self.chance_level if self.chance_level > 0 else float("nan")


def _as_mask(mask) -> np.ndarray:
    """Tensor or array -> (H, W) bool numpy array."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2 or mask.size == 0:
        raise VitcoreError(f"an object mask must be a non-empty 2-D (S, S) array, got shape {mask.shape}.")
    return mask


def heat_per_pixel(heat, height: int, width: int) -> np.ndarray:
    """(g, g) -> (height, width) float64 summing to 1; every pixel gets its patch's value."""
    if isinstance(heat, torch.Tensor):
        heat = heat.detach().cpu().numpy()
    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float64)), 0.0, None)  # (g, g) non-negative
    if heat.ndim != 2 or heat.size == 0:
        raise VitcoreError(f"a heat map must be a non-empty 2-D (g, g) grid, got shape {heat.shape}.")
    grid = torch.from_numpy(heat)[None, None]  # (1, 1, g, g)
    pixels = F.interpolate(grid, size=(height, width), mode="nearest")[0, 0].numpy()  # (height, width)
    total = pixels.sum()
    if total <= 0:
        raise VitcoreError("the heat map has no positive value, so it cannot be compared with a mask.")
    return pixels / total  # (height, width) sums to 1


def attention_mass_on_mask(heat, mask) -> float:
    """Share (0..1) of the (g, g) heat map's total mass that lies on the True pixels of mask (S, S)."""
    mask = _as_mask(mask)  # (S, S) bool
    pixels = heat_per_pixel(heat, *mask.shape)  # (S, S) sums to 1
    return float(pixels[mask].sum())


def mask_area_fraction(mask) -> float:
    """Share of the image covered by the mask: the chance level for attention_mass_on_mask."""
    return float(_as_mask(mask).mean())


def localization_score(heat, mask) -> LocalizationScore:
    """Mass on the mask together with its chance level (the mask's area fraction)."""
    return LocalizationScore(mass_on_mask=attention_mass_on_mask(heat, mask), chance_level=mask_area_fraction(mask))


def pointing_hit(heat: np.ndarray, mask) -> bool:
    """The pointing game for one picture: does the (S, S) heat map's maximum lie on the object mask (S, S)?

    Ties (a flat region at the maximum) count as a hit when any maximal pixel lies on the object.
    """
    mask = _as_mask(mask)  # (S, S) bool
    peak = float(heat.max())
    return bool(mask[heat >= peak].any())


def energy_inside(heat: np.ndarray, mask) -> float:
    """Share (0..1) of an (S, S) heat map's total that lies on the object mask (S, S)."""
    mask = _as_mask(mask)  # (S, S) bool
    total = float(heat.sum())
    return float(heat[mask].sum() / total) if total > 0 else float("nan")
