"""Unit tests of the dashboard's helpers: allowed paths, upload decoding, run permissions, settings, estimates."""

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

from vitcore.models.cost import format_count, format_seconds, model_cost
from app.services.paths import REPO_ROOT, data_roots, resolve_new_folder
from app.services.uploads import MAX_UPLOAD_BYTES, read_uploaded_image
from vitcore.data.roots import DataRootError, resolve_within_roots
from vitcore.errors import ImageInputError, VitcoreError


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


# ------------------------------------------------------------------ allowed paths (vitcore.data.roots, as the app uses it)
def test_allowed_path_accepts_a_folder_inside_a_root(tmp_path):
    root = tmp_path / "root"
    (root / "set").mkdir(parents=True)
    assert resolve_within_roots("set", [root]) == (root / "set").resolve()
    assert resolve_within_roots(str(root / "set"), [root]) == (root / "set").resolve()


def test_allowed_path_refuses_dotdot_outside_and_escaping_symlinks(tmp_path):
    root = (tmp_path / "root").resolve()
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    for text in ("../outside", str(outside), "link", "set/../../outside"):
        with pytest.raises(DataRootError, match="outside the data folders this server allows") as caught:
            resolve_within_roots(text, [root])
        assert "\n" not in str(caught.value)
    with pytest.raises(DataRootError, match="does not exist"):
        resolve_within_roots("missing", [root])
    with pytest.raises(DataRootError, match="empty"):
        resolve_within_roots("   ", [root])


def test_allowed_roots_come_from_the_environment(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("VIT_CLASSROOM_DATA_ROOTS", f"{first}{os.pathsep}{second}")
    assert data_roots() == [first, second]
    monkeypatch.delenv("VIT_CLASSROOM_DATA_ROOTS")
    monkeypatch.setenv("VIT_CLASSROOM_DATA", str(second))
    assert data_roots() == [REPO_ROOT / "data", second]


def test_a_new_output_folder_must_have_its_parent_inside_a_root(tmp_path):
    root = (tmp_path / "root").resolve()
    (root / "built").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    assert resolve_new_folder("coco-built", [root]) == root / "coco-built"
    assert resolve_new_folder("built/more", [root]) == root / "built" / "more"
    assert resolve_new_folder("built", [root]) == root / "built"  # exists already: fine too
    for text in ("../outside/new", str(tmp_path / "outside" / "new"), "..", "built/..", ""):
        with pytest.raises(DataRootError):
            resolve_new_folder(text, [root])


# ------------------------------------------------------------------ uploads with misleading names, server config
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), (10, 200, 30), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


MARKUP_UPLOADS = {
    "svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    "html": b"\xef\xbb\xbf  <!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
}


def test_a_large_upload_is_decoded_no_smaller_than_it_is_shown():
    """The Attention page shows uploads at most 480 px wide: a phone-sized JPEG is decoded at half scale."""
    photo = jpeg_bytes(size=(1024, 768))
    assert read_uploaded_image(photo, "photo.jpg").size == (1024, 768)
    assert read_uploaded_image(photo, "photo.jpg", shown_long_side=480).size == (512, 384)
    assert read_uploaded_image(jpeg_bytes(size=(300, 200)), "small.jpg", shown_long_side=480).size == (300, 200)


def test_the_bytes_decide_not_the_file_extension():
    picture = read_uploaded_image(png_bytes(), "really-a-png.jpg")  # a PNG named .jpg just works
    assert picture.mode == "RGB" and picture.size == (30, 20)
    assert picture.getpixel((0, 0)) == (10, 200, 30)
    with pytest.raises(ImageInputError, match="not a recognised image"):
        read_uploaded_image(b"just some notes, not a picture\n" * 20, "notes.png")
    for case, payload in MARKUP_UPLOADS.items():
        with pytest.raises(ImageInputError, match="SVG/HTML text document") as caught:
            read_uploaded_image(payload, f"{case}.jpg")
        assert f"{case}.jpg" in str(caught.value) and "\n" not in str(caught.value)


def test_streamlit_config_keeps_xsrf_on_and_caps_uploads():
    import tomllib

    with open(REPO_ROOT / ".streamlit" / "config.toml", "rb") as handle:
        config = tomllib.load(handle)
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == MAX_UPLOAD_BYTES  # the page's check matches the server's
    assert set(config) <= {"server", "browser", "client", "theme", "runner", "logger", "global", "magic"}  # no unknown sections
    # measured with bench/load.py: the module watcher and the after-every-run full GC stalled a loaded classroom server
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False


def test_concurrency_limit_comes_from_env_then_settings_file(tmp_path):
    from app.services.server_config import scheduler_config

    settings = tmp_path / "vit_classroom.toml"
    assert scheduler_config({"VIT_CLASSROOM_SETTINGS": str(settings)}).max_jobs is None  # no file: vitcore's default
    settings.write_text("[training]\nmax_concurrent_jobs = 3\n")
    environ = {"VIT_CLASSROOM_SETTINGS": str(settings), "VIT_CLASSROOM_ADMIN_TOKEN": "s3cret"}
    config = scheduler_config(environ)
    assert config.max_jobs == 3 and config.admin_token == "s3cret"
    assert scheduler_config({**environ, "VIT_CLASSROOM_MAX_JOBS": "2"}).max_jobs == 2  # env wins
    settings.write_text("[training]\nmax_concurrent_jobs = 0\n")
    with pytest.raises(VitcoreError, match="at least 1"):
        scheduler_config(environ)
    settings.write_text("[training]\nmax_concurrent_jobs = 'two'\n")
    with pytest.raises(VitcoreError, match="whole number"):
        scheduler_config(environ)
    settings.write_text("[training\n")
    with pytest.raises(VitcoreError, match="not valid TOML"):
        scheduler_config(environ)


