"""Heat-map overlays: any size, any colour mode, exact blending at opacity 0 and 1."""

import time

import numpy as np
import pytest
from PIL import Image

from vitcore.errors import VitcoreError
from vitcore.explain.overlay import (
    COLORMAP_ANCHORS,
    colormap_lut,
    display_size,
    heat_to_rgba,
    render_overlay,
    to_rgb,
)


def noisy_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def hot_patch_heat(grid: int = 4, row: int = 2, column: int = 1) -> np.ndarray:
    heat = np.full((grid, grid), 0.1)
    heat[row, column] = 1.0
    return heat


@pytest.mark.parametrize("width, height", [(1, 1), (3, 7), (7, 3), (64, 64), (333, 101), (1024, 2)])
def test_overlay_keeps_the_original_size(width, height):
    out = render_overlay(noisy_rgb(width, height), hot_patch_heat(), opacity=0.5)
    assert out.mode == "RGB"
    assert out.size == (width, height)


def test_large_photo_is_rendered_at_display_size_quickly():
    photo = noisy_rgb(4000, 3000)
    heat = hot_patch_heat()
    render_overlay(noisy_rgb(64, 64), heat)  # warm-up (first torch call)
    start = time.perf_counter()
    out = render_overlay(photo, heat, opacity=0.6)
    seconds = time.perf_counter() - start
    assert out.size == (1024, 768) == display_size(4000, 3000)
    assert seconds < 1.5, f"overlay of a 4000x3000 photo took {seconds:.2f} s"
    assert render_overlay(noisy_rgb(1500, 20), heat, max_side=None).size == (1500, 20)


def test_display_size_keeps_aspect_and_never_reaches_zero():
    assert display_size(3000, 4000) == (768, 1024)
    assert display_size(100_000, 10) == (1024, 1)
    assert display_size(800, 600) == (800, 600)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "I;16", "I", "F", "P", "1", "LA", "YCbCr"])
def test_overlay_accepts_every_colour_mode(mode):
    photo = noisy_rgb(37, 23)
    image = photo.convert("L").convert(mode) if mode in ("I;16", "I", "F") else photo.convert(mode)
    out = render_overlay(image, hot_patch_heat(), opacity=0.4)
    assert out.mode == "RGB" and out.size == (37, 23)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey16 = Image.fromarray(np.full((5, 6), 32896, dtype=np.uint16))  # 32896 / 257 = 128
    assert grey16.mode.startswith("I;16")
    out = np.asarray(render_overlay(grey16, hot_patch_heat(), opacity=0.0))
    assert (out == 128).all()


def test_float_grey_in_unit_range_is_scaled_up():
    grey = Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32))
    assert grey.mode == "F"
    assert (np.asarray(to_rgb(grey)) == 128).all()


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    assert (np.asarray(to_rgb(rgba)) == 255).all()
    palette = Image.new("P", (8, 8), 0)
    palette.info["transparency"] = 0
    assert (np.asarray(to_rgb(palette)) == 255).all()


def test_opacity_zero_returns_the_original_pixels():
    photo = noisy_rgb(96, 64, seed=1)
    out = render_overlay(photo, hot_patch_heat(), opacity=0.0)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(photo))


@pytest.mark.parametrize("colormap", sorted(COLORMAP_ANCHORS))
def test_opacity_one_paints_the_hot_colour_where_heat_is_max(colormap):
    photo = noisy_rgb(128, 128, seed=2)
    out = np.asarray(render_overlay(photo, hot_patch_heat(row=2, column=1), opacity=1.0, colormap=colormap))
    lut = colormap_lut(colormap)
    centre = out[80, 48]  # centre of patch row 2, column 1 (patches are 32 px)
    np.testing.assert_array_equal(centre, lut[255])
    corner = out[0, 127]  # far from the hot patch: the cold end of the table
    np.testing.assert_array_equal(corner, lut[0])


def test_half_opacity_is_the_average_of_photo_and_colour():
    photo = noisy_rgb(64, 64, seed=3)
    coloured = np.asarray(render_overlay(photo, hot_patch_heat(), opacity=1.0), dtype=float)
    blended = np.asarray(render_overlay(photo, hot_patch_heat(), opacity=0.5), dtype=float)
    expected = 0.5 * np.asarray(photo, dtype=float) + 0.5 * coloured
    assert np.abs(blended - expected).max() <= 1.0


def test_colormap_table_runs_from_first_to_last_anchor():
    lut = colormap_lut("inferno")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    np.testing.assert_array_equal(lut[0], [0x00, 0x00, 0x04])
    np.testing.assert_array_equal(lut[255], [0xFC, 0xFF, 0xA4])
    assert lut.astype(int).sum(axis=1)[-1] > lut.astype(int).sum(axis=1)[0]  # hot end is brighter


def test_bad_arguments_are_clear_errors():
    photo = noisy_rgb(8, 8)
    with pytest.raises(VitcoreError):
        render_overlay(photo, hot_patch_heat(), opacity=1.5)
    with pytest.raises(VitcoreError):
        render_overlay(photo, hot_patch_heat(), colormap="rainbow")
    with pytest.raises(VitcoreError):
        render_overlay(photo, np.ones(16))


def test_constant_and_nan_heat_do_not_crash():
    photo = noisy_rgb(20, 20)
    out = np.asarray(render_overlay(photo, np.ones((4, 4)), opacity=1.0))
    assert (out == colormap_lut()[0]).all()  # no preference -> everything cold
    heat = hot_patch_heat()
    heat[0, 0] = np.nan
    assert render_overlay(photo, heat).size == (20, 20)


def test_heat_to_rgba_draws_flat_patches():
    heat = hot_patch_heat(grid=4, row=0, column=3)
    picture = heat_to_rgba(heat, 40)
    assert picture.mode == "RGBA" and picture.size == (40, 40)
    pixels = np.asarray(picture)
    lut = colormap_lut()
    np.testing.assert_array_equal(pixels[0:10, 30:40, :3].reshape(-1, 3), np.tile(lut[255], (100, 1)))
    np.testing.assert_array_equal(pixels[20:30, 0:10, :3].reshape(-1, 3), np.tile(lut[0], (100, 1)))
    assert (pixels[..., 3] == 255).all()
    assert heat_to_rgba(heat, (30, 20)).size == (30, 20)
