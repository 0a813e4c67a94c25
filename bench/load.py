"""Classroom load: N students upload a photo on the Attention page at once, while a ViT trains in the server.

What runs (all real, all on 127.0.0.1):
  1. a small synthetic image folder is written and a short ViT run is trained with
     `python -m vitcore train --model vit --preset classroom ...` into a temporary runs folder
     (before the server starts, so the server sees a finished run);
  2. `streamlit run app/Home.py` starts with that runs folder (env VIT_CLASSROOM_RUNS/CACHE,
     a small embedded set via VIT_CLASSROOM_SYNTH_PER_CLASS and a very long training recipe via
     VIT_CLASSROOM_TRAIN_OVERRIDES);
  3. one extra browser context (the teacher) opens Train and presses "Start training": the run
     trains INSIDE the server process and competes for the same CPU for the whole benchmark;
  4. one warm-up student session loads the model once (not counted);
  5. for each N in --sessions: N headless Chromium contexts (one browser, Playwright async API,
     asyncio.gather) each open Attention, pick the finished ViT run, choose "upload your own",
     wait at a common barrier, upload a different 1024x768 photo-like JPEG, and wait for the
     overlay <img> to be visible and decoded. Like a class, they keep their tabs open: the round's
     tabs close together once every session is done.

Measured per session: overlay latency (from just before set_input_files to the overlay <img> loaded and
decoded, on the page's own clock, seen by a MutationObserver and the image's load event rather than by
polling), page-complete latency (-> the script idle again), errors (exceptions, timeouts, st.error /
exception boxes, uncaught JavaScript errors). Server RSS (VmRSS of the server and its child processes
from /proc) is sampled every 0.5 s; the peak per round is reported. For the upload phase of each round
(common upload moment -> last session's page complete) the CPU seconds used by the server, by Chromium and by
everything else are read from /proc (`upload_phase_cpu_s`): on this machine the browsers share the
server's cores, and this says who used them. The same entry holds the training steps taken in the
phase and the CPU seconds of the teacher's Train tab (its renderer processes, from /proc; part of the
Chromium figure), since that tab redraws its live charts throughout.

Run from the repository root:
    .venv/bin/python bench/load.py                      # N = 5, 10, 20
    .venv/bin/python bench/load.py --sessions 10
    .venv/bin/python bench/load.py --quick              # N = 1, tiny data (smoke test)
    .venv/bin/python bench/load.py --sessions 10 --browser-nice 10
                        # the browsers yield the CPU to the server, as if each student had their own machine

Prints a table, then one JSON line (bench/common.py). Everything is bounded: reaching the uploader
has --setup-timeout seconds, the measured upload --session-timeout seconds, the whole run
--max-seconds; server and browser are always stopped (finally blocks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import REPO_ROOT, cpu_name, log, print_json_line, print_table  # noqa: E402
from bench.browser_support import find_chromium, launch_chromium, start_streamlit, stop_streamlit  # noqa: E402

DEFAULT_SESSIONS = (5, 10, 20)  # concurrent student sessions per round
P95_TARGET_S = 3.0  # overlay latency target (p95) for N = 10
VIEWPORT = {"width": 1400, "height": 900}  # wide enough that the sidebar and three columns are laid out
PHOTO_SIZE = (1024, 768)  # uploaded picture size, like a phone photo scaled down
RSS_SAMPLE_S = 0.5  # how often the server's memory is read
OVERLAY_HEADING = "Attention on the picture"  # the column that holds the overlay image
LONG_TRAINING_OVERRIDES = {
    "epochs": 500,  # the Train page's largest allowed value; lasts far longer than the benchmark (stopped at the end)
    "batch_size": 32,  # the classroom recipe's usual step size on a small set
    "max_train_batches_per_epoch": None,  # full (small) epochs: eval and checkpoint happen regularly too
}  # VIT_CLASSROOM_TRAIN_OVERRIDES of the server: a training run that lasts the whole benchmark


@dataclass
class LoadConfig:
    """What one benchmark invocation does."""

    sessions: list[int]  # N values, one round each, in this order
    session_timeout_s: float  # the measured upload (set_input_files -> page complete) gives up after this many seconds
    setup_timeout_s: float  # opening Attention and choosing "upload your own" (not measured) gives up after this many seconds
    max_seconds: float  # the whole benchmark stops itself after this many seconds
    synth_per_class: int  # server's embedded synthetic set: training images per class
    prepare_per_class: int  # training images per class of the folder the finished ViT run is trained on
    prepare_batches: int  # --max-batches of the prepared ViT run
    photo_size: tuple[int, int]  # (width, height) of each uploaded JPEG
    train_in_server: bool  # start the long training run through the Train page first
    browser_nice: int  # nice value every Chromium process runs at (0 = same priority as the server)
    quick: bool  # smoke-test mode (tiny everything)


@dataclass
class SessionResult:
    """What one student session saw."""

    index: int  # session number inside its round
    overlay_s: float | None = None  # set_input_files -> overlay image decoded (None when it never appeared)
    complete_s: float | None = None  # set_input_files -> four plotly charts drawn and the script idle
    setup_s: float | None = None  # open Attention -> uploader ready
    errors: list[str] = field(default_factory=list)  # what went wrong (empty = clean session)
    step: str = "new context"  # the step the session is in (named in timeout errors)


# ------------------------------------------------------------------ inputs
def write_photo_jpeg(path: Path, size: tuple[int, int], seed: int) -> Path:
    """A photo-like JPEG: a gradient sky, ground, a few filled shapes and pixel noise (so it compresses like a photo)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    width, height = size
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # (H, 1)
    sky = np.stack([90 + 80 * rows, 140 + 60 * rows, 235 - 40 * rows], axis=-1)  # (H, 1, 3)
    pixels = np.broadcast_to(sky, (height, width, 3)).copy()  # (H, W, 3) float
    pixels[int(height * 0.65):] = (50, 130 + rng.integers(0, 40), 60)  # ground
    picture = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = int(rng.integers(0, width - 200)), int(rng.integers(0, height - 200))
        extent = int(rng.integers(60, 260))
        colour = tuple(int(value) for value in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse([x, y, x + extent, y + extent], fill=colour)
        else:
            draw.rectangle([x, y, x + extent, y + int(extent * 0.7)], fill=colour)
    noisy = np.asarray(picture, dtype=np.int16) + rng.integers(-18, 19, size=(height, width, 3))  # (H, W, 3)
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, format="JPEG", quality=90)
    return path


