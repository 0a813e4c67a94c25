"""End to end in a real browser: headless Chromium (Playwright) against a real `streamlit run` server.

One classroom session, as a student would click it:
  Home (one click: a ViT, then a CNN) → a second tab opened meanwhile follows the run that trains
  → Train (the live view, the overlay of runs and the run table all move by themselves)
  → Attention (upload a JPEG, see the overlay; every heat map draws 0 as its darkest colour)
  → Compare (two confusion matrices; clicking a cell shows that cell's images)
  → Inside the ViT (every step of the walkthrough)
  → Attention lab (the equivalence check and the timing both stay on the page).

The server trains on a small embedded synthetic set with shortened recipes
(env VIT_CLASSROOM_SYNTH_PER_CLASS and VIT_CLASSROOM_TRAIN_OVERRIDES). A full-page
screenshot of every visited page goes to test-artifacts/screenshots/<page>.png.
Measured timings are printed (run with `-s` to see them).
"""

from __future__ import annotations

import io
import json
import re
import statistics
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bench.browser_support import (
    PAGE_TIMEOUT_MS,
    REPO_ROOT,
    chromium_or_skip,
    go_to,
    launch_chromium,
    screenshot_whole_page,
    selectbox_text,
    start_streamlit,
    stop_streamlit,
    wait_until_idle,
)

SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"  # git-ignored output folder
SYNTH_PER_CLASS = 40  # training images per synthetic class (val gets a third): 200 train / 65 val images
TRAIN_OVERRIDES = {
    "epochs": 4,  # four epochs: the per-epoch charts and the run table gain epochs while we watch
    "batch_size": 16,  # small steps: many iteration points
    "max_train_batches_per_epoch": 10,  # 40 steps per run
    "min_seconds_per_step": 0.4,  # demo pace: >= 16 s per run on any machine, so the pages update while we watch
    "eval_batch_size": 64,  # small validation batches
    "num_threads": 1,  # leave the other core to the browser and the server
}
VIEWPORT = {"width": 1400, "height": 900}  # wide enough that the sidebar navigation stays open
TRAINING_TIMEOUT_MS = 150_000  # upper bound for one shortened run to finish
POLL_S = 0.2  # how often the live view is sampled (reading only, never clicking)

# JavaScript: per plotly chart on the page, each trace's type, point count (scatter), z shape (heatmap) and the chart title.
PLOTLY_SUMMARY_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(chart => {
    const traces = chart._fullData || [];
    const title = (chart._fullLayout && chart._fullLayout.title && chart._fullLayout.title.text) || '';
    return traces.map((trace, index) => {
        const cells = (chart.calcdata && chart.calcdata[index] && chart.calcdata[index][0] && chart.calcdata[index][0].z) || [];
        // scatter: number of drawn points; heatmap: rows x columns of its z matrix
        return {type: trace.type, points: trace.type === 'heatmap' ? 0 : (trace._length || 0), title: title,
                rows: cells.length, columns: cells.length ? cells[0].length : 0};
    });
})
"""


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def chromium_path() -> str:
    """The system Chromium; skip (or fail when VIT_CLASSROOM_REQUIRE_BROWSER=1) when it is missing."""
    return chromium_or_skip("the end-to-end browser test")


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    """A real `streamlit run app/Home.py` on a free 127.0.0.1 port with its own runs and cache folders."""
    root = tmp_path_factory.mktemp("e2e_browser")
    env = {
        "VIT_CLASSROOM_RUNS": str(root / "runs"),
        "VIT_CLASSROOM_CACHE": str(root / "cache"),
        "VIT_CLASSROOM_SYNTH_PER_CLASS": str(SYNTH_PER_CLASS),
        "VIT_CLASSROOM_TRAIN_OVERRIDES": json.dumps(TRAIN_OVERRIDES),
        "VIT_CLASSROOM_DEVICE": "cpu",
    }
    running = start_streamlit(REPO_ROOT / "app" / "Home.py", root, env)
    yield running
    exit_code = stop_streamlit(running)
    print(f"\n[e2e] streamlit server stopped (exit code {exit_code}); log: {running.log_path}")


@pytest.fixture(scope="module")
def page(server, chromium_path):
    """One browser tab (one Streamlit session) for the whole flow; page errors are collected."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium_path)
        context = browser.new_context(viewport=VIEWPORT)
        tab = context.new_page()
        tab.set_default_timeout(PAGE_TIMEOUT_MS)
        tab.page_errors = []  # uncaught JavaScript errors seen in the tab
        tab.on("pageerror", lambda error: tab.page_errors.append(str(error)))
        yield tab
        context.close()
        browser.close()


