"""A real `streamlit run` server and a real headless Chromium, for the browser tests, benchmarks and screenshots.

Nothing here is a fake: the server is the same command a teacher types, on a free
port of 127.0.0.1, and the browser is the Debian Chromium binary driven by
Playwright. The callers (tests/test_e2e_browser.py, bench/load.py,
bench/dashboard_latency.py, docs/make_screenshots.py) only describe what a user
clicks and sees. It lives in bench/ so that tests and tools import it alike.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding app/ and vitcore/
CHROMIUM_CANDIDATES = ("/usr/bin/chromium",)  # the Debian package's binary; `chromium` on PATH is tried too
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # flags that keep Chromium quiet and offline inside a container
REQUIRE_BROWSER_ENV = "VIT_CLASSROOM_REQUIRE_BROWSER"  # "1" (set by CI) turns a missing browser into a failure


class BrowserUnavailableError(RuntimeError):
    """Chromium or Playwright is missing on this machine."""


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None when none is installed."""
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def browser_required() -> bool:
    """True when the environment demands the browser test runs (CI), so a missing browser must fail."""
    return os.environ.get(REQUIRE_BROWSER_ENV, "").strip() == "1"


def chromium_or_skip(purpose: str) -> str:
    """The system Chromium's path; skip the test (or fail when VIT_CLASSROOM_REQUIRE_BROWSER=1) without it."""
    import pytest

    path = find_chromium()
    problem = None
    if path is None:
        problem = "Chromium is not installed (/usr/bin/chromium or `chromium` on PATH)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is not installed"
    if problem is not None:
        if browser_required():
            pytest.fail(f"{problem}, but VIT_CLASSROOM_REQUIRE_BROWSER=1 requires the browser test to run")
        pytest.skip(f"{problem}; {purpose} needs it")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class StreamlitServer:
    """A running `streamlit run app/Home.py` process and where its output goes."""

    process: subprocess.Popen  # the server process (its own process group)
    port: int  # TCP port on 127.0.0.1
    log_path: Path  # stdout + stderr of the server
    started_at: float  # time.monotonic() when the process was spawned
    healthy_after_s: float = 0.0  # seconds from spawn until /_stcore/health answered "ok"
    timings: dict = field(default_factory=dict)  # measured numbers the test fills in and prints

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self, last_chars: int = 20_000) -> str:
        """The tail of the server log (for failure messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return text[-last_chars:]


def start_streamlit(app_path: Path, work_dir: Path, env_overrides: dict[str, str], timeout_s: float = 90.0) -> StreamlitServer:
    """Spawn `python -m streamlit run <app_path>` on a free port and wait until /_stcore/health says ok.

    Raises RuntimeError (with the server log) when the process dies or never gets healthy.
    """
    port = free_port()
    log_path = work_dir / "streamlit-server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
    ]
    env = dict(os.environ)
    env.update(env_overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    log_file = open(log_path, "wb")  # closed by stop_streamlit (the child keeps its own handle)
    started_at = time.monotonic()
    process = subprocess.Popen(
        command, cwd=str(REPO_ROOT), env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    log_file.close()
    server = StreamlitServer(process=process, port=port, log_path=log_path, started_at=started_at)
    deadline = started_at + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode} before it was healthy:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    server.healthy_after_s = time.monotonic() - started_at
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    stop_streamlit(server)
    raise RuntimeError(f"streamlit was not healthy after {timeout_s:.0f} s:\n{server.log_text()}")


def stop_streamlit(server: StreamlitServer, timeout_s: float = 20.0) -> int | None:
    """Terminate the server (SIGTERM, then SIGKILL after `timeout_s`) and wait for it; returns its exit code."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
    return process.returncode


def launch_chromium(playwright, executable_path: str):
    """Headless Chromium from the system package (Playwright's own download is not available offline)."""
    return playwright.chromium.launch(executable_path=executable_path, headless=True, args=list(CHROMIUM_ARGS))


# ------------------------------------------------------------------ page helpers (Playwright's sync API)
PAGE_TIMEOUT_MS = 90_000  # upper bound for one page to render on a busy machine
SELECTBOX_TEXT_JS = "box => box.textContent + ' ' + Array.from(box.querySelectorAll('input')).map(input => input.value).join(' ')"
CONTENT_HEIGHT_JS = """() => Math.max(document.documentElement.scrollHeight,
    ...['stMain', 'stAppViewContainer', 'stMainBlockContainer'].map(id => {
        const node = document.querySelector(`[data-testid="${id}"]`); return node ? node.scrollHeight : 0; }))"""


def wait_until_idle(page, timeout_ms: float = PAGE_TIMEOUT_MS) -> None:
    """Wait until Streamlit's "Running…" status widget is gone (the script run has finished)."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def go_to(page, title: str, heading: str | None = None) -> None:
    """Click page `title` in the sidebar navigation (same browser session, like a user) and wait for its heading
    (the page's title when `heading` is None; Home's heading is "ViT Classroom")."""
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has=page.get_by_text(title, exact=True))
    link.click()
    page.get_by_role("heading", level=1).filter(has_text=heading or title).wait_for()


def selectbox_text(page, widget_label: str) -> str:
    """Label and shown value of the selectbox labelled `widget_label` (the value lives in a combobox <input>)."""
    return page.locator('[data-testid="stSelectbox"]').filter(has_text=widget_label).first.evaluate(SELECTBOX_TEXT_JS)


def screenshot_whole_page(page, path: Path, width: int, min_height: int, max_height: int = 12_000) -> Path:
    """A PNG of the whole page, at most `max_height` pixels tall.

    Streamlit scrolls inside a container, so a plain full-page screenshot shows only the window: the window is
    grown until the content's height stops changing (charts lay themselves out again on a resize), then put back.
    """
    content_height = page.evaluate(CONTENT_HEIGHT_JS)
    for _ in range(4):
        page.set_viewport_size({"width": width, "height": min(max(int(content_height) + 40, min_height), max_height)})
        page.wait_for_timeout(500)
        new_height = page.evaluate(CONTENT_HEIGHT_JS)
        if new_height == content_height:
            break
        content_height = new_height
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": min_height})
    return path
