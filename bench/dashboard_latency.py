"""How fast the dashboard feels: first render, live-chart refresh while training, and the upload → overlay delay.

Three numbers, measured in a real headless Chromium (Playwright) against a real
`streamlit run app/Home.py` server on 127.0.0.1, on the CPU:

  (a) first render: seconds from launching the server process to the Home page's
      "ViT Classroom" title being visible (the health-check time is reported too);
  (b) live update interval: while a ViT run trains (started with the Train page's
      "Start training" button), the page is only READ, never clicked; the median time
      between observed changes of the live charts' point counts, and of the progress text;
  (c) overlay latency: on the Attention page, a photo-like 4000×3000 JPEG (gradients,
      shapes and noise, quality 90, written with PIL) is given to the file uploader;
      seconds from `set_input_files` to the new overlay <img> being visible and decoded.
      Median over `--uploads` different pictures (each has its own noise seed, so no
      cache can answer for it).

Before the server starts, a finished ViT run is prepared with the CLI, exactly as a
teacher would:  python -m vitcore data synth ...  then  python -m vitcore train --epochs 1 ...
(c) uses that run and is measured while nothing trains; (b) comes last.
The server's own training set is the embedded synthetic set shrunk with
VIT_CLASSROOM_SYNTH_PER_CLASS, and its recipes are shortened with VIT_CLASSROOM_TRAIN_OVERRIDES.

Run:  .venv/bin/python bench/dashboard_latency.py [--quick] [--uploads 3] [--keep]
Output: a table, then one JSON line (see bench/README.md). Needs /usr/bin/chromium and playwright.
The 1-minute load average before and after is printed: a busy machine slows every number here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import REPO_ROOT, cpu_name, log, print_json_line, print_table  # noqa: E402
from bench.browser_support import (  # noqa: E402
    find_chromium, launch_chromium, selectbox_text, start_streamlit, stop_streamlit, wait_until_idle,
)

PHOTO_SIZE = (4000, 3000)  # width, height of the uploaded photo-like JPEG (12 megapixels)
PHOTO_QUALITY = 90  # JPEG quality of the uploaded photo
PHOTO_NOISE_STD = 6.0  # per-pixel Gaussian noise (0-255 scale): makes the JPEG as hard to compress as a photo
CLI_TRAIN_PER_CLASS = 20  # images per class of the CLI-prepared synthetic folder (train split)
CLI_VAL_PER_CLASS = 5  # images per class of the CLI-prepared synthetic folder (val split)
SERVER_SYNTH_PER_CLASS = 40  # VIT_CLASSROOM_SYNTH_PER_CLASS of the server: 200 train / 65 val images
VIEWPORT = {"width": 1400, "height": 900}  # wide enough that the sidebar stays open
PAGE_TIMEOUT_MS = 120_000  # upper bound for one page to render on a busy machine
TRAINING_TIMEOUT_S = 300.0  # upper bound for the server's ViT run to finish while (b) watches it
POLL_S = 0.1  # how often the live view is sampled in (b)

# JavaScript: the largest point count of any scatter trace on the page (0 when no chart is drawn).
MAX_CHART_POINTS_JS = """
() => Math.max(0, ...Array.from(document.querySelectorAll('.js-plotly-plot'))
    .flatMap(chart => (chart._fullData || []).map(trace => trace.type === 'heatmap' ? 0 : (trace._length || 0))))
"""
# JavaScript: the per-epoch chart's point count + the per-step chart's point count, as one string signature.
CHART_SIGNATURE_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(chart => (chart._fullData || []).map(trace => trace._length || 0).join(',')).join('|')
"""
# JavaScript: src of the decoded overlay image under the "Attention on the picture" heading, or "" when absent.
OVERLAY_SRC_JS = """
() => {
    const heading = Array.from(document.querySelectorAll('h3')).find(h => h.textContent.includes('Attention on the picture'));
    if (!heading) return '';
    const column = heading.closest('[data-testid="stColumn"]');
    const image = column && column.querySelector('[data-testid="stImage"] img');
    if (!image || !image.complete || image.naturalWidth === 0) return '';
    const box = image.getBoundingClientRect();
    return box.width > 0 && box.height > 0 ? image.src : '';
}
"""


