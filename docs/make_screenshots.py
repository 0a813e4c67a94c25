"""Screenshots of every dashboard page for the README, taken from the real app in a real browser.

    .venv/bin/python docs/make_screenshots.py                  # writes docs/images/<page>.png
    .venv/bin/python docs/make_screenshots.py --out /tmp/shots --per-class 20 --epochs 1 --max-batches 3

It starts `streamlit run app/Home.py` on the embedded synthetic set (a fresh, private runs folder), opens it
in headless Chromium, presses Home's one-click button (a ViT, then a CNN, trained briefly), waits for both
runs, then visits every page and saves one PNG each: home, data, train, attention, inside-the-vit (its attention step),
compare, attention-lab; and one of the Attention page's epoch replay (attention-time-lapse).
Each PNG is kept under MAX_PNG_BYTES by reducing it to a 256-colour palette and, if needed, shrinking it.
Prints one JSON line with the files written and their sizes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` imports

from PIL import Image  # noqa: E402

from bench.browser_support import (  # noqa: E402
    PAGE_TIMEOUT_MS,
    REPO_ROOT,
    find_chromium,
    go_to,
    launch_chromium,
    screenshot_whole_page,
    start_streamlit,
    stop_streamlit,
    wait_until_idle,
)

PAGES = {  # sidebar title -> the page's heading, in the tour's order
    "Home": "ViT Classroom", "Data": "Data", "Train": "Train", "Attention": "Attention",
    "Inside the ViT": "Inside the ViT", "Compare": "Compare", "Attention lab": "Attention lab",
}
WIDTH, MIN_HEIGHT, MAX_HEIGHT = 1280, 800, 1800  # browser window; a page taller than MAX_HEIGHT is cut there
MAX_PNG_BYTES = 300_000  # every screenshot stays under this size
TRAINING_TIMEOUT_S = 900  # both one-click runs must finish within this
TIMELAPSE_HEADING = "How this attention formed during training"  # the Attention page's epoch replay
TIMELAPSE_FILE = "attention-time-lapse.png"  # its picture
REPLAY_TOGGLE = "Replay this run's training, epoch by epoch"  # the toggle that unfolds the replay
SECTION_HEIGHT, MAX_SECTION_WINDOW = 1000, 4000  # the section's picture height; the window it is taken from


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "images", help="folder for the PNG files")
    parser.add_argument("--per-class", type=int, default=200, help="training drawings per class (val gets a third)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each one-click run")
    parser.add_argument("--max-batches", type=int, default=20, help="batches per epoch of each run")
    return parser.parse_args(argv)


def file_name(title: str) -> str:
    """"Attention lab" -> "attention-lab.png"."""
    return title.lower().replace(" ", "-") + ".png"


def shrink_png(path: Path, max_bytes: int = MAX_PNG_BYTES) -> int:
    """Re-save `path` as a 256-colour PNG, smaller and smaller until it is under `max_bytes`; returns its size."""
    picture = Image.open(path).convert("RGB")
    scale = 1.0
    while True:
        resized = picture if scale == 1.0 else picture.resize((int(picture.width * scale), int(picture.height * scale)), Image.Resampling.LANCZOS)
        resized.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        size = path.stat().st_size
        if size <= max_bytes or scale < 0.3:
            return size
        scale *= 0.85


def wait_for_both_runs(page) -> None:
    """Home's one-click progress says "Done" once the ViT and then the CNN have finished."""
    page.get_by_text("Done. Compare the two models", exact=False).wait_for(timeout=TRAINING_TIMEOUT_S * 1000)


