"""Smoke test of bench/load.py: the classroom load benchmark with `--quick` (one student session).

A real subprocess runs the real benchmark: a CLI-trained ViT run, a real `streamlit run`
server on 127.0.0.1 with a training run started from its Train page, and a headless
Chromium session that uploads a JPEG on the Attention page. Only the plumbing is checked
(the JSON line and its sane values), not the speed. The `/proc` memory helpers are also
checked in-process against this very test process.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `bench` is a plain folder at the repo root

from bench import load  # noqa: E402
from bench.common import parse_last_json_line  # noqa: E402
from bench.browser_support import browser_required, find_chromium  # noqa: E402


def test_photo_jpeg_is_a_real_jpeg_of_the_asked_size(tmp_path):
    path = load.write_photo_jpeg(tmp_path / "photo.jpg", (1024, 768), seed=3)
    with Image.open(path) as picture:
        assert picture.format == "JPEG"
        assert picture.size == (1024, 768)
    other = load.write_photo_jpeg(tmp_path / "other.jpg", (1024, 768), seed=4)
    assert path.read_bytes() != other.read_bytes(), "different seeds must give different photos"
    assert path.stat().st_size > 100_000, "the noise should make it compress like a photo, not like a flat drawing"


def test_rss_of_this_process_tree_includes_a_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; data = bytearray(80 * 1024 * 1024); time.sleep(30)"])
    try:
        own_mb = load.rss_mb(os.getpid())
        assert own_mb > 5
        deadline_tree = None
        for _ in range(50):  # the child needs a moment to allocate its 80 MiB
            if child.pid in load.process_tree(os.getpid()) and load.rss_mb(child.pid) > 70:
                deadline_tree = load.process_tree(os.getpid())
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert deadline_tree is not None, "the child process or its memory was not found in /proc"
        total = sum(load.rss_mb(pid) for pid in deadline_tree)
        assert total >= own_mb + 70
    finally:
        child.kill()
        child.wait()
    assert load.rss_mb(child.pid) == 0.0


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert load.percentile(values, 0.95) == 19.0
    assert load.percentile(values, 0.5) == 10.0
    assert load.percentile([4.0], 0.95) == 4.0
    assert load.percentile([], 0.5) is None


def test_round_end_holds_every_tab_open_until_the_last_session_is_done():
    """Sessions that finish early wait for the last one, which takes the phase's closing reading first."""
    readings = []  # what on_last saw: how many sessions had arrived

    async def scenario() -> list[tuple[int, float]]:
        round_end = load.RoundEnd(3, on_last=lambda: readings.append(round_end.arrived), timeout_s=10)
        started = asyncio.get_running_loop().time()
        released = []  # (session, seconds after the start when it was let go)

        async def session(index: int, work_s: float) -> None:
            await asyncio.sleep(work_s)
            await round_end.finished()
            released.append((index, asyncio.get_running_loop().time() - started))

        await asyncio.gather(session(0, 0.0), session(1, 0.05), session(2, 0.2))
        return released

    released = asyncio.run(scenario())
    assert readings == [3]  # called once, by the last session
    assert sorted(index for index, _ in released) == [0, 1, 2]
    assert min(seconds for _, seconds in released) >= 0.19  # nobody left before the slowest session was done


def test_round_end_gives_up_waiting_after_its_timeout():
    async def lone_session() -> float:
        round_end = load.RoundEnd(2, timeout_s=0.1)  # the other session never comes
        started = asyncio.get_running_loop().time()
        await round_end.finished()
        return asyncio.get_running_loop().time() - started

    assert 0.09 <= asyncio.run(lone_session()) < 2.0


def test_niced_browser_wrapper_runs_the_browser_at_that_nice_value_with_its_arguments(tmp_path):
    fake_browser = tmp_path / "fake-chromium"  # prints its own nice value, then its arguments
    fake_browser.write_text('#!/bin/sh\nnice\necho "$@"\n')
    fake_browser.chmod(0o755)
    wrapper = load.niced_executable(str(fake_browser), 7, tmp_path)
    own_nice = os.nice(0)
    output = subprocess.run([wrapper, "--headless", "a b"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert output == [str(min(own_nice + 7, 19)), "--headless a b"]


def test_load_quick_prints_table_and_json_line():
    if find_chromium() is None:
        if browser_required():
            pytest.fail("Chromium is missing but VIT_CLASSROOM_REQUIRE_BROWSER=1")
        pytest.skip("Chromium is not installed; the load benchmark needs it")
    pytest.importorskip("playwright.async_api")
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "load.py"), "--quick", "--browser-nice", "5"],
        capture_output=True, text=True, timeout=300, cwd=str(REPO_ROOT.parent), check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    record = parse_last_json_line(completed.stdout)
    assert record["bench"] == "load"
    assert record["quick"] is True and record["sessions"] == [1]
    assert record["training_in_server"] is True and record["browser_nice"] == 5
    assert record["training_run"] and record["training_run"] != record["prepared_run"]
    assert record["teacher_renderers"] >= 1, "the teacher's Train tab has at least one renderer process"
    assert record["warmup"]["errors"] == []
    (round_,) = record["rounds"]
    assert round_["sessions"] == 1 and not round_.get("skipped"), round_
    assert round_["errors"] == 0, round_["error_samples"]
    # A real answer takes a server round trip; the overlay already on the page before the upload (the validation
    # picture's) would have read about a millisecond.
    assert 0.03 < round_["overlay_p50_s"] == round_["overlay_p95_s"] <= round_["complete_p95_s"] < 120
    assert round_["peak_server_rss_mb"] > 100, "a streamlit server with torch loaded uses far more than 100 MB"
    assert round_["training_status_after"] == "running", "the server's training run must still be active after the round"
    phase = round_["upload_phase_cpu_s"]
    assert phase["wall_s"] > 0 and phase["chromium"] > 0 and phase["server"] > 0, phase
    assert phase["training_steps"] >= 0 and 0 <= phase["teacher_tab"] <= phase["chromium"], phase
    table = completed.stdout.strip().splitlines()[:-1]
    assert any(line.split()[:2] == ["1", "0"] for line in table), table