def prepare_finished_vit_run(work: Path, env: dict[str, str], config: LoadConfig) -> str:
    """Write a small synthetic folder and train a short ViT on it with the CLI; return the run id."""
    from vitcore.data.synthetic import generate_synthetic, write_synthetic_folder

    folder = work / "synth-folder"
    data = generate_synthetic(train_per_class=config.prepare_per_class, val_per_class=max(2, config.prepare_per_class // 3), seed=0)
    write_synthetic_folder(data, folder)
    command = [
        sys.executable, "-m", "vitcore", "train", "--model", "vit", "--preset", "classroom",
        "--data", str(folder), "--epochs", "1", "--max-batches", str(config.prepare_batches),
        "--device", "cpu", "--runs-dir", env["VIT_CLASSROOM_RUNS"],
    ]
    completed = subprocess.run(
        command, cwd=str(REPO_ROOT), env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"preparing the ViT run failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if result.get("status") != "finished":
        raise RuntimeError(f"the prepared ViT run did not finish: {result}")
    return str(result["run"])


# ------------------------------------------------------------------ server memory
def proc_stats() -> dict[int, tuple[str, list[str]]]:
    """pid -> (command name, the fields after "pid (comm) ") of every live process, from /proc/<pid>/stat.

    In those fields, [0] is the state, [1] the parent pid, [11] and [12] the user and system CPU time.
    """
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        stats[int(entry.name)] = (stat[stat.find("(") + 1:stat.rfind(")")], stat[stat.rfind(")") + 2:].split())
    return stats


def process_tree(root_pid: int, stats: dict[int, tuple[str, list[str]]] | None = None) -> list[int]:
    """root_pid and all its descendants (from `stats`, read now when not given)."""
    parents = {pid: int(fields[1]) for pid, (_, fields) in (stats if stats is not None else proc_stats()).items()}
    tree, frontier = [root_pid], [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree += children
        frontier += children
    return tree


def rss_mb(pid: int) -> float:
    """VmRSS of one process in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc/<pid>/stat time unit


def cpu_seconds_of(fields: list[str]) -> float:
    """User + system CPU seconds a process has used, from its `proc_stats` fields."""
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds_per_process(server_pid: int) -> dict[int, tuple[str, float]]:
    """pid -> (group, CPU seconds used so far) of every live process; group is "server", "chromium" or "other"."""
    stats = proc_stats()  # one pass over /proc serves both the process tree and the CPU times
    server_tree = set(process_tree(server_pid, stats))
    seconds_by_pid = {}
    for pid, (command, fields) in stats.items():
        group = "server" if pid in server_tree else "chromium" if "chrom" in command.lower() else "other"
        seconds_by_pid[pid] = (group, cpu_seconds_of(fields))
    return seconds_by_pid


def cpu_used_between(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds each group used between two `cpu_seconds_per_process` readings.

    Processes alive at both count their difference, new ones all of their time; processes that ended in
    between would be missing, which is why every tab of a round stays open until the phase's closing reading
    (RoundEnd).
    """
    totals = {"server": 0.0, "chromium": 0.0, "other": 0.0}
    for pid, (group, seconds) in after.items():
        totals[group] += seconds - before.get(pid, (group, 0.0))[1]
    return {group: round(value, 2) for group, value in totals.items()}


class RssSampler:
    """Samples the summed RSS of a process tree every `interval_s` on a daemon thread; `take_peak()` resets the peak."""

    def __init__(self, root_pid: int, interval_s: float = RSS_SAMPLE_S):
        self.root_pid = root_pid  # the server process
        self.interval_s = interval_s  # seconds between samples
        self._lock = threading.Lock()  # guards the two numbers below
        self._peak_mb = 0.0  # largest sample since the last take_peak()
        self._last_mb = 0.0  # the latest sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(rss_mb(pid) for pid in process_tree(self.root_pid))
            with self._lock:
                self._last_mb = total
                self._peak_mb = max(self._peak_mb, total)
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def take_peak(self) -> float:
        """Peak MiB since the previous call (the next phase starts from the current value)."""
        with self._lock:
            peak, self._peak_mb = self._peak_mb, self._last_mb
        return peak

    @property
    def last_mb(self) -> float:
        with self._lock:
            return self._last_mb


# ------------------------------------------------------------------ browser steps
async def wait_until_idle(page, timeout_ms: float) -> None:
    """Streamlit's "Running…" status widget is gone: the script run finished."""
    await page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


async def error_boxes(page) -> list[str]:
    """Texts of st.exception and st.error boxes on the page."""
    found = []
    for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        found += [f"error box: {text[:200]}" for text in await page.locator(selector).all_inner_texts()]
    return found


async def start_long_training(browser, url: str, timeout_ms: float):
    """The teacher: open Train, press "Start training" (ViT classroom preset) and wait until it says running."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    await page.goto(f"{url}/train")
    button = page.get_by_role("button", name="Start training")
    exception_box = page.locator('[data-testid="stException"]')
    await button.or_(exception_box).first.wait_for()
    if await exception_box.count():
        raise RuntimeError(f"the Train page shows an exception: {(await exception_box.first.inner_text())[:500]}")
    await wait_until_idle(page, timeout_ms)
    await button.click()
    progress = page.locator('[data-testid="stProgress"]').filter(has_text="running")
    await progress.first.wait_for(timeout=timeout_ms)
    return context


SELECTBOX_TEXT_JS = "box => box.textContent + ' ' + Array.from(box.querySelectorAll('input')).map(input => input.value).join(' ')"
# JavaScript: a selectbox's label plus its shown value (Streamlit 1.67 keeps the value in a combobox <input>)


async def pick_run(page, run_id: str, timeout_ms: float) -> None:
    """Make the "ViT run" selectbox show `run_id` (its label ends with the id's last 4 characters)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="ViT run").first
    await box.wait_for(timeout=timeout_ms)
    suffix = run_id[-4:]
    if suffix in await box.evaluate(SELECTBOX_TEXT_JS):
        return
    await box.click()  # opens the list of runs
    await page.get_by_role("option").filter(has_text=suffix).first.click()
    await page.wait_for_function(
        "([suffix]) => Array.from(document.querySelectorAll('[data-testid=\"stSelectbox\"]')).some(box => box.textContent.includes('ViT run')"
        " && Array.from(box.querySelectorAll('input')).some(input => input.value.includes(suffix)))",
        arg=[suffix],
        timeout=timeout_ms,
    )


async def open_uploader(page, url: str, run_id: str, timeout_ms: float, result: SessionResult):
    """A student: open Attention, pick the ViT run, choose "upload your own"; return the file input."""
    result.step = "open Attention"
    await page.goto(f"{url}/attention")
    await page.get_by_role("heading", level=1).filter(has_text="Attention").wait_for()
    result.step = "pick the ViT run"
    await pick_run(page, run_id, timeout_ms)
    await wait_until_idle(page, timeout_ms)
    result.step = "choose upload your own"
    radio = page.locator('[data-testid="stRadio"]').filter(has_text="Picture")
    await radio.get_by_text("upload your own", exact=True).click()
    file_input = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    await file_input.wait_for(state="attached")
    await wait_until_idle(page, timeout_ms)
    return file_input


OVERLAY_WATCH_JS = """([heading]) => {
  const findOverlay = () => {
    for (const column of document.querySelectorAll('[data-testid="stColumn"]')) {
      const title = Array.from(column.querySelectorAll('h1, h2, h3, h4')).some(h => h.textContent.includes(heading));
      const img = title && column.querySelector('[data-testid="stImage"] img');
      if (img) return img;
    }
    return null;
  };
  const shownBefore = findOverlay()?.src;  // an overlay already on the page (an earlier picture) does not count
  window.__overlayShown = new Promise(resolve => {
    const check = () => {
      const img = findOverlay();
      if (!img || img.src === shownBefore) return false;
      if (img.complete && img.naturalWidth > 0) {
        img.decode().then(() => resolve(performance.now()), () => resolve(performance.now()));
        return true;
      }
      if (!img.__watched) { img.__watched = true; img.addEventListener('load', check, {once: true}); }
      return false;
    };
    if (check()) return;
    const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  });
  return performance.now();
}"""
# JavaScript, run just before the upload: returns the page clock now, and leaves window.__overlayShown, a promise of
# the page clock when the overlay <img> of THIS upload (a new src) is loaded and decoded. Event driven (MutationObserver + load event): no
# polling loop that would keep ten tabs' frame loops busy and blur the measurement by a polling interval.


async def upload_and_wait(page, file_input, photo: Path, timeout_ms: float, result: SessionResult) -> None:
    """Upload the photo and time the overlay image (on the page's own clock) and the complete page."""
    result.step = "wait for the overlay"
    started = time.monotonic()
    page_started_ms = await page.evaluate(OVERLAY_WATCH_JS, [OVERLAY_HEADING])
    await file_input.set_input_files(str(photo))
    page_shown_ms = await page.evaluate("() => window.__overlayShown")
    result.overlay_s = (page_shown_ms - page_started_ms) / 1000
    result.step = "wait for the complete page"
    await wait_until_idle(page, timeout_ms)
    result.complete_s = time.monotonic() - started
    result.step = "done"
    overlay_column = page.locator('[data-testid="stColumn"]').filter(has=page.get_by_role("heading", name=OVERLAY_HEADING))
    width = await overlay_column.locator('[data-testid="stImage"] img').first.evaluate("img => img.naturalWidth")
    if not width:
        result.errors.append("overlay image has no pixels")


async def student_session(browser, url: str, run_id: str, photo: Path, index: int, barrier: asyncio.Barrier | None,
                          timeout_s: float, setup_timeout_s: float, on_release=None, round_end=None) -> SessionResult:
    """One student from page open to overlay; every failure becomes an error string, never an exception.

    `round_end` (a RoundEnd, or None for a lone session) holds the tab open until every session of the round has
    finished its upload: a class keeps its tabs open, and closing one (tearing down a renderer process) is not
    classroom work, so it must not compete with the uploads still being answered.
    """
    result = SessionResult(index=index)
    timeout_ms = timeout_s * 1000
    context = await browser.new_context(viewport=VIEWPORT)
    page = None
    try:
        page = await context.new_page()
        page.set_default_timeout(setup_timeout_s * 1000)
        page.js_errors = []  # uncaught JavaScript errors in this tab
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        opened = time.monotonic()
        try:
            file_input = await asyncio.wait_for(open_uploader(page, url, run_id, setup_timeout_s * 1000, result), setup_timeout_s)
            result.setup_s = time.monotonic() - opened
        finally:
            if barrier is not None:  # everybody uploads at the same moment (a class told "now upload")
                if await barrier.wait() == 0 and on_release is not None:  # exactly one session gets index 0
                    on_release()
        # The upload has its own budget of timeout_s (setting up the page is not what is measured).
        await asyncio.wait_for(upload_and_wait(page, file_input, photo, timeout_ms, result), timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        result.errors.append(f"timeout at step: {result.step}")
    except Exception as error:  # Playwright errors: the session failed, the benchmark goes on
        result.errors.append(f"{type(error).__name__} at step {result.step}: {str(error).splitlines()[0][:200]}")
    finally:
        if round_end is not None:  # this session is done (or failed); its tab stays open until all are
            await round_end.finished()
        if page is not None:
            try:
                result.errors += await asyncio.wait_for(error_boxes(page), 10)
            except Exception:
                pass
            result.errors += [f"javascript: {text[:200]}" for text in getattr(page, "js_errors", [])]
        try:
            await asyncio.wait_for(context.close(), 15)
        except Exception:
            pass
    return result


# ------------------------------------------------------------------ rounds
class RoundEnd:
    """The end of a round's upload phase: each session calls `finished()`, which returns once all `count` have.

    The last one to arrive calls `on_last` first (the phase's closing CPU reading, while every tab is still open).
    A session waits at most `timeout_s`, so one lost session cannot hold the others forever.
    """

    def __init__(self, count: int, on_last=None, timeout_s: float = 180.0):
        self.count = count  # sessions in the round
        self.on_last = on_last  # called once, by the last session to finish
        self.timeout_s = timeout_s  # longest wait for the others
        self.arrived = 0  # sessions finished so far
        self._all_finished = asyncio.Event()

    async def finished(self) -> None:
        self.arrived += 1
        if self.arrived == self.count:
            if self.on_last is not None:
                self.on_last()
            self._all_finished.set()
        try:
            await asyncio.wait_for(self._all_finished.wait(), self.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            pass


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))  # ceil(fraction * n)
    return float(ordered[min(rank, len(ordered)) - 1])


SPARE_RENDERER_CPU_S = 0.5  # a renderer that has used less CPU than this has drawn no page yet (Chromium's spare)


def renderer_pids(min_cpu_s: float = 0.0) -> set[int]:
    """Process ids of the live Chromium renderers (one or more per browser context) that used at least min_cpu_s."""
    found = set()
    for pid, (command, fields) in proc_stats().items():
        if "chrom" not in command.lower() or cpu_seconds_of(fields) < min_cpu_s:
            continue
        try:
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()  # Chromium rewrites it: one string, or NUL-separated
        except OSError:
            continue
        if b"--type=renderer" in command_line:
            found.add(pid)
    return found


def cpu_of(pids: set[int], reading: dict[int, tuple[str, float]], before: dict[int, tuple[str, float]]) -> float:
    """CPU seconds the processes `pids` used between two `cpu_seconds_per_process` readings."""
    return sum(reading[pid][1] - before.get(pid, ("", 0.0))[1] for pid in pids if pid in reading)


def training_steps(runs_root: Path, run_id: str | None) -> int:
    """Per-step records the server's training run has written so far (iterations.jsonl lines)."""
    if run_id is None:
        return 0
    path = runs_root / run_id / "iterations.jsonl"
    try:
        return sum(1 for _ in path.open())
    except OSError:
        return 0


def newest_other_run(runs_root: Path, known: set[str]) -> str | None:
    """The run folder created by the server (the only one not in `known`)."""
    others = sorted(path.name for path in runs_root.iterdir() if path.is_dir() and path.name not in known)
    return others[-1] if others else None


def run_status(runs_root: Path, run_id: str | None) -> str:
    if run_id is None:
        return "none"
    try:
        return str(json.loads((runs_root / run_id / "status.json").read_text()).get("status", "unknown"))
    except (OSError, ValueError):
        return "unknown"


async def drive_browser(config: LoadConfig, url: str, run_id: str, runs_root: Path, photos_dir: Path,
                        chromium: str, sampler: RssSampler, deadline: float) -> dict:
    """Everything that happens in Chromium: teacher, warm-up, then one round per N."""
    from playwright.async_api import async_playwright

    record: dict = {"rounds": []}
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright, chromium)
        teacher = None
        teacher_renderers: set[int] = set()  # renderer processes of the teacher's Train tab (empty without training)
        try:
            training_run = None
            if config.train_in_server:
                log("[load] teacher starts a long ViT training run on the Train page")
                teacher = await asyncio.wait_for(start_long_training(browser, url, 120_000), 150)
                # The teacher's is the only browser context so far, so the renderers alive now are its tab's. Their CPU
                # time from /proc is what the tab really used; DevTools' TaskDuration (used before) is the main
                # thread's wall time, which counts the moments the OS ran other processes: 3 to 5 times too much here.
                # Chromium may keep an idle spare renderer for the next tab: it has drawn nothing yet and is left out.
                teacher_renderers = renderer_pids(SPARE_RENDERER_CPU_S)
                record["teacher_renderers"] = len(teacher_renderers)
                training_run = newest_other_run(runs_root, {run_id})
                record["training_run"] = training_run
            warm_photo = write_photo_jpeg(photos_dir / "warmup.jpg", config.photo_size, seed=10_000)
            log("[load] warm-up session (loads the model once; not counted)")
            warm = await student_session(browser, url, run_id, warm_photo, -1, None, config.session_timeout_s * 2, config.setup_timeout_s)
            record["warmup"] = {"overlay_s": warm.overlay_s, "complete_s": warm.complete_s, "errors": warm.errors}
            sampler.take_peak()
            for count in config.sessions:
                left_s = deadline - time.monotonic()
                if left_s < config.session_timeout_s + config.setup_timeout_s:
                    log(f"[load] skipping N={count}: the --max-seconds budget is spent")
                    record["rounds"].append({"sessions": count, "skipped": True})
                    continue
                photos = [write_photo_jpeg(photos_dir / f"n{count}-{i}.jpg", config.photo_size, seed=count * 1000 + i) for i in range(count)]
                steps_before = training_steps(runs_root, training_run)
                log(f"[load] round N={count}: {count} sessions open Attention and upload at once")
                barrier = asyncio.Barrier(count)
                at_release: dict = {}  # CPU seconds per group and the time when the uploads start

                def mark_release() -> None:
                    at_release.update(cpu=cpu_seconds_per_process(sampler.root_pid), time=time.monotonic(),
                                      steps=training_steps(runs_root, training_run))

                def mark_phase_end() -> None:  # the last session is done; every tab is still open, so every renderer counts
                    if "cpu" in at_release:
                        at_release.update(cpu_after=cpu_seconds_per_process(sampler.root_pid), time_after=time.monotonic(),
                                          steps_after=training_steps(runs_root, training_run))

                round_end = RoundEnd(count, on_last=mark_phase_end, timeout_s=config.session_timeout_s + config.setup_timeout_s)

                started = time.monotonic()
                try:
                    results = await asyncio.wait_for(
                        asyncio.gather(*(student_session(browser, url, run_id, photo, i, barrier, config.session_timeout_s,
                                                         config.setup_timeout_s, mark_release, round_end)
                                         for i, photo in enumerate(photos))),
                        min(left_s, config.session_timeout_s + config.setup_timeout_s + 30),
                    )
                except (asyncio.TimeoutError, TimeoutError):
                    results = [SessionResult(index=i, errors=["round timeout"]) for i in range(count)]
                wall_s = time.monotonic() - started
                upload_cpu = None  # CPU seconds each group used from the common upload moment to the last session's end
                if "cpu_after" in at_release:
                    upload_cpu = cpu_used_between(at_release["cpu"], at_release["cpu_after"])
                    upload_cpu["wall_s"] = round(at_release["time_after"] - at_release["time"], 2)
                    upload_cpu["training_steps"] = at_release["steps_after"] - at_release["steps"]
                    if teacher_renderers:  # the teacher's live Train tab (already counted in "chromium")
                        upload_cpu["teacher_tab"] = round(cpu_of(teacher_renderers, at_release["cpu_after"], at_release["cpu"]), 2)
                training_status = run_status(runs_root, training_run)
                summary = summarise_round(count, results, sampler.take_peak(), wall_s,
                                          training_steps(runs_root, training_run) - steps_before, training_status)
                summary["upload_phase_cpu_s"] = upload_cpu
                record["rounds"].append(summary)
                log(f"[load] round N={count} done in {wall_s:.1f} s")
        finally:
            if teacher is not None:
                try:
                    await asyncio.wait_for(teacher.close(), 15)
                except Exception:
                    pass
            await browser.close()
    return record


def summarise_round(count: int, results: list[SessionResult], peak_mb: float, wall_s: float, steps: int, training_status: str) -> dict:
    overlays = [r.overlay_s for r in results if r.overlay_s is not None]
    completes = [r.complete_s for r in results if r.complete_s is not None]
    failed = [r for r in results if r.errors]
    return {
        "sessions": count,
        "errors": sum(len(r.errors) for r in results),
        "failed_sessions": len(failed),
        "error_samples": sorted({error for r in failed for error in r.errors})[:5],
        "overlay_p50_s": percentile(overlays, 0.5),
        "overlay_p95_s": percentile(overlays, 0.95),
        "overlay_max_s": max(overlays) if overlays else None,
        "complete_p50_s": percentile(completes, 0.5),
        "complete_p95_s": percentile(completes, 0.95),
        "setup_p50_s": percentile([r.setup_s for r in results if r.setup_s is not None], 0.5),
        "peak_server_rss_mb": round(peak_mb, 1),
        "round_wall_s": round(wall_s, 2),
        "training_steps_during_round": steps,
        "training_status_after": training_status,
    }


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> LoadConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=list(DEFAULT_SESSIONS), help="N values (one round each)")
    parser.add_argument("--session-timeout", type=float, default=60.0, help="seconds one upload may take (until the page is complete)")
    parser.add_argument("--setup-timeout", type=float, default=120.0, help="seconds a session may take to reach the uploader (not measured)")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="the whole benchmark stops after this")
    parser.add_argument("--synth-per-class", type=int, default=40, help="server's embedded set: train images per class")
    parser.add_argument("--no-training", action="store_true", help="do not start the training run in the server")
    parser.add_argument("--browser-nice", type=int, default=0, choices=range(20), metavar="0-19",
                        help="run Chromium at this nice value: stands in for students' own machines (default 0)")
    parser.add_argument("--quick", action="store_true", help="smoke test: N=1, tiny data, small photo")
    args = parser.parse_args(argv)
    if any(count < 1 for count in args.sessions):
        parser.error("--sessions values must be at least 1")
    quick = bool(args.quick)
    return LoadConfig(
        sessions=[1] if quick else list(args.sessions),
        session_timeout_s=float(args.session_timeout),
        setup_timeout_s=min(float(args.setup_timeout), 90.0) if quick else float(args.setup_timeout),
        max_seconds=min(float(args.max_seconds), 280.0) if quick else float(args.max_seconds),
        synth_per_class=8 if quick else int(args.synth_per_class),
        prepare_per_class=4 if quick else 8,
        prepare_batches=1 if quick else 5,
        photo_size=(320, 240) if quick else PHOTO_SIZE,
        train_in_server=not args.no_training,
        browser_nice=int(args.browser_nice),
        quick=quick,
    )


def niced_executable(chromium: str, nice: int, folder: Path) -> str:
    """A wrapper script that starts `chromium` at the given nice value; every process it spawns inherits it."""
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {int(nice)} "{chromium}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def server_env(work: Path, synth_per_class: int) -> dict[str, str]:
    """The load benchmarks' server settings: runs and cache under `work`, a small embedded set, the CPU, long training."""
    return {
        "VIT_CLASSROOM_RUNS": str(work / "runs"),
        "VIT_CLASSROOM_CACHE": str(work / "cache"),
        "VIT_CLASSROOM_SYNTH_PER_CLASS": str(synth_per_class),
        "VIT_CLASSROOM_TRAIN_OVERRIDES": json.dumps(LONG_TRAINING_OVERRIDES),
        "VIT_CLASSROOM_DEVICE": "cpu",
    }


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        log("[load] Chromium is not installed (/usr/bin/chromium); the load benchmark needs it")
        return 2
    started = time.monotonic()
    deadline = started + config.max_seconds
    with tempfile.TemporaryDirectory(prefix="vit-load-") as temp:
        work = Path(temp)
        runs_root = work / "runs"
        env = server_env(work, config.synth_per_class)
        log("[load] training a short ViT run with the CLI (the run students pick)")
        run_id = prepare_finished_vit_run(work, env, config)
        photos_dir = work / "photos"
        photos_dir.mkdir()
        if config.browser_nice:
            chromium = niced_executable(chromium, config.browser_nice, work)
        log(f"[load] prepared run {run_id}; starting streamlit")
        server = start_streamlit(REPO_ROOT / "app" / "Home.py", work, env)
        sampler = RssSampler(server.process.pid)
        sampler.start()
        try:
            record = asyncio.run(asyncio.wait_for(
                drive_browser(config, server.url, run_id, runs_root, photos_dir, chromium, sampler, deadline),
                max(30.0, deadline - time.monotonic()),
            ))
        except BaseException:
            log(f"[load] ---- streamlit log (tail) ----\n{server.log_text(6000)}")
            raise
        finally:
            sampler.stop()
            stop_streamlit(server)
        server_log_errors = [line for line in server.log_text(200_000).splitlines() if "Traceback" in line or "Error" in line]
    rows = []
    for summary in record["rounds"]:
        if summary.get("skipped"):
            rows.append([summary["sessions"], "skipped", "", "", "", "", "", ""])
            continue
        rows.append([
            summary["sessions"], summary["errors"],
            _fmt(summary["overlay_p50_s"]), _fmt(summary["overlay_p95_s"]), _fmt(summary["overlay_max_s"]),
            _fmt(summary["complete_p95_s"]), summary["peak_server_rss_mb"], summary["training_steps_during_round"],
        ])
    print_table(
        f"Classroom load: Attention upload while a ViT trains in the server (cpu: {cpu_name()}, {os.cpu_count()} cores)",
        ["N", "errors", "overlay p50 s", "overlay p95 s", "overlay max s", "page p95 s", "peak RSS MB", "train steps"],
        rows,
    )
    tens = [r for r in record["rounds"] if r.get("sessions") == 10 and not r.get("skipped")]  # every N = 10 round must meet it
    print_json_line({
        "bench": "load",
        "sessions": config.sessions,
        "quick": config.quick,
        "photo_size": list(config.photo_size),
        "training_in_server": config.train_in_server,
        "browser_nice": config.browser_nice,
        "training_run": record.get("training_run"),
        "prepared_run": run_id,
        "warmup": record.get("warmup"),
        "rounds": record["rounds"],
        "target_p95_s_at_10": P95_TARGET_S,
        "target_met_at_10": None if not tens else all(
            ten["errors"] == 0 and ten["overlay_p95_s"] is not None and ten["overlay_p95_s"] <= P95_TARGET_S for ten in tens
        ),
        "teacher_renderers": record.get("teacher_renderers", 0),
        "server_log_error_lines": server_log_errors[:10],
        "load_average_after": list(os.getloadavg()),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "total_s": round(time.monotonic() - started, 1),
    })
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