# ------------------------------------------------------------------ preparation
def run_cli(arguments: list[str], env: dict[str, str]) -> float:
    """Run `python -m vitcore ARGS` from the repo root; returns its wall-clock seconds (raises on failure)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vitcore", *arguments], cwd=str(REPO_ROOT), env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`vitcore {' '.join(arguments)}` failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return time.perf_counter() - started


def prepare_finished_vit_run(work: Path, env: dict[str, str]) -> dict[str, float]:
    """A synthetic folder and one finished 1-epoch ViT classroom run in work/runs (via the CLI); seconds per step."""
    synth = work / "synth"
    seconds = {"data synth (s)": run_cli(
        ["data", "synth", "--out", str(synth), "--train-per-class", str(CLI_TRAIN_PER_CLASS),
         "--val-per-class", str(CLI_VAL_PER_CLASS)], env)}
    seconds["vitcore train, 1 epoch (s)"] = run_cli(
        ["train", "--model", "vit", "--preset", "classroom", "--data", str(synth), "--epochs", "1",
         "--device", "cpu", "--runs-dir", str(work / "runs")], env)
    return seconds


def write_photo_like_jpeg(path: Path, seed: int, size=PHOTO_SIZE) -> int:
    """A photo-like JPEG: sky and ground gradients, a few shapes, Gaussian noise; returns its size in bytes."""
    import numpy as np
    from PIL import Image, ImageDraw

    width, height = size
    generator = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # (H, 1)
    columns = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]  # (1, W)
    red = 90 + 120 * rows + 20 * columns  # (H, W)
    green = 140 + 60 * rows - 30 * columns  # (H, W)
    blue = 250 - 150 * rows + 0 * columns  # (H, W)
    pixels = np.stack([red, green, blue], axis=-1)  # (H, W, 3)
    picture = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, int(height * 0.68), width, height], fill=(50, 130, 60))  # grass
    for _ in range(12):  # random discs and boxes: "objects" with hard edges
        x, y = int(generator.integers(0, width - 600)), int(generator.integers(0, height - 600))
        extent = int(generator.integers(150, 600))
        colour = tuple(int(value) for value in generator.integers(0, 256, 3))
        if generator.random() < 0.5:
            draw.ellipse([x, y, x + extent, y + extent], fill=colour)
        else:
            draw.rectangle([x, y, x + extent, y + int(extent * 0.7)], fill=colour)
    noisy = np.asarray(picture, dtype=np.float32) + generator.normal(0.0, PHOTO_NOISE_STD, (height, width, 3))  # (H, W, 3)
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB").save(path, format="JPEG", quality=PHOTO_QUALITY)
    return path.stat().st_size


# ------------------------------------------------------------------ browser helpers
def measure_first_render(page, server) -> float:
    """(a) Seconds from the server's launch to the Home title being visible."""
    from playwright.sync_api import expect

    page.goto(server.url)
    expect(page.get_by_role("heading", name="ViT Classroom")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    return time.monotonic() - server.started_at


def measure_overlay_latency(page, server, photos: list[Path]) -> list[float]:
    """(c) Seconds from set_input_files to the NEW overlay image being visible and decoded, one per photo."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/attention")
    page.get_by_role("heading", level=1).filter(has_text="Attention").wait_for()
    wait_until_idle(page, PAGE_TIMEOUT_MS)
    page.locator('[data-testid="stRadio"]').filter(has_text="Picture").get_by_text("upload your own", exact=True).click()
    file_input = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    expect(file_input).to_be_attached(timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page, PAGE_TIMEOUT_MS)
    latencies = []
    previous_src = ""
    for photo in photos:
        started = time.monotonic()
        file_input.set_input_files(str(photo))
        handle = page.wait_for_function(
            f"() => {{ const src = ({OVERLAY_SRC_JS})(); return src && src !== {json.dumps(previous_src)} ? src : null; }}",
            timeout=PAGE_TIMEOUT_MS, polling=50,
        )
        latencies.append(time.monotonic() - started)
        previous_src = handle.json_value()
        errors = page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]')
        if errors.count():
            raise RuntimeError(f"the Attention page shows an error: {errors.all_inner_texts()}")
        wait_until_idle(page, PAGE_TIMEOUT_MS)  # the rest of the page (charts) finishes before the next upload
        log(f"[bench] overlay for {photo.name}: {latencies[-1]:.2f} s")
    return latencies


def wait_for_new_run(runs_root: Path, runs_before: set[str], timeout_s: float = PAGE_TIMEOUT_MS / 1000) -> str:
    """The id of the run folder that appears in `runs_root` after the Start click."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = sorted(path.name for path in runs_root.iterdir() if path.is_dir() and path.name not in runs_before)
        if new:
            return new[0]
        time.sleep(POLL_S)
    raise RuntimeError(f"no new run folder appeared in {runs_root} after pressing Start training")


def measure_live_updates(page, server, runs_root: Path) -> dict:
    """(b) Start a ViT run on the Train page, then only read the page until the run finishes."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/train")
    start_button = page.get_by_role("button", name="Start training")
    expect(start_button).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page, PAGE_TIMEOUT_MS)
    if "Classroom ViT" not in selectbox_text(page, "recipe"):
        raise RuntimeError("the Train page did not default to the classroom ViT recipe")
    runs_before = {path.name for path in runs_root.iterdir()}
    start_button.click()
    run_id = wait_for_new_run(runs_root, runs_before)  # the progress bar of THIS run (not the CLI-prepared one)
    chart_change_times: list[float] = []  # when the charts' point counts changed
    text_change_times: list[float] = []  # when the progress text changed
    last_chart, last_text, final_text = None, None, ""
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while time.monotonic() < deadline:
        bars = page.locator('[data-testid="stProgress"]').filter(has_text=run_id).all_inner_texts()
        text = " | ".join(bars)
        chart = page.evaluate(CHART_SIGNATURE_JS)
        now = time.monotonic()
        if "running" in text:  # only changes during training count (not the queued → running switch)
            if last_text is not None and text != last_text:
                text_change_times.append(now)
            if last_chart is not None and chart != last_chart and page.evaluate(MAX_CHART_POINTS_JS) > 0:
                chart_change_times.append(now)
            last_text, last_chart = text, chart
        if "finished" in text or "failed" in text:
            final_text = text
            break
        time.sleep(POLL_S)
    if "finished" not in final_text:
        raise RuntimeError(f"the server's ViT run did not finish within {TRAINING_TIMEOUT_S:.0f} s: {final_text or last_text!r}")

    def intervals(times: list[float]) -> list[float]:
        return [later - earlier for earlier, later in zip(times, times[1:])]

    chart_intervals, text_intervals = intervals(chart_change_times), intervals(text_change_times)
    return {
        "chart_interval_median_s": statistics.median(chart_intervals) if chart_intervals else None,
        "chart_interval_min_s": min(chart_intervals) if chart_intervals else None,
        "chart_interval_max_s": max(chart_intervals) if chart_intervals else None,
        "chart_changes": len(chart_change_times),
        "progress_interval_median_s": statistics.median(text_intervals) if text_intervals else None,
        "progress_changes": len(text_change_times),
    }


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 upload and a shorter training run (smoke run)")
    parser.add_argument("--uploads", type=int, default=3, help="photos uploaded for (c); the median is reported")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the server's ViT run watched in (b)")
    parser.add_argument("--max-batches", type=int, default=10, help="steps per epoch of the server's ViT run in (b)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (runs, photos, server log)")
    args = parser.parse_args(argv)
    if args.quick:
        args.uploads, args.epochs, args.max_batches = 1, 2, 5

    chromium = find_chromium()
    if chromium is None:
        log("[bench] Chromium is not installed (/usr/bin/chromium); this benchmark needs a browser.")
        return 2
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="vit-dashboard-bench-"))
    env = dict(os.environ)
    env.update({
        "VIT_CLASSROOM_RUNS": str(work / "runs"),
        "VIT_CLASSROOM_CACHE": str(work / "cache"),
        "VIT_CLASSROOM_SYNTH_PER_CLASS": str(SERVER_SYNTH_PER_CLASS),
        "VIT_CLASSROOM_TRAIN_OVERRIDES": json.dumps({
            "epochs": args.epochs, "batch_size": 16, "max_train_batches_per_epoch": args.max_batches,
            "eval_batch_size": 64, "num_threads": 1,
        }),
        "VIT_CLASSROOM_DEVICE": "cpu",
        "OMP_NUM_THREADS": "2",
    })
    server = None
    try:
        log(f"[bench] preparing a finished ViT run with the CLI in {work} …")
        preparation = prepare_finished_vit_run(work, env)
        photos, photo_bytes = [], []
        for seed in range(args.uploads):
            photo = work / f"photo-{seed}.jpg"
            photo_bytes.append(write_photo_like_jpeg(photo, seed))
            photos.append(photo)
        log(f"[bench] {len(photos)} photo(s) of {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]}: {[round(b / 2**20, 2) for b in photo_bytes]} MiB")

        overrides = {key: env[key] for key in env if key.startswith("VIT_CLASSROOM_") or key == "OMP_NUM_THREADS"}
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, chromium)  # before the server: (a) must not include Chromium's start
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            server = start_streamlit(REPO_ROOT / "app" / "Home.py", work, overrides, timeout_s=PAGE_TIMEOUT_MS / 1000)
            first_render_s = measure_first_render(page, server)
            log(f"[bench] (a) first render {first_render_s:.2f} s (health ok after {server.healthy_after_s:.2f} s)")
            overlay_s = measure_overlay_latency(page, server, photos)
            live = measure_live_updates(page, server, work / "runs")
            log(f"[bench] (b) {live}")
            browser.close()
    except BaseException:
        if server is not None:
            log(f"[bench] ---- server log (tail) ----\n{server.log_text(6000)}")
        raise
    finally:
        if server is not None:
            stop_streamlit(server)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"[bench] kept {work}")
    load_after = os.getloadavg()

    def seconds(value) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    rows = [
        ["(a) launch → /_stcore/health ok", seconds(server.healthy_after_s), "streamlit process start"],
        ["(a) launch → Home title visible", seconds(first_render_s), "first render in Chromium"],
        ["(b) live chart update, median", seconds(live["chart_interval_median_s"]),
         f"{live['chart_changes']} changes, min–max {seconds(live['chart_interval_min_s'])}–{seconds(live['chart_interval_max_s'])} s"],
        ["(b) progress text update, median", seconds(live["progress_interval_median_s"]), f"{live['progress_changes']} changes"],
        ["(c) upload → overlay visible, median", seconds(statistics.median(overlay_s)),
         f"{len(overlay_s)} × {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG q{PHOTO_QUALITY}: " + ", ".join(f"{value:.2f}" for value in overlay_s)],
    ]
    print_table(
        f"Dashboard latency on CPU ({cpu_name()}, {os.cpu_count()} cores; load average {load_before[0]:.2f} → {load_after[0]:.2f})",
        ["measurement", "seconds", "notes"], rows,
    )
    print_json_line({
        "bench": "dashboard_latency",
        "quick": bool(args.quick),
        "server_health_s": round(server.healthy_after_s, 3),
        "first_render_s": round(first_render_s, 3),
        "chart_interval_median_s": live["chart_interval_median_s"],
        "chart_interval_min_max_s": [live["chart_interval_min_s"], live["chart_interval_max_s"]],
        "chart_changes": live["chart_changes"],
        "progress_interval_median_s": live["progress_interval_median_s"],
        "progress_changes": live["progress_changes"],
        "overlay_latency_median_s": statistics.median(overlay_s),
        "overlay_latencies_s": overlay_s,
        "photo_size": list(PHOTO_SIZE),
        "photo_bytes": photo_bytes,
        "server_train_overrides": json.loads(env["VIT_CLASSROOM_TRAIN_OVERRIDES"]),
        "preparation_s": preparation,
        "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
