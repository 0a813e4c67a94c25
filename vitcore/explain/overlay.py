"""Paint a coarse (g, g) heat map over a photo.

The heat map has one value per patch (4 x 4 for a 64 px ViT with 16 px
patches). To show it on the picture we

1. bring the picture to a displayable RGB image no larger than ``max_side``
   pixels on its long side (a 4000 x 3000 phone photo becomes 1024 x 768, which
   is all a dashboard can show and keeps this fast on a CPU);
2. upsample the heat map to that size with bilinear interpolation (smooth
   blobs instead of hard patch squares);
3. stretch it to [0, 1] (min -> 0, max -> 1) and look each value up in a
   256-entry colour table ("inferno" by default: black -> purple -> orange ->
   pale yellow);
4. blend: ``out = (1 - opacity) * photo + opacity * colour``.

The colour tables are built from the anchor colours of plotly's sequential
scales (the same as matplotlib's), linearly interpolated, so no matplotlib is
needed.
"""

from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vitcore.errors import ImageInputError, VitcoreError

DEFAULT_MAX_SIDE = 1024  # long side, in pixels, of the image that render_overlay returns at most

# Anchor colours of plotly.colors.sequential (evenly spaced from value 0 to value 1). Read-only mapping.
COLORMAP_ANCHORS = MappingProxyType(
    {
        "inferno": ("#000004", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60",
                    "#cf4446", "#ed6925", "#fb9b06", "#f7d13d", "#fcffa4"),
        "magma": ("#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f",
                  "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf"),
        "viridis": ("#440154", "#482878", "#3e4989", "#31688e", "#26828e",
                    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"),
        "turbo": ("#30123b", "#4145ab", "#4675ed", "#39a2fc", "#1bcfd4", "#24eca6", "#61fc6c", "#a4fc3b",
                  "#d1e834", "#f3c63a", "#fe9b2d", "#f36315", "#d93806", "#b11901", "#7a0402"),
    }
)  # fmt: skip


def colormap_lut(name: str = "inferno") -> np.ndarray:
    """A (256, 3) uint8 colour table: row 0 is the coldest colour, row 255 the hottest."""
    if name not in COLORMAP_ANCHORS:
        raise VitcoreError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAP_ANCHORS)}.")
    anchors = np.array(
        [[int(code[i : i + 2], 16) for i in (1, 3, 5)] for code in COLORMAP_ANCHORS[name]], dtype=np.float64
    )  # (K, 3) anchor RGB values
    anchor_positions = np.linspace(0.0, 1.0, len(anchors))  # (K,)
    positions = np.linspace(0.0, 1.0, 256)  # (256,)
    channels = [np.interp(positions, anchor_positions, anchors[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8)  # (256, 3)


def colorize(values: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """Values in [0, 1], any shape (...) -> uint8 colours (..., 3)."""
    indices = np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.intp)  # (...)
    return colormap_lut(colormap)[indices]  # (..., 3)


def normalise_to_unit(values: np.ndarray) -> np.ndarray:
    """Stretch values linearly so min -> 0 and max -> 1 (a constant map becomes all 0)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB, safely.

    Transparent images (RGBA, LA, P with transparency) are put on white;
    16-bit and 32-bit greyscale (I;16, I, F) are scaled down to 8 bits
    (not clipped to white);
    everything else (L, 1, P, CMYK, YCbCr, ...) uses PIL's own conversion.
    """
    if image.mode == "RGB":
        return image
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La")
    if has_alpha or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode.startswith("I") or image.mode == "F":
        grey = np.asarray(image, dtype=np.float64)  # (H, W) 16/32-bit values
        top = float(grey.max()) if grey.size else 0.0
        if image.mode == "F" and 0.0 <= float(grey.min(initial=0.0)) and top <= 1.0:
            grey = grey * 255.0  # float image in [0, 1]
        elif image.mode.startswith("I;16") or 255 < top <= 65535:
            grey = grey / 257.0  # 16-bit range -> 8-bit range
        elif top > 65535 or float(grey.min(initial=0.0)) < 0:
            grey = normalise_to_unit(grey) * 255.0  # unknown range: stretch min..max
        grey8 = np.clip(np.rint(grey), 0, 255).astype(np.uint8)  # (H, W)
        return Image.fromarray(grey8).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageInputError(f"images in colour mode {image.mode} cannot be shown.") from error


def display_size(width: int, height: int, max_side: int | None = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """(width, height) shrunk, keeping the aspect ratio, so the long side is at most max_side."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def upsample_heat(heat: np.ndarray, width: int, height: int, smooth: bool = True) -> np.ndarray:
    """(g, g) -> (height, width) float32: bilinear (smooth) or nearest (hard patch squares)."""
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if heat.ndim != 2 or heat.size == 0:
        raise VitcoreError(f"a heat map must be a non-empty 2-D grid, got shape {heat.shape}.")
    grid = torch.from_numpy(np.ascontiguousarray(heat))[None, None]  # (1, 1, g, g)
    if smooth:
        upsampled = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    else:
        upsampled = F.interpolate(grid, size=(height, width), mode="nearest")
    return upsampled[0, 0].numpy()  # (height, width)


def render_overlay(
    image: Image.Image,
    heat: np.ndarray,
    opacity: float = 0.5,
    colormap: str = "inferno",
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> Image.Image:
    """Blend a (g, g) heat map over ``image`` and return an RGB PIL image.

    Args:
        image: any PIL image, any mode (L, P, RGBA, CMYK, I;16, ...), any size.
        heat: (g, g) scores, e.g. attention rollout; only their order matters,
            they are stretched to [0, 1] after upsampling.
        opacity: 0 returns the photo untouched, 1 returns only the colours.
        colormap: "inferno" (default), "magma", "viridis" or "turbo".
        max_side: long side of the result in pixels at most. The returned image
            has the ORIGINAL size when it already fits, else the display size
            (e.g. 4000 x 3000 -> 1024 x 768, same aspect ratio). None = no limit.

    Returns:
        RGB PIL image of size ``display_size(*image.size, max_side)``.
    """
    if not 0.0 <= float(opacity) <= 1.0:
        raise VitcoreError(f"opacity must be between 0 and 1, got {opacity}.")
    if image.width < 1 or image.height < 1:
        raise ImageInputError("the image is empty (0 pixels wide or high).")
    width, height = display_size(image.width, image.height, max_side)
    photo = to_rgb(image)
    if photo.size != (width, height):
        photo = photo.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    heat_pixels = normalise_to_unit(upsample_heat(heat, width, height))  # (height, width) in [0, 1]
    colours = colorize(heat_pixels, colormap).astype(np.float32)  # (height, width, 3)
    photo_pixels = np.asarray(photo, dtype=np.float32)  # (height, width, 3)
    blended = (1.0 - opacity) * photo_pixels + opacity * colours  # (height, width, 3)
    return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8))


def heat_to_rgba(
    heat: np.ndarray,
    size: int | tuple[int, int],
    colormap: str = "inferno",
    smooth: bool = False,
) -> Image.Image:
    """The heat map alone as an opaque RGBA picture of ``size`` (int -> square, or (width, height)).

    By default every patch is a flat square (nearest upsampling), which is what a
    per-layer / per-head grid of small maps should show.
    """
    width, height = (size, size) if isinstance(size, int) else size
    heat_pixels = normalise_to_unit(upsample_heat(heat, width, height, smooth=smooth))  # (height, width)
    colours = colorize(heat_pixels, colormap)  # (height, width, 3)
    alpha = np.full((height, width, 1), 255, dtype=np.uint8)  # (height, width, 1) fully opaque
    return Image.fromarray(np.concatenate([colours, alpha], axis=-1))


def patch_grid_picture(pixels: np.ndarray, grid: int, side: int = 256) -> Image.Image:
    """The (S, S, 3) uint8 picture enlarged to `side` pixels with its g x g patches outlined and numbered p0, p1, ..."""
    from PIL import ImageDraw

    picture = Image.fromarray(np.ascontiguousarray(pixels)).resize((side, side), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(picture)
    cell = side / grid
    for line in range(1, grid):
        draw.line([(line * cell, 0), (line * cell, side)], fill=(255, 255, 255), width=2)
        draw.line([(0, line * cell), (side, line * cell)], fill=(255, 255, 255), width=2)
    for patch in range(grid * grid):
        row, column = divmod(patch, grid)
        x, y = column * cell + 4, row * cell + 2
        draw.rectangle([x - 2, y, x + 18, y + 13], fill=(0, 0, 0))
        draw.text((x, y), f"p{patch}", fill=(255, 255, 255))
    return picture


def heat_tiles_picture(tiles: np.ndarray, cell_px: int = 12, gap_px: int = 4, colormap: str = "inferno") -> Image.Image:
    """(R, C, h, w) small maps as one picture: R rows x C columns of tiles, one colour scale for all, white gaps."""
    rows, columns, height, width = tiles.shape
    colours = colorize(normalise_to_unit(tiles), colormap)  # (R, C, h, w, 3)
    tile_h, tile_w = height * cell_px, width * cell_px
    canvas = np.full((rows * (tile_h + gap_px) - gap_px, columns * (tile_w + gap_px) - gap_px, 3), 255, dtype=np.uint8)
    for row in range(rows):
        for column in range(columns):
            tile = colours[row, column].repeat(cell_px, axis=0).repeat(cell_px, axis=1)  # (h*cell, w*cell, 3)
            top, left = row * (tile_h + gap_px), column * (tile_w + gap_px)
            canvas[top : top + tile_h, left : left + tile_w] = tile
    return Image.fromarray(canvas)