# ------------------------------------------------------------------ helpers
def write_test_jpeg(path: Path, size=(640, 480)) -> Path:
    """A real 640×480 JPEG: the first coco-tiny photo of that size when the shared data is there (.ci/run sets it),
    else a drawn photo-like picture (a sky gradient, grass and a red disc)."""
    from conftest import shared_data_root

    shared = shared_data_root()
    if shared is not None and (shared / "coco-tiny" / "val2017").is_dir():
        for photo in sorted((shared / "coco-tiny" / "val2017").glob("*.jpg")):
            with Image.open(photo) as opened:
                if opened.size == tuple(size):
                    path.write_bytes(photo.read_bytes())  # the photo's own bytes, not a re-encoding
                    return path
    width, height = size
    picture = Image.new("RGB", size)
    draw = ImageDraw.Draw(picture)
    for row in range(height):
        shade = int(120 + 120 * row / height)
        draw.line([(0, row), (width, row)], fill=(shade // 2, shade // 2 + 40, 255 - shade // 3))
    draw.rectangle([0, int(height * 0.7), width, height], fill=(40, 140, 60))
    draw.ellipse([width // 3, height // 4, width // 3 + 200, height // 4 + 200], fill=(210, 40, 40))
    picture.save(path, format="JPEG", quality=90)
    return path


def assert_no_error_boxes(page, where: str) -> None:
    """No Python exception box and no st.error box on the page."""
    exceptions = page.locator('[data-testid="stException"]')
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert exceptions.count() == 0, f"{where}: exception shown: {exceptions.all_inner_texts()}"
    assert errors.count() == 0, f"{where}: error shown: {errors.all_inner_texts()}"


def save_full_page(page, name: str) -> Path:
    """Screenshot of the whole page into test-artifacts/screenshots/<name>.png."""
    return screenshot_whole_page(page, SCREENSHOT_DIR / f"{name}.png", VIEWPORT["width"], VIEWPORT["height"])


# JavaScript: the rows of the Train page's run table (Streamlit's data grid keeps its visible cells in a hidden <table>).
RUN_TABLE_ROWS_JS = """
() => Array.from(document.querySelectorAll('[data-testid="stDataFrame"] table tr'))
    .map(row => Array.from(row.querySelectorAll('td')).map(cell => cell.textContent.trim()))
    .filter(cells => cells.length)
"""
# JavaScript: points of the traces named after `name` in the last per-epoch chart (the Train page's overlay comes last).
OVERLAY_POINTS_JS = """
name => {
    const charts = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(c => (((c._fullLayout || {}).title || {}).text || '').includes('per epoch'));
    if (!charts.length) return -1;
    return (charts[charts.length - 1]._fullData || []).filter(t => (t.name || '').includes(name))
        .reduce((total, t) => total + (t._length || 0), 0);
}
"""
# JavaScript: page coordinates of a confusion-matrix cell's centre (true class = row, predicted class = column).
CELL_CENTRE_JS = """
(chart, cell) => {
    const layout = chart._fullLayout, box = chart.getBoundingClientRect();
    return [box.left + layout.xaxis._offset + layout.xaxis.l2p(layout.xaxis.d2l(cell[1])),
            box.top + layout.yaxis._offset + layout.yaxis.l2p(layout.yaxis.d2l(cell[0]))];
}
"""
HEATMAP_CHARTS_JS = "() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(c => (c._fullData || []).some(t => t.type === 'heatmap'))"


def progress_texts(page) -> list[str]:
    return page.locator('[data-testid="stProgress"]').all_inner_texts()


def plotly_summary(page) -> list[list[dict]]:
    return page.evaluate(PLOTLY_SUMMARY_JS)


def live_signature(page) -> tuple[str, tuple[int, ...]]:
    """What the live view shows right now: the progress text and the point count of every chart trace."""
    text = " | ".join(progress_texts(page))
    points = tuple(trace["points"] for chart in plotly_summary(page) for trace in chart)
    return text, points


def run_table_epochs(page, name: str) -> int | None:
    """Epochs done of the run called `name` as the Train page's "All runs" table shows it ("2/4" -> 2), or None."""
    for cells in page.evaluate(RUN_TABLE_ROWS_JS):
        if any(name in cell for cell in cells):
            done = next((cell.split("/")[0] for cell in cells if re.fullmatch(r"\d+/(\d+|\?)", cell)), None)
            return int(done) if done is not None else None
    return None


def colour_bar_bottoms(page) -> list[tuple[int, int, int]]:
    """The rendered colour at the bottom (the value 0 end) of every heatmap colour bar on the page, from a screenshot."""
    bottoms = []
    for chart in page.locator(".js-plotly-plot").filter(has=page.locator("rect.cbfill")).all():
        chart.scroll_into_view_if_needed()
        box = chart.locator("rect.cbfill").first.bounding_box()
        shot = page.screenshot(clip={"x": box["x"], "y": box["y"] + box["height"] - 4, "width": box["width"], "height": 3})
        pixels = Image.open(io.BytesIO(shot)).convert("RGB")
        bottoms.append(pixels.getpixel((pixels.width // 2, pixels.height // 2)))
    return bottoms


def select_radio(page, widget_label: str, option: str) -> None:
    radio = page.locator('[data-testid="stRadio"]').filter(has_text=widget_label)
    radio.get_by_text(option, exact=True).click()


def wait_for_selectbox_value(page, widget_label: str, expected: str, timeout_s: float = PAGE_TIMEOUT_MS / 1000) -> str:
    """Poll until the selectbox labelled `widget_label` shows a value containing `expected`."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stSelectbox"]').filter(has_text=widget_label).count():
            text = selectbox_text(page, widget_label)
            if expected in text:
                return text
        time.sleep(POLL_S)
    raise AssertionError(f"selectbox {widget_label!r} shows {text!r}, expected it to contain {expected!r}")


# ------------------------------------------------------------------ the flow
def test_classroom_flow_in_a_real_browser(server, page, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect

    timings = server.timings
    (SCREENSHOT_DIR / "failure.png").unlink(missing_ok=True)  # a stale one from an earlier failed run would mislead
    try:
        # 1 · Home renders: the title is visible.
        page.goto(server.url)
        expect(page.get_by_role("heading", name="ViT Classroom")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        timings["server start → Home title visible (s)"] = time.monotonic() - server.started_at
        timings["server start → /_stcore/health ok (s)"] = server.healthy_after_s
        expect(page.get_by_text("embedded synthetic dataset", exact=False).first).to_be_visible()
        expect(page.get_by_role("button", name="Train a ViT and a CNN on this data")).to_be_visible()
        wait_until_idle(page)
        assert_no_error_boxes(page, "Home")
        save_full_page(page, "home")

        # 1 · One click on Home trains the classroom ViT, then the homework CNN (queued behind it).
        page.get_by_role("button", name="Train a ViT and a CNN on this data").click()
        expect(page.locator('[data-testid="stProgress"]').filter(has_text="vit-classroom")).to_be_visible(timeout=PAGE_TIMEOUT_MS)

        # 2 · A second tab opened meanwhile (a new session, nothing chosen) shows the run that trains, not the queued CNN.
        watcher = page.context.new_page()
        watcher.set_default_timeout(PAGE_TIMEOUT_MS)
        watcher.goto(f"{server.url}/train")
        wait_for_selectbox_value(watcher, "watch run", "vit-classroom")
        watcher_progress = watcher.locator('[data-testid="stProgress"]').filter(has_text="vit-classroom")
        expect(watcher_progress).to_contain_text("running", timeout=TRAINING_TIMEOUT_MS)
        watcher_texts = {watcher_progress.inner_text()}

        # 3 · This tab's Train page: the recipe picker speaks plainly, and the live view changes by itself.
        go_to(page, "Train")
        wait_for_selectbox_value(page, "recipe", "Classroom ViT")
        progress = page.locator('[data-testid="stProgress"]').filter(has_text="vit-classroom")
        expect(progress).to_contain_text("running", timeout=TRAINING_TIMEOUT_MS)
        changes: list[tuple[float, tuple]] = []  # (time, signature) whenever anything in the live view changed
        chart_changes: list[float] = []  # times at which the charts' point counts changed
        point_counts: list[int] = []  # the largest trace's point count at each change
        overlay_points: list[int] = []  # the ViT's points in the "overlay several runs" chart, sampled while it trains
        table_epochs: list[int] = []  # the ViT's epochs in the "all runs" table, sampled while it trains
        last = None
        deadline = time.monotonic() + TRAINING_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            signature = live_signature(page)
            if signature != last:
                now = time.monotonic()
                if signature[1] and (last is None or not last[1] or max(signature[1]) != max(last[1])):
                    chart_changes.append(now)
                    point_counts.append(max(signature[1]))
                changes.append((now, signature))
                last = signature
            if "finished" in signature[0] or "failed" in signature[0]:
                break
            if "running" in signature[0]:  # before the run ends (which redraws the whole page anyway)
                overlay_points.append(page.evaluate(OVERLAY_POINTS_JS, "vit-classroom"))
                epochs_in_table = run_table_epochs(page, "vit-classroom")
                if epochs_in_table is not None:
                    table_epochs.append(epochs_in_table)
                if watcher_progress.count():
                    try:
                        watcher_texts.add(watcher_progress.first.inner_text(timeout=2_000))
                    except PlaywrightTimeoutError:  # the second tab redrew its page between count() and the read
                        pass
            time.sleep(POLL_S)
        assert "finished" in last[0], f"the ViT run did not finish: {last[0]}"
        assert len(changes) >= 2, f"the live view changed only {len(changes)} time(s) without a click: {changes}"
        progress_steps = [text for _, (text, _) in changes]
        assert len(set(progress_steps)) >= 2, f"the progress text barely moved: {progress_steps}"
        assert len(point_counts) >= 2 and max(point_counts) > min(point_counts), (
            f"the live charts never gained points while watching: {point_counts}"
        )
        assert len(chart_changes) >= 2, f"the live charts changed only {len(chart_changes)} time(s): {point_counts}"
        # The overlay chart and the run table follow the training run without a click (they used to stay at the
        # epoch they showed when the page opened).
        assert overlay_points and max(overlay_points) > overlay_points[0], (
            f"the overlay chart never gained an epoch while the ViT trained: {overlay_points}"
        )
        assert table_epochs and max(table_epochs) > table_epochs[0], (
            f"the run table never showed a newer epoch while the ViT trained: {table_epochs}"
        )
        # The second tab showed the ViT moving, and follows the CNN once the ViT is done and the CNN trains.
        assert len(watcher_texts) >= 2, f"the second tab's progress never moved: {watcher_texts}"
        chart_intervals = [later - earlier for earlier, later in zip(chart_changes, chart_changes[1:])]
        text_changes = [when for (when, (text, _)), previous in zip(changes[1:], changes) if text != previous[1][0]]
        text_intervals = [later - earlier for earlier, later in zip(text_changes, text_changes[1:])]
        timings["live chart update interval, median (s)"] = statistics.median(chart_intervals)
        timings["live chart update interval, mean (s)"] = (chart_changes[-1] - chart_changes[0]) / (len(chart_changes) - 1)
        timings["live chart update interval, min–max (s)"] = f"{min(chart_intervals):.2f}–{max(chart_intervals):.2f}"
        if text_intervals:
            timings["progress text update interval, median (s)"] = statistics.median(text_intervals)
        timings["live chart changes observed (loss-curve point count)"] = len(chart_changes)
        timings["chart points first → last"] = f"{min(point_counts)} → {max(point_counts)}"
        timings["overlay points / table epochs first → last while training"] = (
            f"{overlay_points[0]} → {max(overlay_points)} / {table_epochs[0]} → {max(table_epochs)}"
        )
        # The epoch chart holds all four epochs once the run is done.
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(c => (((c._fullLayout || {}).title || {}).text || '').includes('per epoch') "
            f"&& (c._fullData || []).some(t => t._length === {TRAIN_OVERRIDES['epochs']}))"
        )
        expect(watcher.locator('[data-testid="stProgress"]').filter(has_text="cnn-hw4")).to_contain_text(
            "finished", timeout=TRAINING_TIMEOUT_MS
        )
        assert_no_error_boxes(watcher, "Train (second tab)")
        watcher.close()
        # The checkpoint download button lives outside the live fragment and appears once the watched run is over.
        expect(page.get_by_role("button", name="Download checkpoint")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
        expect(page.get_by_text(re.compile(r"train vs val accuracy per epoch")).first).to_be_visible()
        assert_no_error_boxes(page, "Train")
        save_full_page(page, "train")

        # 4 · Attention: the ViT run, an uploaded 640×480 JPEG, the overlay appears.
        go_to(page, "Attention")
        wait_for_selectbox_value(page, "ViT run", "vit-classroom")
        select_radio(page, "Picture", "upload your own")
        file_input = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        expect(file_input).to_be_attached()
        wait_until_idle(page)
        jpeg_path = write_test_jpeg(tmp_path / "classroom-photo.jpg")
        overlay_column = page.locator('[data-testid="stColumn"]').filter(
            has=page.get_by_role("heading", name="Attention on the picture")
        )
        overlay_image = overlay_column.locator('[data-testid="stImage"] img')
        # Until a picture arrives, the answer for a validation picture stays on the page (said in its caption).
        expect(page.get_by_text("shown until you upload your own", exact=False)).to_be_visible()
        expect(overlay_image).to_be_visible()
        src_before = overlay_image.get_attribute("src")
        upload_started = time.monotonic()
        file_input.set_input_files(str(jpeg_path))
        expect(overlay_image).not_to_have_attribute("src", src_before, timeout=PAGE_TIMEOUT_MS)  # this upload's overlay
        expect(overlay_image).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        overlay_image.evaluate("img => img.decode()")  # resolves once the pixels are decoded
        timings["overlay latency after upload (s)"] = time.monotonic() - upload_started
        natural_width, natural_height = overlay_image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert natural_width > 0 and natural_height > 0, "the overlay image did not load"
        assert abs(natural_width / natural_height - 640 / 480) < 0.02, (
            f"the overlay is {natural_width}×{natural_height}, not the uploaded picture's 4:3 shape"
        )
        expect(page.get_by_role("heading", name=re.compile(r"^Prediction: "))).to_be_visible()
        expect(page.get_by_text("your upload")).to_be_visible()
        expect(page.get_by_text("only ever seen the embedded drawings", exact=False)).to_be_visible()
        # one probability row per class, the predicted class first; then unfold the layers x heads section:
        # grid, token matrix and rollout
        probability_rows = page.locator('[data-testid="stMarkdown"] table tbody tr')
        expect(probability_rows).to_have_count(5, timeout=PAGE_TIMEOUT_MS)
        predicted = page.get_by_role("heading", name=re.compile(r"^Prediction: ")).inner_text().removeprefix("Prediction: ")
        assert probability_rows.first.locator("td").first.inner_text().strip() == predicted.strip()
        wait_until_idle(page)
        page.get_by_text("Show every layer and head", exact=False).first.click()
        wait_until_idle(page)
        page.get_by_text("Replay this run's training, epoch by epoch", exact=False).first.click()  # unfold the replay
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
        # Every attention heat map (layers x heads, token x token, rollout; the epoch replay's logit lens and heads
        # below, unfolded) draws 0 as Inferno's black, not a theme colour.
        bottoms = colour_bar_bottoms(page)
        assert len(bottoms) == 5, f"expected five heat maps with a colour bar, found {len(bottoms)}"
        assert all(max(pixel) <= 40 for pixel in bottoms), f"the value 0 is not drawn dark: {bottoms}"
        # The same upload explained for the ViT and for the CNN, side by side: both overlays load.
        wait_until_idle(page)
        page.get_by_text("Compare with a CNN", exact=False).first.click()
        for caption in ("ViT · attention rollout", "CNN · Grad-CAM"):
            picture = page.locator('[data-testid="stImage"]').filter(has_text=caption).locator("img")
            expect(picture).to_be_visible(timeout=PAGE_TIMEOUT_MS)
            picture.evaluate("img => img.decode()")
            width, height = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert width > 0 and abs(width / height - 640 / 480) < 0.02, f"{caption}: the overlay is {width}×{height}"
        assert_no_error_boxes(page, "Attention")
        save_full_page(page, "attention")

        # 5 · Compare: the ViT and the CNN side by side, two confusion matrices.
        go_to(page, "Compare")
        wait_for_selectbox_value(page, "ViT run", "vit-classroom")
        wait_for_selectbox_value(page, "CNN run", "cnn-hw4")
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".filter(c => (c._fullData || []).some(t => t.type === 'heatmap')).length >= 2",
            timeout=PAGE_TIMEOUT_MS,
        )
        wait_until_idle(page)
        heatmap_titles = [
            re.sub(r"<[^>]+>", "", chart[0]["title"]) for chart in plotly_summary(page) if chart and any(trace["type"] == "heatmap" for trace in chart)
        ]
        assert any(title.startswith("ViT:") and "correct" in title for title in heatmap_titles), heatmap_titles
        assert any(title.startswith("CNN:") and "correct" in title for title in heatmap_titles), heatmap_titles
        heatmap_shapes = [(trace["rows"], trace["columns"]) for chart in plotly_summary(page) for trace in chart if trace["type"] == "heatmap"]
        assert heatmap_shapes == [(5, 5), (5, 5)], f"expected two 5×5 confusion matrices, got {heatmap_shapes}"
        expect(page.get_by_role("heading", name="Confusion matrices")).to_be_visible()
        # Clicking a cell of either matrix shows that cell's images: its pair in the picker and as many pictures as it counts.
        for index, kind in enumerate(("ViT", "CNN")):
            chart = page.locator(".js-plotly-plot").filter(has=page.locator(".heatmaplayer")).nth(index)
            counts = chart.evaluate("chart => chart._fullData.find(t => t.type === 'heatmap').z")
            classes = chart.evaluate("chart => chart._fullData.find(t => t.type === 'heatmap').x")
            shown_now = selectbox_text(page, "model · true class")
            true_index, predicted_index = max(
                ((row, column) for row in range(len(classes)) for column in range(len(classes))
                 if f"{kind} · {classes[row]} → {classes[column]}" not in shown_now),
                key=lambda cell: counts[cell[0]][cell[1]],
            )  # the fullest cell that is not already shown
            true_name, predicted_name = classes[true_index], classes[predicted_index]
            chart.scroll_into_view_if_needed()
            x, y = chart.evaluate(CELL_CENTRE_JS, [true_name, predicted_name])
            page.mouse.click(x, y)
            wait_for_selectbox_value(page, "model · true class", f"{kind} · {true_name} → {predicted_name}")
            expected = int(counts[true_index][predicted_index])
            expect(page.get_by_text(f"{expected} image(s); showing {min(expected, 24)}.")).to_be_visible()
            expect(page.locator('[data-testid="stImage"]')).to_have_count(min(expected, 24))
        wait_until_idle(page)
        assert_no_error_boxes(page, "Compare")
        save_full_page(page, "compare")

        # 6 · Inside the ViT: every step of the walkthrough on the classroom run, without an exception box.
        go_to(page, "Inside the ViT")
        wait_for_selectbox_value(page, "ViT run", "vit-classroom")
        for number in range(1, 8):
            expect(page.get_by_role("heading", level=2).filter(has_text=re.compile(rf"^{number} · "))).to_be_visible()
            wait_until_idle(page)
            assert_no_error_boxes(page, f"Inside the ViT, step {number}")
            assert f"step={number}" in page.url, page.url  # the address follows, for a teacher's link
            if number < 7:
                page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name=re.compile(r"^Prediction: "))).to_be_visible()

        # 7 · Attention lab: each button's result stays on the page when the other one is pressed.
        go_to(page, "Attention lab")
        page.get_by_role("button", name="Run equivalence check").click()
        agree = page.get_by_text("All variants agree", exact=False)
        expect(agree).to_be_visible()
        page.get_by_role("button", name="Time loop vs einsum vs fused").click()
        measured = page.get_by_text("Measured just now on this server", exact=False)
        expect(measured).to_be_visible()
        wait_until_idle(page)
        expect(agree).to_be_visible()
        page.get_by_role("button", name="Run equivalence check").click()
        wait_until_idle(page)
        expect(agree).to_be_visible()
        expect(measured).to_be_visible()
        assert_no_error_boxes(page, "Attention lab")

        assert not page.page_errors, f"JavaScript errors in the page: {page.page_errors}"
    except BaseException:
        try:
            save_full_page(page, "failure")
        except Exception:  # the page may be gone; the server log matters more
            pass
        print(f"\n[e2e] ---- streamlit server log (tail) ----\n{server.log_text()}")
        raise
    finally:
        for name, value in timings.items():
            print(f"[e2e] {name}: {value:.2f}" if isinstance(value, float) else f"[e2e] {name}: {value}")