# ------------------------------------------------------------------ run permissions and queue words
def test_queue_words():
    from app.services.run_control import ordinal, queue_text

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "112th"
    ]
    assert queue_text(2) == "2nd in the queue"


def test_only_the_owner_or_the_instructor_may_control_a_run(tmp_path):
    from app.services.run_control import may_control
    from vitcore.runs.store import RunStore
    from vitcore.train.scheduler import JobScheduler, SchedulerConfig

    scheduler = JobScheduler(RunStore(tmp_path / "runs"), SchedulerConfig(admin_token="teacher-pw"), torch.device("cpu"))
    assert may_control(scheduler, "alice", "alice", None)
    assert not may_control(scheduler, "alice", "bob", None)
    assert not may_control(scheduler, "alice", "bob", "wrong")
    assert may_control(scheduler, "alice", "bob", "teacher-pw")
    assert not may_control(scheduler, None, "bob", None)  # unknown owner (a corrupt config): instructor only
    assert may_control(scheduler, None, "bob", "teacher-pw")
    no_admin = JobScheduler(RunStore(tmp_path / "runs"), SchedulerConfig(), torch.device("cpu"))
    assert not may_control(no_admin, "alice", "bob", "")  # no token configured: nobody is the instructor


def test_inference_threads_leave_the_trainers_cores_alone():
    from app.services.inference import inference_threads, torch_threads
    from vitcore.train.scheduler import available_cpu_cores

    class Busy:  # the two numbers inference_threads reads from a scheduler
        def __init__(self, running):
            self.running = running

        def running_count(self):
            return self.running

    cores = available_cpu_cores()
    assert inference_threads(Busy(0), torch.device("cpu")) == max(1, min(cores, 4))
    assert inference_threads(Busy(1), torch.device("cpu")) == 1  # cores - (cores - 1)
    assert inference_threads(Busy(1), torch.device("cuda")) == max(1, min(cores, 4))  # GPU training leaves the CPU free
    before = torch.get_num_threads()
    seen = []

    def inside():
        with torch_threads(1):
            seen.append(torch.get_num_threads())
        seen.append(torch.get_num_threads())

    worker = threading.Thread(target=inside)
    worker.start()
    worker.join()
    assert seen[0] == 1 and torch.get_num_threads() == before  # this thread's count is untouched


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


def test_page_animations_are_off_unless_the_server_turns_them_on(tmp_path):
    from app.services.server_config import animations_enabled

    settings = tmp_path / "vit_classroom.toml"
    environ = {"VIT_CLASSROOM_SETTINGS": str(settings)}
    assert animations_enabled(environ) is False  # no file: still pages (measured with bench/load.py)
    settings.write_text("[display]\nanimations = true\n")
    assert animations_enabled(environ) is True
    assert animations_enabled({**environ, "VIT_CLASSROOM_ANIMATIONS": "off"}) is False  # env wins
    assert animations_enabled({"VIT_CLASSROOM_SETTINGS": str(tmp_path / "none.toml"), "VIT_CLASSROOM_ANIMATIONS": "ON"}) is True
    with pytest.raises(VitcoreError, match="on or off"):
        animations_enabled({**environ, "VIT_CLASSROOM_ANIMATIONS": "sometimes"})
    settings.write_text("[display]\nanimations = 'yes please'\n")
    with pytest.raises(VitcoreError, match="true or false"):
        animations_enabled(environ)


def test_progress_text_says_when_a_run_paused_for_students_pictures():
    from types import SimpleNamespace

    from app.components.live import progress_text

    def text(paused_s):
        snapshot = SimpleNamespace(status="running", epoch=2, epochs_total=12, step=5, steps_per_epoch=40,
                                   eta_s=65.0, message="", fraction_done=0.2, paused_s=paused_s)
        return progress_text("run-a", snapshot)

    assert text(0.4) == "run-a · running · epoch 2/12 · step 5/40 · ETA 1 min 5 s"  # under a second: not worth a word
    assert text(12.0) == "run-a · running · epoch 2/12 · step 5/40 · ETA 1 min 5 s · paused 12 s for students' pictures"


def test_the_scores_section_says_in_one_sentence_that_a_dataset_without_masks_cannot_be_scored():
    from streamlit.testing.v1 import AppTest

    def page():
        from types import SimpleNamespace

        import torch

        from app.components.explanation_scores import explanation_scores_section
        from vitcore.data.dataset import ImageSplit

        split = ImageSplit(images=torch.zeros(2, 3, 8, 8, dtype=torch.uint8), labels=torch.zeros(2, dtype=torch.long),
                           names=["cat/a.jpg", "dog/b.jpg"])  # a folder without masks_<split>.npz
        explanation_scores_section({}, SimpleNamespace(val=split, dataset_id="folder-test"))

    import sys

    main_module = sys.modules["__main__"]  # AppTest.from_function runs its script as __main__; spawned workers
    try:  # of later tests (torch.multiprocessing) would then try to re-run that deleted script
        at = AppTest.from_function(page, default_timeout=60).run()
    finally:
        sys.modules["__main__"] = main_module
    assert not at.exception
    assert len(at.info) == 1 and "has no object masks" in at.info[0].value
    assert not at.button and not at.dataframe
