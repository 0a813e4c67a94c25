"""The protocol-level classroom load client: bench/streamlit_wire.py against a real server, and the Locust bench.

A real `streamlit run app/Home.py` serves a CLI-trained ViT run on 127.0.0.1. The wire client talks to it the way
a browser tab does (index page, XSRF cookie, websocket, protobuf BackMsg/ForwardMsg, multipart upload, /media), so
these tests fail if it stops being a faithful tab: an overlay that never arrives, an error box it cannot see, a
fragment that never reruns. bench/classroom_load.py monkey-patches the standard library with gevent when imported,
so it only ever runs here as a subprocess.
"""

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `bench` is a plain folder at the repo root

from bench import load  # noqa: E402
from bench.browser_support import start_streamlit, stop_streamlit  # noqa: E402
from bench.common import parse_last_json_line  # noqa: E402
from bench.streamlit_wire import StreamlitTab, WireError  # noqa: E402

OVERLAY_HEADING = load.OVERLAY_HEADING


@pytest.fixture(scope="module")
def served_run(tmp_path_factory):
    """(server url, finished ViT run id): a real server whose runs folder holds one short CLI-trained ViT."""
    pytest.importorskip("websocket")
    work = tmp_path_factory.mktemp("wire")
    env = {
        "VIT_CLASSROOM_RUNS": str(work / "runs"),
        "VIT_CLASSROOM_CACHE": str(work / "cache"),
        "VIT_CLASSROOM_SYNTH_PER_CLASS": "8",
        "VIT_CLASSROOM_DEVICE": "cpu",
    }
    run_id = load.prepare_finished_vit_run(work, env, load.parse_args(["--quick"]))
    server = start_streamlit(REPO_ROOT / "app" / "Home.py", work, env)
    try:
        yield server.url, run_id
    finally:
        stop_streamlit(server)


def jpeg_bytes(size=(640, 480), colour=(200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def attention_tab_ready_to_upload(url: str, run_id: str) -> StreamlitTab:
    tab = StreamlitTab(url, timeout_s=90)
    opened = tab.open("attention")
    assert opened.status == "FINISHED_SUCCESSFULLY" and opened.errors == [], opened.errors
    assert tab.session_id, "the server's new_session message names the session"
    assert tab.asset_bytes > 1_000_000, "a new tab downloads the app's JavaScript bundle (about 2 MB)"
    assert 0 < opened.assets_s < opened.seconds, "the scripts come before the first script run"
    picked = tab.choose("selectbox", "ViT run", run_id[-4:])  # drawn outside any fragment: the whole page reruns
    assert picked.status == "FINISHED_SUCCESSFULLY" and picked.errors == [], picked
    chosen = tab.choose("radio", "Picture", "upload your own")  # inside the picture fragment: only it reruns
    assert chosen.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY" and chosen.errors == [], chosen
    return tab


def test_upload_over_the_wire_returns_the_overlay_image(served_run):
    url, run_id = served_run
    tab = attention_tab_ready_to_upload(url, run_id)
    try:
        seen = []
        finished = tab.upload("JPEG, PNG", "red.jpg", jpeg_bytes(), until_image_under=OVERLAY_HEADING,
                              on_image=lambda element: seen.append(tab.fetch_image(element)))
        # The uploader sits in the picture fragment, so, as from a browser, the upload reruns only that fragment.
        assert finished.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY" and finished.errors == [], finished
        (overlay,) = seen
        assert overlay.size == (480, 360), "the overlay is the 640x480 upload shown 480 pixels wide"
        red, green, blue = overlay.convert("RGB").resize((1, 1)).getpixel((0, 0))
        assert red > green and red > blue, "the overlay is painted over the uploaded red picture"
        assert any(element.kind == "heading" and element.message.body.startswith("Prediction:")
                   for element in finished.elements), "the answer came with the overlay"
    finally:
        tab.close()


def test_an_error_box_is_seen_and_a_missing_overlay_is_an_error(served_run):
    url, run_id = served_run
    tab = attention_tab_ready_to_upload(url, run_id)
    try:
        finished = tab.upload("JPEG, PNG", "notes.jpg", b"these are lecture notes, not a photo", content_type="image/jpeg",
                              until_image_under=OVERLAY_HEADING, on_image=lambda element: None)
        assert any(error.startswith("error box: notes.jpg") for error in finished.errors), finished.errors
        assert f"no image appeared under {OVERLAY_HEADING!r}" in finished.errors
    finally:
        tab.close()


def test_unknown_widget_is_a_wire_error_naming_what_the_page_has(served_run):
    url, _ = served_run
    tab = StreamlitTab(url, timeout_s=90, fetch_assets=False)
    try:
        tab.open("attention")
        with pytest.raises(WireError, match="selectbox: ViT run"):
            tab.widget("selectbox", "no such widget")
        with pytest.raises(WireError, match="no option containing"):
            tab.choose("radio", "Picture", "a third way")
    finally:
        tab.close()


def test_train_page_fragments_rerun_on_their_timers(served_run):
    url, _ = served_run
    tab = StreamlitTab(url, timeout_s=90, fetch_assets=False)
    try:
        assert tab.open("train").errors == []
        assert tab.auto_reruns and all(interval > 0 for interval in tab.auto_reruns.values()), tab.auto_reruns
        import time

        rerun = tab.run_due_fragment(stop_at=time.monotonic() + 30)
        assert rerun is not None and rerun.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY", rerun
        assert tab.run_due_fragment(stop_at=time.monotonic() - 1) is None, "nothing is due before its timer"
    finally:
        tab.close()


def test_classroom_load_quick_prints_table_and_json_line():
    if importlib.util.find_spec("locust") is None:  # never import it here: it monkey-patches this process with gevent
        pytest.skip("locust is not installed (requirements-dev.txt)")
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "classroom_load.py"), "--quick"],
        capture_output=True, text=True, timeout=300, cwd=str(REPO_ROOT.parent), check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    record = parse_last_json_line(completed.stdout)
    assert record["bench"] == "classroom_load" and record["quick"] is True and record["users"] == [2]
    assert record["errors"] == 0, record["rounds"]
    (round_,) = record["rounds"]
    assert round_["overlays"] == 2 and round_["watchers"] == 1, round_
    assert 0.01 < round_["overlay_p50_s"] <= round_["overlay_p95_s"] == record["p95_s"] < 60
    assert 0.05 < round_["page_open_p95_s"] == record["page_open_p95_s"] < 120
    assert round_["train_fragment_reruns"] >= 1, "the watcher's live curves reran on their timer"
    assert all(width == 480 for width, _ in round_["overlay_sizes"]), round_["overlay_sizes"]
    assert round_["peak_server_rss_mb"] > 100
    assert round_["upload_phase"]["server_cpu_s"] > 0
    assert 0 < round_["page_assets_p95_s"] < round_["page_open_p95_s"] * 1.01
    assert round_["open_phase"]["server_cpu_s"] > 0 and round_["open_phase"]["client_cpu_s"] > 0
    stats = round_["locust_stats"]
    assert stats["upload -> overlay"]["requests"] == 2 and stats["upload -> overlay"]["failures"] == 0, stats
    assert record["teacher"]["fragment_reruns"] >= 1 and record["teacher"]["errors"] == []
    assert record["training_status_after"] == "running"
    assert record["server_log_error_lines"] == [], record["server_log_error_lines"]
    table = completed.stdout.strip().splitlines()[:-1]
    assert any(line.split()[:3] == ["2", "1", "0"] for line in table), table
    json.dumps(record)  # the whole record is plain JSON
