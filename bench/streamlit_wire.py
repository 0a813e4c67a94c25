"""A Streamlit tab without a browser: it speaks the app's own websocket protocol and upload endpoint.

What a browser tab does, minus the drawing, using the protobuf messages that ship with streamlit
(`streamlit.proto`):
  1. GET the page (index.html) and the scripts and style sheets it names, as a new student's browser does
     (six at a time, a browser's number of connections per server for HTTP/1.1);
  2. GET /_stcore/health, which sets the XSRF cookie;
  3. open the websocket /_stcore/stream with the subprotocols ["streamlit", <xsrf token>] and the cookie;
  4. send a BackMsg `rerun_script` (ClientState: page name, widget states) and read ForwardMsgs until
     `script_finished`: deltas are elements and blocks at a `delta_path`, `auto_rerun` asks the tab to rerun a
     fragment every so often (what `st.fragment(run_every=...)` becomes on the wire);
  5. an upload asks for file URLs (BackMsg `file_urls_request` -> ForwardMsg `file_urls_response`), PUTs the
     bytes to the upload URL as multipart form data with the X-Xsrftoken header, then reruns with the file
     uploader's FileUploaderState naming the uploaded file;
  6. an image element's URL is fetched from the server's /media endpoint and decoded, as an <img> would be.

Everything is synchronous and blocking (websocket-client and requests), so it runs unchanged in plain
threads or in gevent greenlets (Locust's users, bench/classroom_load.py). Nothing here imports Streamlit's
runtime, only its generated protobuf modules.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

XSRF_COOKIE = "_streamlit_xsrf"  # the cookie GET /_stcore/health sets when XSRF protection is on
ASSET_PATTERN = re.compile(r'(?:src|href)="(\./static/[^"]+\.(?:js|css))"')  # index.html's scripts and style sheets
PARALLEL_ASSET_REQUESTS = 6  # browsers open at most six HTTP/1.1 connections to one server and fetch in parallel
WIDGET_KINDS = ("selectbox", "radio", "file_uploader", "button", "slider", "checkbox", "toggle", "select_slider")


class WireError(RuntimeError):
    """Something a real tab would have shown as a failure (a timeout, an HTTP error, an exception box)."""


@dataclass
class Widget:
    """A widget the server drew: its id (what widget states are keyed by), kind and label."""

    id: str  # the widget id the server assigned (send values under it)
    kind: str  # the Element oneof name: "selectbox", "radio", "file_uploader", "button", ...
    label: str  # the label shown next to it
    options: list[str] = field(default_factory=list)  # the shown option texts of a selectbox or radio
    fragment_id: str = ""  # the st.fragment it was drawn in ("" = none): changing it reruns only that fragment


@dataclass
class Element:
    """One element of the page at its delta path."""

    path: tuple[int, ...]  # delta_path: the element's place in the page's tree of blocks
    kind: str  # the Element oneof name ("markdown", "heading", "imgs", "exception", "alert", ...)
    message: Any  # the element's own protobuf message (e.g. streamlit.proto.Image_pb2.ImageList for "imgs")


@dataclass
class RunResult:
    """What one script run (or fragment run) sent."""

    status: str  # the ScriptFinishedStatus name, e.g. "FINISHED_SUCCESSFULLY"
    seconds: float  # from sending the rerun to script_finished
    elements: list[Element]  # every new element, in arrival order
    errors: list[str]  # texts of exception and error-alert elements (empty when the page is clean)
    assets_s: float = 0.0  # open() only: index page, scripts, style sheets and health check, before the websocket


def _protos():
    """streamlit's generated protobuf modules (imported late: only the message classes, not the runtime)."""
    from streamlit.proto import BackMsg_pb2, ClientState_pb2, Common_pb2, ForwardMsg_pb2, WidgetStates_pb2

    return BackMsg_pb2, ClientState_pb2, Common_pb2, ForwardMsg_pb2, WidgetStates_pb2


