"""A real server crash: SIGKILL `streamlit run app/Home.py` in the middle of a ViT run, restart it, resume.

What a teacher would live through, end to end, with nothing faked:
  1. a real Streamlit server trains a ViT started from the Train page in headless Chromium;
  2. once the run folder holds a checkpoint and at least one epoch line, the server's own
     python process is killed with SIGKILL (no atexit hook, no "interrupted" write);
  3. a torn, half-written line is appended to metrics.jsonl (a crash in the middle of a write);
  4. a second server on the same runs folder shows the run as "interrupted" on the Train page;
     the instructor types the token in the sidebar (the owner session died with the first
     server) and presses "Resume this run";
  5. training continues from the checkpoint's epoch (epochs are not restarted at 1) and finishes,
     and on disk the metrics still parse and the checkpoint rebuilds the model.

Run with `-s` to see the measured timings.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from bench.browser_support import (
    PAGE_TIMEOUT_MS,
    REPO_ROOT,
    chromium_or_skip,
    launch_chromium,
    selectbox_text,
    start_streamlit,
    stop_streamlit,
    wait_until_idle,
)
from vitcore.runs.checkpoint import load_model_from_run
from vitcore.runs.store import RunStore

SYNTH_PER_CLASS = 20  # training images per synthetic class (val gets a third): 100 train / 30 val images
TOTAL_EPOCHS = 12  # long enough to still be training when killed after the first epoch, short enough to finish after resume
TRAIN_OVERRIDES = {
    "epochs": TOTAL_EPOCHS,  # many short epochs: a checkpoint + a metrics line every epoch
    "batch_size": 16,  # small steps
    "max_train_batches_per_epoch": 2,  # two steps per epoch: about a second per epoch on a loaded 2-core machine
    "min_seconds_per_step": 0.3,  # demo pace: the resumed run lasts >= 6 s on any machine, so the page (every 1.5 s) sees it run
    "eval_batch_size": 64,  # small validation batches
    "num_threads": 1,  # leave the other core to the browser
}
ADMIN_TOKEN = "crash-test-instructor"  # VIT_CLASSROOM_ADMIN_TOKEN of both servers, typed into the sidebar after the restart
TORN_LINE = '{"epoch": 999, "train_loss": 0.12'  # a half-written JSON record, no closing brace, no newline
VIEWPORT = {"width": 1400, "height": 900}  # wide enough that the sidebar stays open
CHECKPOINT_TIMEOUT_S = 90.0  # upper bound for the first epoch (checkpoint + metrics line) to appear on disk
FINISH_TIMEOUT_MS = 120_000  # upper bound for the resumed run to finish
POLL_S = 0.1  # how often the runs folder is polled before the kill


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def chromium_path() -> str:
    """The system Chromium; skip (or fail when VIT_CLASSROOM_REQUIRE_BROWSER=1) when it is missing."""
    return chromium_or_skip("the server-crash browser test")


@pytest.fixture
def servers():
    """Every server this test starts; all of them are stopped (and reaped) at teardown, even after a failure."""
    started = []  # StreamlitServer objects, in start order
    yield started
    for server in started:
        stop_streamlit(server, timeout_s=10.0)


@pytest.fixture
def browser(chromium_path):
    """One headless Chromium; each server gets its own context (a fresh browser session)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, chromium_path)
        yield chromium
        chromium.close()


# ------------------------------------------------------------------ helpers
def new_tab(browser):
    """A new browser context + tab (a new Streamlit session with a new owner id)."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(PAGE_TIMEOUT_MS)
    return tab


def open_train_page(page, server) -> None:
    page.goto(f"{server.url}/train")
    page.get_by_role("heading", level=1).filter(has_text="Train").wait_for()
    page.get_by_role("button", name="Start training").wait_for()
    wait_until_idle(page)


def wait_for_run_on_disk(runs_root: Path, timeout_s: float) -> tuple[str, int]:
    """Poll the runs folder until one run has checkpoint.pt and ≥1 complete metrics line; (run id, epoch lines)."""
    store = RunStore(runs_root)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for folder in sorted(runs_root.iterdir()) if runs_root.is_dir() else []:
            if folder.is_dir() and (folder / "checkpoint.pt").is_file():
                records = store.get(folder.name).read_metrics()
                if records:
                    return folder.name, len(records)
        time.sleep(POLL_S)
    raise AssertionError(f"no run in {runs_root} got a checkpoint and a metrics line within {timeout_s:.0f} s")


def process_command_line(pid: int) -> list[str]:
    """argv of a live process, from /proc (Linux)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def wait_for_exit(process, timeout_s: float = 10.0) -> int:
    """Reap the killed server and return its exit status (negative signal number on POSIX)."""
    return process.wait(timeout=timeout_s)


