"""decode_image / image_to_uint8_tensor on real files written with PIL (and hand-crafted PNG bytes)."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vitcore.data.images import decode_image, image_to_uint8_tensor, load_image_file
from vitcore.errors import ImageInputError

RED = (220, 20, 30)
BLUE = (20, 40, 210)


def _save(img: Image.Image, path: Path, **options) -> Path:
    img.save(path, **options)
    return path


def _noise_jpeg_bytes(size=64, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_claiming(width: int, height: int) -> bytes:
    """A structurally valid PNG whose IHDR claims width x height 1-bit grey pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def test_rgb_jpeg_from_path_and_bytes_agree(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_noise_jpeg_bytes())
    from_path = decode_image(path)
    from_bytes = decode_image(path.read_bytes())
    from_str = decode_image(str(path))
    assert from_path.mode == "RGB" and from_path.size == (64, 64)
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))
    assert np.array_equal(np.asarray(from_path), np.asarray(from_str))


def test_greyscale_jpeg_becomes_rgb_with_equal_channels(tmp_path):
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))  # (64, 64)
    path = _save(Image.fromarray(ramp, mode="L"), tmp_path / "grey.jpg", quality=95)
    pixels = np.asarray(decode_image(path))  # (64, 64, 3)
    assert pixels.shape == (64, 64, 3)
    assert np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])
    assert pixels[:, 0].mean() < 20 and pixels[:, -1].mean() > 235  # the ramp survived


def test_cmyk_jpeg_is_converted_to_rgb_colours(tmp_path):
    path = _save(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    red, green, blue = np.asarray(decode_image(path)).reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 60 and blue < 60  # pure cyan-free, magenta+yellow ink = red


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16).repeat(4, axis=0)  # (4, 4)
    path = tmp_path / "deep.png"
    Image.fromarray(levels).save(path)
    assert Image.open(path).mode.startswith("I")
    row = np.asarray(decode_image(path))[0, :, 0]  # (4,)
    assert row.tolist() == [0, 64, 128, 255]  # clipping would give [0, 255, 255, 255]


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, :4] = (*RED, 255)  # left: opaque red
    rgba[:, 4:] = (0, 0, 0, 0)  # right: fully transparent black
    path = _save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "alpha.png")
    pixels = np.asarray(decode_image(path))
    assert tuple(pixels[0, 0]) == RED
    assert tuple(pixels[0, 7]) == (255, 255, 255)


def test_half_transparent_la_png_blends_with_white(tmp_path):
    la = np.zeros((4, 4, 2), dtype=np.uint8)
    la[..., 0] = 0  # black
    la[..., 1] = 128  # half opaque
    path = _save(Image.fromarray(la, mode="LA"), tmp_path / "la.png")
    value = np.asarray(decode_image(path))[0, 0]
    assert all(120 <= channel <= 135 for channel in value)  # black over white at 50% -> mid grey