def prepare(page, title: str) -> None:
    """What each page should show in its picture: results where a button produces them."""
    if title == "Attention lab":
        page.get_by_role("button", name="Run equivalence check").click()
        page.get_by_text("All variants agree", exact=False).wait_for()
        page.get_by_role("button", name="Time loop vs einsum vs fused").click()
        page.get_by_text("Measured just now on this server", exact=False).wait_for()
    if title == "Compare":
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".filter(c => (c._fullData || []).some(t => t.type === 'heatmap')).length >= 2",
            timeout=PAGE_TIMEOUT_MS,
        )
    if title == "Attention":
        page.get_by_role("heading", name="Attention on the picture").wait_for()
    if title == "Inside the ViT":  # the attention step: scores, weights, the CLS row and the distances
        for step in (2, 3, 4):  # one click per step, each after the previous step is on the page (clicks are not queued)
            page.get_by_role("heading", level=2).filter(has_text=f"{step - 1} · ").wait_for()
            wait_until_idle(page)
            page.get_by_role("button", name="Next").click()
        page.get_by_role("heading", level=2).filter(has_text="4 · Attention").wait_for()


def screenshot_section(page, heading: str, path: Path) -> Path:
    """A PNG of the page from the sub-heading `heading` down, SECTION_HEIGHT pixels tall (the window grown to fit)."""
    page.get_by_role("heading", name=heading).wait_for()
    page.set_viewport_size({"width": WIDTH, "height": MAX_SECTION_WINDOW})  # the whole page in one window
    page.wait_for_timeout(1500)  # charts lay themselves out again after the resize
    wait_until_idle(page)
    box = page.get_by_role("heading", name=heading).bounding_box()
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), clip={"x": 0, "y": max(0, box["y"] - 16), "width": WIDTH, "height": SECTION_HEIGHT})
    page.set_viewport_size({"width": WIDTH, "height": MIN_HEIGHT})
    return path


def make_screenshots(args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    overrides = {"epochs": args.epochs, "max_train_batches_per_epoch": args.max_batches, "batch_size": 32, "num_threads": 1}
    written: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="vit-classroom-shots-") as work:
        env = {
            "VIT_CLASSROOM_RUNS": str(Path(work) / "runs"),
            "VIT_CLASSROOM_CACHE": str(Path(work) / "cache"),
            "VIT_CLASSROOM_SYNTH_PER_CLASS": str(args.per_class),
            "VIT_CLASSROOM_TRAIN_OVERRIDES": json.dumps(overrides),
            "VIT_CLASSROOM_DEVICE": "cpu",
        }
        server = start_streamlit(REPO_ROOT / "app" / "Home.py", Path(work), env)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, chromium)
                page = browser.new_context(viewport={"width": WIDTH, "height": MIN_HEIGHT}).new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                page.goto(server.url)
                page.get_by_role("button", name="Train a ViT and a CNN on this data").click()
                started = time.monotonic()
                wait_for_both_runs(page)
                print(f"both one-click runs finished after {time.monotonic() - started:.0f} s", file=sys.stderr)
                for title, heading in PAGES.items():
                    go_to(page, title, heading)
                    wait_until_idle(page)
                    prepare(page, title)
                    wait_until_idle(page)
                    page.wait_for_timeout(800)  # charts finish their first layout
                    path = screenshot_whole_page(page, args.out / file_name(title), WIDTH, MIN_HEIGHT, MAX_HEIGHT)
                    written[path.name] = shrink_png(path)
                    print(f"{path}: {written[path.name] / 1000:.0f} kB", file=sys.stderr)
                go_to(page, "Attention", "Attention")  # the time-lapse: the epoch replay at the page's foot
                wait_until_idle(page)
                page.get_by_text(REPLAY_TOGGLE, exact=False).first.click()  # it starts folded
                wait_until_idle(page)
                page.wait_for_timeout(800)  # its charts finish their first layout
                path = screenshot_section(page, TIMELAPSE_HEADING, args.out / TIMELAPSE_FILE)
                written[path.name] = shrink_png(path)
                print(f"{path}: {written[path.name] / 1000:.0f} kB", file=sys.stderr)
                browser.close()
        finally:
            stop_streamlit(server)
    return {"out": str(args.out), "files": written}


def main(argv: list[str] | None = None) -> None:
    record = make_screenshots(parse_args(argv))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