def progress_text(page, run_id: str) -> str:
    """The live progress bar's text of `run_id` ("" when not drawn)."""
    bars = page.locator('[data-testid="stProgress"]').filter(has_text=run_id)
    return " | ".join(bars.all_inner_texts())


def wait_for_progress(page, run_id: str, predicate, what: str, timeout_ms: int) -> str:
    """Poll the progress text (the fragment refreshes it by itself every 1.5 s) until `predicate(text)` holds."""
    deadline = time.monotonic() + timeout_ms / 1000
    text = ""
    while time.monotonic() < deadline:
        text = progress_text(page, run_id)
        if text and predicate(text):
            return text
        time.sleep(0.25)
    raise AssertionError(f"the progress bar of {run_id} never showed {what}; last text: {text!r}")


def shown_epoch(text: str) -> int:
    """The current epoch in a running progress text '… · running · epoch 4/10 · step 1/2 · …' (0 if absent)."""
    for part in text.split(" · "):
        if part.startswith("epoch ") and "/" in part:
            return int(part.removeprefix("epoch ").split("/")[0])
    return 0


# ------------------------------------------------------------------ the test
def test_sigkilled_server_run_is_interrupted_then_resumed_in_the_browser(tmp_path, servers, browser):
    from playwright.sync_api import expect

    runs_root = tmp_path / "runs"
    env = {
        "VIT_CLASSROOM_RUNS": str(runs_root),
        "VIT_CLASSROOM_CACHE": str(tmp_path / "cache"),
        "VIT_CLASSROOM_SYNTH_PER_CLASS": str(SYNTH_PER_CLASS),
        "VIT_CLASSROOM_TRAIN_OVERRIDES": json.dumps(TRAIN_OVERRIDES),
        "VIT_CLASSROOM_DEVICE": "cpu",
        "VIT_CLASSROOM_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    timings: dict[str, float] = {}
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = start_streamlit(REPO_ROOT / "app" / "Home.py", tmp_path / "first", env)
    servers.append(first)
    try:
        # 1 · Start the ViT classroom run from the Train page.
        page = new_tab(browser)
        open_train_page(page, first)
        assert "Classroom ViT" in selectbox_text(page, "recipe"), "the classroom ViT should be the default recipe"
        started = time.monotonic()
        page.get_by_role("button", name="Start training").click()

        # 2 · Poll the disk (not the page) for the first durable epoch.
        run_id, lines_before_kill = wait_for_run_on_disk(runs_root, CHECKPOINT_TIMEOUT_S)
        timings["click → first checkpoint + metrics line (s)"] = time.monotonic() - started
        run = RunStore(runs_root).get(run_id)
        status_before = run.status()
        assert status_before["status"] == "running", f"the run should be training when killed: {status_before}"

        # 3 · SIGKILL the python process that runs streamlit (and trains in a thread of it).
        pid = first.process.pid
        argv = process_command_line(pid)
        assert "python" in Path(argv[0]).name and argv[1:4] == ["-m", "streamlit", "run"], (
            f"pid {pid} is not the streamlit python process: {argv}"
        )
        assert status_before["pid"] == pid, f"the run is written by pid {status_before['pid']}, not the server {pid}"
        page.context.close()
        os.kill(pid, signal.SIGKILL)
        assert wait_for_exit(first.process) == -signal.SIGKILL
        status_after_kill = run.status()
        assert status_after_kill["status"] == "running", (
            f"a SIGKILLed server cannot write its status, yet status.json says {status_after_kill}"
        )
        epochs_in_checkpoint = int(run.load_checkpoint()["epochs_completed"])
        assert 1 <= epochs_in_checkpoint < TOTAL_EPOCHS, f"killed too late: {epochs_in_checkpoint} epochs in the checkpoint"
        epochs_before = [record["epoch"] for record in run.read_metrics()]
        assert epochs_before == list(range(1, len(epochs_before) + 1)) and len(epochs_before) >= lines_before_kill

        # 4 · A torn write: half a JSON line at the end of metrics.jsonl.
        with open(run.path / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(TORN_LINE)
        assert [record["epoch"] for record in run.read_metrics()] == epochs_before, "the torn line must be skipped"

        # 5 · Restart the server on the same runs folder; the run shows "interrupted".
        restarted_at = time.monotonic()
        second = start_streamlit(REPO_ROOT / "app" / "Home.py", tmp_path / "second", env)
        servers.append(second)
        page = new_tab(browser)
        open_train_page(page, second)
        assert run_id[-4:] in selectbox_text(page, "watch run"), f"the Train page should watch {run_id}"
        interrupted_text = wait_for_progress(page, run_id, lambda text: "interrupted" in text, '"interrupted"', PAGE_TIMEOUT_MS)
        timings["restart → run shown as interrupted (s)"] = time.monotonic() - restarted_at
        assert f"{len(epochs_before)}/{TOTAL_EPOCHS} epochs" in interrupted_text, interrupted_text
        assert run.status()["status"] == "interrupted"

        # The owner session died with the first server: this new session may not resume it yet.
        resume_button = page.get_by_role("button", name="Resume this run")
        expect(resume_button).to_be_disabled(timeout=PAGE_TIMEOUT_MS)

        # 6 · The instructor types the token in the sidebar, then resumes the run.
        token_box = page.get_by_label("Instructor token", exact=True).and_(page.locator("input"))
        token_box.fill(ADMIN_TOKEN)
        token_box.press("Enter")
        expect(page.get_by_text("Instructor mode")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
        expect(resume_button).to_be_enabled(timeout=PAGE_TIMEOUT_MS)
        resumed_at = time.monotonic()
        resume_button.click()
        running_text = wait_for_progress(
            page, run_id, lambda text: "running" in text and shown_epoch(text) > 0, "running with an epoch", FINISH_TIMEOUT_MS
        )
        assert shown_epoch(running_text) > epochs_in_checkpoint, (
            f"the resumed run restarted instead of continuing after epoch {epochs_in_checkpoint}: {running_text!r}"
        )
        finished_text = wait_for_progress(page, run_id, lambda text: "finished" in text or "failed" in text,
                                          '"finished"', FINISH_TIMEOUT_MS)
        timings["resume click → finished (s)"] = time.monotonic() - resumed_at
        assert "finished" in finished_text, finished_text
        page.context.close()

        # 7 · On disk: epochs continue from the checkpoint, the torn line is skipped, the model loads.
        store = RunStore(runs_root)
        resumed_run = store.get(run_id)
        assert resumed_run.status()["status"] == "finished"
        epochs_after = [record["epoch"] for record in resumed_run.read_metrics()]
        assert epochs_after == list(range(1, TOTAL_EPOCHS + 1)), f"epochs must continue without restarting at 1: {epochs_after}"
        assert epochs_after[: len(epochs_before)] == epochs_before
        raw_lines = (resumed_run.path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        assert TORN_LINE in raw_lines, "the torn line should still be in the file, alone on its line"
        assert len(raw_lines) == TOTAL_EPOCHS + 1
        model, model_config, class_names = load_model_from_run(resumed_run, "cpu")
        assert model_config.kind == "vit" and len(class_names) == 5
        assert int(resumed_run.load_checkpoint()["epochs_completed"]) == TOTAL_EPOCHS
    except BaseException:
        for server in servers:
            print(f"\n[crash] ---- server log {server.log_path} (tail) ----\n{server.log_text(8000)}")
        raise
    finally:
        for name, value in timings.items():
            print(f"[crash] {name}: {value:.2f}")