def test_palette_png_with_transparency_and_bilevel_png(tmp_path):
    palette_image = Image.new("P", (6, 6), 0)
    palette_image.putpalette([10, 200, 10] + [255, 0, 0] * 255)
    palette_image.putpixel((5, 5), 1)
    path = _save(palette_image, tmp_path / "palette.png", transparency=0)
    pixels = np.asarray(decode_image(path))
    assert tuple(pixels[0, 0]) == (255, 255, 255)  # transparent index -> white
    assert tuple(pixels[5, 5]) == (255, 0, 0)

    bilevel = Image.new("1", (5, 5), 0)
    bilevel.putpixel((2, 2), 1)
    path = _save(bilevel, tmp_path / "bilevel.png")
    pixels = np.asarray(decode_image(path))
    assert tuple(pixels[2, 2]) == (255, 255, 255) and tuple(pixels[0, 0]) == (0, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(BLUE, (20, 0, 40, 20))  # stored: left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(stored, tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    shown = decode_image(path)
    assert shown.size == (20, 40)  # width and height swapped
    pixels = np.asarray(shown).astype(int)
    assert np.abs(pixels[5, 10] - RED).max() < 40  # after a clockwise turn the left half is on top
    assert np.abs(pixels[35, 10] - BLUE).max() < 40


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_a_large_jpeg_is_decoded_at_the_smallest_scale_that_still_covers_the_shown_size(tmp_path, mode):
    # A shape with sharp colour borders: left half red, right half blue, 1024 x 768 like a phone photo.
    stored = Image.new("RGB", (1024, 768), RED)
    stored.paste(BLUE, (512, 0, 1024, 768))
    path = _save(stored.convert(mode), tmp_path / f"large-{mode}.jpg", quality=95)
    full = decode_image(path)
    shown = decode_image(path, draft_long_side=480)
    assert full.size == (1024, 768) and shown.size == (512, 384)  # libjpeg's 1/2 scale: long side 512 >= 480
    assert shown.mode == "RGB"
    halved = np.asarray(full.resize((512, 384), Image.Resampling.BOX)).astype(int)
    assert np.abs(np.asarray(shown).astype(int) - halved).mean() < 3  # the same picture, decoded smaller
    assert decode_image(path, draft_long_side=200).size == (256, 192)  # 1/4 scale still covers 200
    assert decode_image(path, draft_long_side=2000).size == (1024, 768)  # never upscaled, never below the ask
    png = _save(stored, tmp_path / "large.png")
    assert decode_image(png, draft_long_side=480).size == (1024, 768)  # only JPEGs have scaled decoding


def test_scaled_decoding_keeps_the_exif_orientation(tmp_path):
    stored = Image.new("RGB", (1000, 500), RED)
    stored.paste(BLUE, (500, 0, 1000, 500))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(stored, tmp_path / "rotated-large.jpg", exif=exif.tobytes(), quality=95)
    shown = decode_image(path, draft_long_side=400)
    assert shown.size == (250, 500)  # decoded at 1/2 (500 x 250), then turned upright
    pixels = np.asarray(shown).astype(int)
    assert np.abs(pixels[20, 100] - RED).max() < 40 and np.abs(pixels[480, 100] - BLUE).max() < 40


@pytest.mark.parametrize(
    "make_bytes, expected_words",
    [
        (lambda: b"", "empty"),
        (lambda: b"this is a text file pretending to be a jpeg\n", "not a recognised image"),
        (lambda: _noise_jpeg_bytes()[: len(_noise_jpeg_bytes()) // 2], "truncated"),
        (lambda: _png_header_claiming(100_000, 100_000), "decompression bomb"),
    ],
    ids=["zero-bytes", "text-as-jpg", "truncated-jpeg", "bomb-png"],
)
def test_bad_files_raise_only_image_input_error(tmp_path, make_bytes, expected_words):
    path = tmp_path / "bad.jpg"
    path.write_bytes(make_bytes())
    pil_limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageInputError, match=expected_words):
        decode_image(path)
    with pytest.raises(ImageInputError, match=expected_words):
        decode_image(path.read_bytes())
    assert Image.MAX_IMAGE_PIXELS == pil_limit_before  # PIL's global limit is untouched


def test_max_pixels_is_checked_before_decoding(tmp_path):
    path = _save(Image.new("RGB", (300, 200), RED), tmp_path / "big.png")
    assert decode_image(path, max_pixels=60_000).size == (300, 200)
    with pytest.raises(ImageInputError, match="300x200"):
        decode_image(path, max_pixels=59_999)


def test_bomb_header_alone_is_refused_without_decoding():
    # 8000 x 8000 = 64 M pixels is under PIL's own bomb limit (~89 M), so only our
    # max_pixels check (40 M) can stop it; the IDAT holds almost nothing, so reaching
    # the decoder would fail with a different ("truncated") message.
    with pytest.raises(ImageInputError, match="8000x8000 pixels is more than the limit"):
        decode_image(_png_header_claiming(8_000, 8_000))


def test_animated_gif_is_refused_but_single_frame_gif_is_fine(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE, (0, 0, 0))]
    animated = tmp_path / "anim.gif"
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(ImageInputError, match="(?i)animated images are not supported; upload a still frame"):
        decode_image(animated)
    still = _save(Image.new("RGB", (16, 16), BLUE), tmp_path / "still.gif")
    assert decode_image(still).mode == "RGB"


def test_missing_path_directory_and_wrong_type(tmp_path):
    with pytest.raises(ImageInputError, match="does not exist"):
        decode_image(tmp_path / "nope.png")
    with pytest.raises(ImageInputError, match="not a file"):
        decode_image(tmp_path)
    with pytest.raises(ImageInputError, match="bytes or a file path"):
        decode_image(12345)


def test_image_to_uint8_tensor_shape_and_antialiasing():
    checkerboard = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)  # (64, 64) 1-px squares
    tensor = image_to_uint8_tensor(Image.fromarray(checkerboard, mode="L"), 8)  # (3, 8, 8)
    assert tensor.shape == (3, 8, 8) and tensor.dtype == torch.uint8
    # An antialiased shrink averages the squares to mid grey; point sampling would give 0 or 255.
    assert tensor.float().min() > 100 and tensor.float().max() < 155

    colour = image_to_uint8_tensor(Image.new("RGB", (50, 30), RED), 16)
    assert colour.shape == (3, 16, 16)
    assert colour[:, 7, 7].tolist() == list(RED)


def test_load_image_file_returns_resized_tensor(tmp_path):
    path = _save(Image.new("RGB", (100, 60), BLUE), tmp_path / "blue.webp", lossless=True)
    tensor = load_image_file(path, 32)
    assert tensor.shape == (3, 32, 32) and tensor.dtype == torch.uint8
    assert tensor[:, 16, 16].tolist() == list(BLUE)