class StreamlitTab:
    """One browser tab's conversation with a Streamlit server. Not thread-safe: one user drives one tab."""

    def __init__(self, base_url: str, timeout_s: float = 60.0, fetch_assets: bool = True):
        import requests

        self.base_url = base_url.rstrip("/")  # e.g. http://127.0.0.1:8501
        self.timeout_s = timeout_s  # any one wait (a script run, an HTTP request) gives up after this
        self.fetch_assets = fetch_assets  # download index.html's scripts and style sheets on open, like a new browser
        self.http = requests.Session()  # keeps the XSRF cookie
        # One connection per request. Reusing a keep-alive connection between requests and the server's uvicorn
        # on loopback costs about 44 ms per request (the server's small writes wait for the client's delayed ACK):
        # a client-side artifact that would add 2.6 s to the 60 script and style-sheet requests of a page open.
        self.http.headers["Connection"] = "close"
        self.socket = None  # the websocket, once open
        self.session_id = ""  # the server's id for this tab's session (from new_session)
        self.page_name = ""  # the page this tab shows (url path, e.g. "attention")
        self.widgets: dict[str, Widget] = {}  # widget id -> widget, from every run so far
        self.widget_states: dict[str, Any] = {}  # widget id -> WidgetState this tab sends on every rerun
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval in seconds (st.fragment(run_every=...))
        self.next_due: dict[str, float] = {}  # fragment id -> monotonic time its next auto rerun is due
        self.asset_bytes = 0  # bytes of scripts and style sheets fetched on open

    # ------------------------------------------------------------------ connection
    def open(self, page_name: str = "") -> RunResult:
        """Load the page as a new tab does and wait for its first script run."""
        import websocket

        self.page_name = page_name
        started = time.monotonic()
        index = self.http.get(f"{self.base_url}/{page_name}", timeout=self.timeout_s)
        index.raise_for_status()
        if self.fetch_assets:
            assets = sorted(set(ASSET_PATTERN.findall(index.text)))
            with ThreadPoolExecutor(max_workers=PARALLEL_ASSET_REQUESTS) as pool:  # greenlets under gevent
                self.asset_bytes += sum(pool.map(self._fetch_asset, assets))
        self.http.get(f"{self.base_url}/_stcore/health", timeout=self.timeout_s).raise_for_status()
        assets_s = time.monotonic() - started
        xsrf = self.http.cookies.get(XSRF_COOKIE, "")
        cookie = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        self.socket = websocket.create_connection(
            self.base_url.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocol=None,
            subprotocols=["streamlit", xsrf] if xsrf else ["streamlit"],
            cookie=cookie or None,
            origin=self.base_url,
            timeout=self.timeout_s,
        )
        result = self.rerun()
        result.seconds = time.monotonic() - started
        result.assets_s = assets_s
        return result

    def _fetch_asset(self, asset: str) -> int:
        """GET one script or style sheet that index.html names; its size in bytes."""
        response = self.http.get(urljoin(f"{self.base_url}/", asset), timeout=self.timeout_s)
        response.raise_for_status()
        return len(response.content)

    def close(self) -> None:
        if self.socket is not None:
            try:
                self.socket.close()
            finally:
                self.socket = None
        self.http.close()

    # ------------------------------------------------------------------ messages
    def _send(self, back_msg) -> None:
        import websocket

        self.socket.send(back_msg.SerializeToString(), opcode=websocket.ABNF.OPCODE_BINARY)

    def _receive(self, deadline: float):
        """The next ForwardMsg, or None when `deadline` (monotonic seconds) passes first."""
        import websocket

        _, _, _, ForwardMsg_pb2, _ = _protos()
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.socket.settimeout(left)
        try:
            payload = self.socket.recv()
        except websocket.WebSocketTimeoutException:
            return None
        message = ForwardMsg_pb2.ForwardMsg()
        message.ParseFromString(payload if isinstance(payload, bytes) else payload.encode())
        return message

    def _client_state(self, fragment_id: str = "", auto: bool = False):
        _, ClientState_pb2, _, _, WidgetStates_pb2 = _protos()
        state = ClientState_pb2.ClientState(page_name=self.page_name, fragment_id=fragment_id, is_auto_rerun=auto)
        state.widget_states.widgets.extend(self.widget_states.values())
        return state

    def rerun(self, fragment_id: str = "", until_image_under: str | None = None, on_image=None,
              auto: bool = False) -> RunResult:
        """Send a rerun (of the page, or of one fragment) and read until script_finished.

        As in the frontend, a widget drawn inside a fragment reruns only that fragment (`fragment_id`), and a
        fragment's timer sends `auto=True`.

        `until_image_under`: a heading's text; the first new image element in the same block as that heading is
        passed to `on_image(element)` the moment it arrives (before the run finishes), as a browser shows it.
        """
        BackMsg_pb2, _, _, _, _ = _protos()
        started = time.monotonic()
        self._send(BackMsg_pb2.BackMsg(rerun_script=self._client_state(fragment_id, auto)))
        # Trigger values (a button press) are sent once, like the frontend does.
        self.widget_states = {key: value for key, value in self.widget_states.items() if not value.HasField("trigger_value")}
        return self._read_run(started, until_image_under, on_image)

    def _read_run(self, started: float, until_image_under: str | None = None, on_image=None) -> RunResult:
        _, _, _, ForwardMsg_pb2, _ = _protos()
        deadline = started + self.timeout_s
        elements: list[Element] = []
        errors: list[str] = []
        heading_block: tuple[int, ...] | None = None
        image_seen = until_image_under is None
        while True:
            message = self._receive(deadline)
            if message is None:
                raise WireError(f"no script_finished within {self.timeout_s:.0f} s on page {self.page_name!r}")
            kind = message.WhichOneof("type")
            if kind == "new_session":
                self.session_id = message.new_session.initialize.session_id or self.session_id
                if not message.metadata.run.fragment_ids:  # a full run: its fragments ask for their auto reruns again
                    self.auto_reruns.clear()
                    self.next_due.clear()
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = self._record_element(tuple(message.metadata.delta_path), message.delta.new_element,
                                               message.delta.fragment_id)
                elements.append(element)
                if element.kind == "exception":
                    errors.append(f"exception: {element.message.message[:200]}")
                elif element.kind == "alert" and element.message.format == element.message.ERROR:
                    errors.append(f"error box: {element.message.body[:200]}")
                elif element.kind == "heading" and until_image_under and until_image_under in element.message.body:
                    heading_block = element.path[:-1]
                elif (element.kind == "imgs" and not image_seen and heading_block is not None
                      and element.path[:len(heading_block)] == heading_block):
                    image_seen = True
                    on_image(element)
            elif kind == "auto_rerun":
                interval = float(message.auto_rerun.interval)
                self.auto_reruns[message.auto_rerun.fragment_id] = interval
                self.next_due.setdefault(message.auto_rerun.fragment_id, time.monotonic() + interval)
            elif kind == "stop_auto_rerun":
                for fragment_id in message.stop_auto_rerun.fragment_ids:
                    self.auto_reruns.pop(fragment_id, None)
                    self.next_due.pop(fragment_id, None)
            elif kind == "script_finished":
                status = ForwardMsg_pb2.ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)
                if status == "FINISHED_EARLY_FOR_RERUN":
                    continue  # another run follows at once (a widget callback or st.rerun): keep reading
                if not image_seen:
                    errors.append(f"no image appeared under {until_image_under!r}")
                return RunResult(status, time.monotonic() - started, elements, errors)

    def _record_element(self, path: tuple[int, ...], new_element, fragment_id: str) -> Element:
        kind = new_element.WhichOneof("type")
        message = getattr(new_element, kind)
        if kind in WIDGET_KINDS or kind == "button_group":
            widget_id = getattr(message, "id", "")
            if widget_id:
                options = [str(option) for option in getattr(message, "options", [])]
                self.widgets[widget_id] = Widget(widget_id, kind, getattr(message, "label", ""), options, fragment_id)
        return Element(path, kind, message)

    # ------------------------------------------------------------------ widgets
    def widget(self, kind: str, label_contains: str) -> Widget:
        """The newest widget of this kind whose label contains the text (a WireError when there is none)."""
        found = [widget for widget in self.widgets.values() if widget.kind == kind and label_contains in widget.label]
        if not found:
            labels = sorted(f"{widget.kind}: {widget.label}" for widget in self.widgets.values())
            raise WireError(f"no {kind} labelled {label_contains!r} on {self.page_name!r}; widgets seen: {labels}")
        return found[-1]

    def choose(self, kind: str, label_contains: str, option_contains: str, **rerun_options) -> RunResult:
        """Pick the first option containing `option_contains` in a selectbox or radio, and rerun."""
        _, _, _, _, WidgetStates_pb2 = _protos()
        widget = self.widget(kind, label_contains)
        matches = [option for option in widget.options if option_contains in option]
        if not matches:
            raise WireError(f"{kind} {widget.label!r} has no option containing {option_contains!r}: {widget.options}")
        self.widget_states[widget.id] = WidgetStates_pb2.WidgetState(id=widget.id, string_value=matches[0])
        return self.rerun(fragment_id=widget.fragment_id, **rerun_options)

    def press(self, label_contains: str) -> RunResult:
        """Press a button (a trigger value, sent once) and rerun."""
        _, _, _, _, WidgetStates_pb2 = _protos()
        widget = self.widget("button", label_contains)
        self.widget_states[widget.id] = WidgetStates_pb2.WidgetState(id=widget.id, trigger_value=True)
        return self.rerun(fragment_id=widget.fragment_id)

    def upload(self, label_contains: str, name: str, data: bytes, content_type: str = "image/jpeg",
               until_image_under: str | None = None, on_image=None) -> RunResult:
        """Upload one file through a file uploader, exactly as the frontend does, and read the rerun it causes."""
        BackMsg_pb2, _, Common_pb2, _, WidgetStates_pb2 = _protos()
        widget = self.widget("file_uploader", label_contains)
        started = time.monotonic()
        request_id = uuid.uuid4().hex
        self._send(BackMsg_pb2.BackMsg(file_urls_request=Common_pb2.FileURLsRequest(
            request_id=request_id, file_names=[name], session_id=self.session_id)))
        deadline = started + self.timeout_s
        urls = None
        while urls is None:
            message = self._receive(deadline)
            if message is None:
                raise WireError(f"no file_urls_response within {self.timeout_s:.0f} s")
            if message.WhichOneof("type") == "file_urls_response" and message.file_urls_response.response_id == request_id:
                if message.file_urls_response.error_msg:
                    raise WireError(f"upload refused: {message.file_urls_response.error_msg}")
                urls = message.file_urls_response.file_urls[0]
        response = self.http.put(
            urljoin(f"{self.base_url}/", urls.upload_url.lstrip("/")),
            files={"file": (name, data, content_type)},
            headers={"X-Xsrftoken": self.http.cookies.get(XSRF_COOKIE, "")},
            timeout=self.timeout_s,
        )
        if response.status_code >= 300:
            raise WireError(f"upload PUT answered {response.status_code}: {response.text[:200]}")
        info = Common_pb2.UploadedFileInfo(file_id=urls.file_id, name=name, size=len(data), file_urls=urls)
        self.widget_states[widget.id] = WidgetStates_pb2.WidgetState(
            id=widget.id, file_uploader_state_value=Common_pb2.FileUploaderState(uploaded_file_info=[info]))
        self._send(BackMsg_pb2.BackMsg(rerun_script=self._client_state(widget.fragment_id, auto=False)))
        return self._read_run(started, until_image_under, on_image)

    def fetch_image(self, element: Element):
        """Download an image element's first picture from the server and decode it (a PIL image)."""
        from PIL import Image

        url = element.message.imgs[0].url
        response = self.http.get(urljoin(f"{self.base_url}/", url.lstrip("/")), timeout=self.timeout_s)
        response.raise_for_status()
        picture = Image.open(io.BytesIO(response.content))
        picture.load()
        return picture

    # ------------------------------------------------------------------ live pages
    def run_due_fragment(self, stop_at: float) -> RunResult | None:
        """Wait for the auto-rerunning fragment due soonest and rerun it, as the frontend's timer would.

        Returns None when no fragment auto-reruns or the next one is due after `stop_at` (monotonic seconds).
        """
        if not self.next_due:
            return None
        fragment_id = min(self.next_due, key=self.next_due.get)
        due_at = self.next_due[fragment_id]
        if due_at > stop_at:
            return None
        time.sleep(max(0.0, due_at - time.monotonic()))
        self.next_due[fragment_id] = time.monotonic() + self.auto_reruns[fragment_id]
        return self.rerun(fragment_id=fragment_id, auto=True)
