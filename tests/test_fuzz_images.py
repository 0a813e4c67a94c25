"""Property-based fuzzing of the upload path: hostile bytes in, only ImageInputError out.

Every example is a byte string a student could upload: pure noise, or a real
PNG/JPEG/GIF/WebP/BMP/TIFF written by PIL (random size, colour mode, sometimes
animated) that is then truncated, bit-flipped or padded with junk. The bytes go
through the dashboard's whole path:

    decode_image -> render_overlay (random heat grid, opacity)
    predict_image (tiny real ViT, decodes the bytes itself) -> overlay_for_prediction

and the only exception allowed anywhere is vitcore.errors.ImageInputError.
Hypothesis runs derandomized, so every run checks the same examples.
"""

import io
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vitcore.data.images import decode_image
from vitcore.errors import ImageInputError
from vitcore.explain.overlay import display_size, render_overlay
from vitcore.explain.predict import overlay_for_prediction, predict_image
from vitcore.models.config import ViTConfig
from vitcore.models.vit import VisionTransformer

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F")
CLASS_NAMES = ["a", "b", "c"]
FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,  # nothing saved between runs: the same 150 examples every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    config = ViTConfig(image_size=16, patch_size=4, num_classes=len(CLASS_NAMES), hidden_dim=16, depth=1,
                       num_heads=2, mlp_ratio=2.0, attention="einsum")
    return VisionTransformer(config).eval()


def _random_picture(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode in ("I;16", "I", "F"):
        values = rng.integers(0, 65536, (height, width))
        return Image.fromarray(values.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))  # mode from dtype
    base = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")
    if mode in ("RGBA", "LA"):
        rgba = base.convert("RGBA")
        rgba.putalpha(Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)))
        return rgba.convert(mode)
    return base.convert(mode)


def _encode(picture: Image.Image, image_format: str, animated: bool) -> bytes:
    """Real file bytes; modes a format cannot store fall back to RGB."""
    for candidate in (picture, picture.convert("RGB")):
        buffer = io.BytesIO()
        try:
            if animated and image_format in ("GIF", "WEBP", "PNG", "TIFF"):
                second = Image.eval(candidate.convert("RGB"), lambda value: 255 - value).convert(candidate.mode)
                candidate.save(buffer, format=image_format, save_all=True, append_images=[second])
            else:
                candidate.save(buffer, format=image_format)
            return buffer.getvalue()
        except (OSError, ValueError, KeyError, TypeError):
            continue
    raise AssertionError(f"PIL could not write {image_format} even from RGB")


@st.composite
def valid_image_bytes(draw) -> bytes:
    picture = _random_picture(
        draw(st.sampled_from(MODES)),
        draw(st.integers(1, 48)),
        draw(st.integers(1, 48)),
        draw(st.integers(0, 2**32 - 1)),
    )
    return _encode(picture, draw(st.sampled_from(FORMATS)), animated=draw(st.booleans()) and draw(st.booleans()))


@st.composite
def damaged(draw, source) -> bytes:
    data = bytearray(draw(source))
    damage = draw(st.sampled_from(["none", "truncate", "flip", "junk_tail", "header_only"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= draw(st.integers(1, 255))
    elif damage == "junk_tail":
        data += draw(st.binary(min_size=1, max_size=64))
    elif damage == "header_only":
        data = data[: draw(st.integers(1, 40))] + draw(st.binary(max_size=200))
    return bytes(data)


upload_bytes = st.one_of(st.binary(max_size=512), damaged(valid_image_bytes()))


def random_heat(draw) -> np.ndarray:
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    heat = np.random.default_rng(seed).normal(size=(rows, cols)).astype(np.float32)  # (g1, g2)
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf, 0.0]))
    if special is not None:
        heat[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = special
    return heat


@FUZZ_SETTINGS
@given(data=upload_bytes, draw=st.data(), opacity=st.floats(0.0, 1.0))
def test_decode_then_overlay_only_raises_image_input_error(data, draw, opacity):
    heat = random_heat(draw.draw)
    try:
        picture = decode_image(data)
    except ImageInputError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert picture.mode == "RGB" and picture.width >= 1 and picture.height >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (nan, overflow) would mean silently wrong colours
        overlay = render_overlay(picture, heat, opacity=opacity)
    assert overlay.mode == "RGB" and overlay.size == display_size(*picture.size)


@FUZZ_SETTINGS
@given(data=upload_bytes)
def test_predict_on_uploaded_bytes_only_raises_image_input_error(tiny_vit, data):
    try:
        prediction = predict_image(tiny_vit, data, CLASS_NAMES, image_size=16, device=torch.device("cpu"))
    except ImageInputError:
        return
    assert prediction.probabilities.shape == (3,) and np.isfinite(prediction.probabilities).all()
    assert abs(prediction.probabilities.sum() - 1.0) < 1e-6 and prediction.input_tensor.shape == (3, 16, 16)
    original = decode_image(data)  # it decoded once, so it decodes again
    assert overlay_for_prediction(prediction, original).size == display_size(*original.size)


def test_the_generator_makes_real_decodable_images_of_every_format():
    """Guard against a fuzz test that only ever feeds garbage: undamaged files must decode."""
    decoded_formats = set()
    for index, image_format in enumerate(FORMATS):
        for mode in MODES:
            data = _encode(_random_picture(mode, 9, 7, seed=index), image_format, animated=False)
            picture = decode_image(data)
            assert picture.size == (9, 7) and picture.mode == "RGB"
            decoded_formats.add(Image.open(io.BytesIO(data)).format)
    assert decoded_formats == set(FORMATS)
    animated = _encode(_random_picture("RGB", 9, 7, seed=1), "GIF", animated=True)
    with pytest.raises(ImageInputError, match="Animated images are not supported"):
        decode_image(animated)
