"""Unit tests of the dashboard's helpers: allowed paths, upload decoding, job registry, estimates."""

import io
import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.estimates import format_count, format_seconds, model_cost
from app.jobs import JobRegistry
from app.paths import PathNotAllowedError, allowed_data_roots, resolve_allowed_path
from app.uploads import read_uploaded_image
from vitcore.errors import ImageInputError


# ------------------------------------------------------------------ image bytes used by several tests
def jpeg_bytes(mode: str = "RGB", size=(40, 30)) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png16_bytes() -> bytes:
    ramp = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).astype(np.uint16)
    buffer = io.BytesIO()
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I;16")
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def animated_gif_bytes() -> bytes:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def bomb_png_bytes(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims a huge size (a decompression bomb)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr_start = 8 + 8  # signature, then length + "IHDR"
    data[ihdr_start : ihdr_start + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr_start + 13])) & 0xFFFFFFFF
    data[ihdr_start + 13 : ihdr_start + 17] = struct.pack(">I", crc)
    return bytes(data)


BAD_UPLOADS = {
    "not an image": b"hello, this is a text file and not a picture" * 10,
    "truncated jpeg": jpeg_bytes()[:300],
    "decompression bomb": bomb_png_bytes(),
    "empty": b"",
    "animated gif": animated_gif_bytes(),
}


# ------------------------------------------------------------------ uploads
@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_uploads_raise_one_clear_image_input_error(case):
    with pytest.raises(ImageInputError) as caught:
        read_uploaded_image(BAD_UPLOADS[case], "upload.jpg")
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message


def test_cmyk_jpeg_and_16_bit_png_are_accepted_as_rgb():
    cmyk = read_uploaded_image(jpeg_bytes("CMYK"), "cmyk.jpg")
    deep = read_uploaded_image(png16_bytes(), "deep.png")
    assert cmyk.mode == "RGB" and cmyk.size == (40, 30)
    assert deep.mode == "RGB" and deep.size == (32, 32)
    grey = np.asarray(deep)
    assert grey[..., 0].max() > grey[..., 0].min()  # the 16-bit ramp survives as a ramp, not a flat image


def test_oversized_upload_is_refused_before_decoding():
    with pytest.raises(ImageInputError, match="larger than"):
        read_uploaded_image(b"\xff" * (21 * 1024 * 1024), "huge.jpg")


# ------------------------------------------------------------------ allowed paths
def test_allowed_path_accepts_a_folder_inside_a_root(tmp_path):
    root = tmp_path / "root"
    (root / "set").mkdir(parents=True)
    assert resolve_allowed_path("set", [root.resolve()]) == (root / "set").resolve()
    assert resolve_allowed_path(str(root / "set"), [root.resolve()]) == (root / "set").resolve()


def test_allowed_path_refuses_dotdot_outside_and_escaping_symlinks(tmp_path):
    root = (tmp_path / "root").resolve()
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathNotAllowedError, match=r"\.\."):
        resolve_allowed_path("../outside", [root])
    with pytest.raises(PathNotAllowedError, match="outside the allowed"):
        resolve_allowed_path(str(outside), [root])
    with pytest.raises(PathNotAllowedError, match="outside the allowed"):
        resolve_allowed_path("link", [root])
    with pytest.raises(PathNotAllowedError, match="does not exist"):
        resolve_allowed_path("missing", [root])
    with pytest.raises(PathNotAllowedError):
        resolve_allowed_path("   ", [root])


def test_allowed_roots_come_from_the_environment(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("VIT_CLASSROOM_DATA_ROOTS", f"{first}{os.pathsep}{second}")
    assert allowed_data_roots() == [first.resolve(), second.resolve()]
    monkeypatch.delenv("VIT_CLASSROOM_DATA_ROOTS")
    monkeypatch.setenv("VIT_CLASSROOM_DATA", str(second))
    roots = allowed_data_roots()
    assert roots[0].name == "data" and roots[1] == second.resolve()


# ------------------------------------------------------------------ job registry
class FakeJob:
    """A job with a real worker thread that waits for its stop event."""

    def __init__(self):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.stop_event.wait, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()

    def join(self, timeout=None):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def is_alive(self):
        return self.thread.is_alive()


def test_only_the_starting_session_can_stop_a_job():
    registry = JobRegistry()
    job = FakeJob()
    registry.register("run-1", job, owner_id="alice")
    assert registry.is_alive("run-1")
    assert not registry.can_stop("run-1", "bob")
    assert registry.stop("run-1", "bob") is False
    assert job.is_alive()
    assert registry.can_stop("run-1", "alice")
    assert registry.stop("run-1", "alice") is True
    assert job.join(timeout=5)
    assert not registry.is_alive("run-1")
    registry.stop_all()


# ------------------------------------------------------------------ estimates
def test_homework_size_parameter_count_uses_the_meta_device():
    from vitcore.presets import get_preset

    config = get_preset("vit", "homework").model_config
    cost = model_cost(config)
    assert 480_000_000 < cost.parameters < 520_000_000  # ~497M, counted without allocating
    classroom = model_cost(get_preset("vit", "classroom").model_config)
    assert classroom.parameters < cost.parameters / 50
    assert classroom.forward_flops_per_image > 0


def test_formatting_helpers():
    assert format_count(497_538_053) == "497.54 M"
    assert format_count(950) == "950"
    assert format_seconds(5) == "5 s"
    assert format_seconds(185) == "3 min 5 s"
    assert format_seconds(7440) == "2 h 4 min"
