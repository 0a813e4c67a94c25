"""A real HTTP file server on 127.0.0.1 for tests, with scripted failures.

Usage::

    with LoopbackFileServer(folder) as server:
        server.fail_with_500("a.jpg", times=2)      # first two GETs answer 500
        server.cut_off_midway("b.jpg", times=1)     # first GET sends half the bytes, then hangs up
        url = server.url("a.jpg")
        ...
        server.requests                            # what the server saw: list[SeenRequest]

The server is `http.server.ThreadingHTTPServer` on an ephemeral port, running in a
background thread; leaving the `with` block shuts it down and joins the thread.
It understands `Range: bytes=a-` and `Range: bytes=a-b` (answers 206 with
Content-Range), unless `ignore_ranges` is set (then it always answers 200).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

RANGE_PATTERN = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass(frozen=True)
class SeenRequest:
    """One GET the server answered."""

    path: str  # file name relative to the served folder, e.g. "000000532481.jpg"
    range_header: str | None  # the Range header as sent by the client, None if absent
    status: int  # the status code the server answered with
    bytes_sent: int  # body bytes the server sends (logged before answering, so tests never race the log)


class LoopbackFileServer:
    """Serve the files of one folder over HTTP on 127.0.0.1, with scripted faults."""

    def __init__(self, root: Path, ignore_ranges: bool = False):
        self.root = Path(root)  # folder whose files are served
        self.ignore_ranges = ignore_ranges  # True: behave like a server without Range support
        self.requests: list[SeenRequest] = []  # log of answered GETs, in order
        self._faults: dict[str, list[str]] = {}  # file name -> queue of faults for the next GETs
        self._lock = threading.Lock()  # guards requests and _faults (handler threads)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- scripting faults -------------------------------------------------
    def _add_fault(self, name: str, fault: str, times: int) -> None:
        with self._lock:
            self._faults.setdefault(name, []).extend([fault] * times)

    def fail_with_500(self, name: str, times: int = 1) -> None:
        """The next `times` GETs of `name` answer 500 Internal Server Error."""
        self._add_fault(name, "500", times)

    def cut_off_midway(self, name: str, times: int = 1) -> None:
        """The next `times` GETs of `name` announce the full length, send half, then close."""
        self._add_fault(name, "cut", times)

    def stall_midway(self, name: str, seconds: float, times: int = 1) -> None:
        """The next `times` GETs of `name` send half the bytes, then go silent for `seconds`."""
        self._add_fault(name, f"stall:{seconds}", times)

    def _next_fault(self, name: str) -> str | None:
        with self._lock:
            queue = self._faults.get(name)
            return queue.pop(0) if queue else None

    def _log(self, seen: SeenRequest) -> None:
        with self._lock:
            self.requests.append(seen)

    def requests_for(self, name: str) -> list[SeenRequest]:
        """The logged GETs of one file."""
        with self._lock:
            return [seen for seen in self.requests if seen.path == name]

    # ----- lifecycle --------------------------------------------------------
    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port> (no trailing slash)."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def start(self) -> "LoopbackFileServer":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.02,),  # short poll interval: shutdown() returns quickly
            name="loopback-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> "LoopbackFileServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _make_handler(owner: LoopbackFileServer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `owner` (its folder, faults and log)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: a cut-off cannot leak into the next

        def log_message(self, format, *args):  # keep pytest output quiet
            pass

        def do_GET(self):
            name = unquote(urlsplit(self.path).path).lstrip("/")
            range_header = self.headers.get("Range")
            file_path = (owner.root / name).resolve()
            if owner.root.resolve() not in file_path.parents or not file_path.is_file():
                self._answer_error(404, name, range_header)
                return
            fault = owner._next_fault(name)
            if fault == "500":
                self._answer_error(500, name, range_header)
                return

            data = file_path.read_bytes()
            start, end, status = 0, len(data) - 1, 200
            match = RANGE_PATTERN.fullmatch(range_header.strip()) if range_header else None
            if match and not owner.ignore_ranges:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
                if start >= len(data):
                    owner._log(SeenRequest(name, range_header, 416, 0))
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                end = min(end, len(data) - 1)
                status = 206
            body = data[start : end + 1]
            sent = len(body) // 2 if fault else len(body)
            owner._log(SeenRequest(name, range_header, status, sent))  # before answering: no race with the client

            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "none" if owner.ignore_ranges else "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()

            if fault == "cut" or (fault and fault.startswith("stall:")):
                half = body[: len(body) // 2]
                self.wfile.write(half)
                self.wfile.flush()
                if fault.startswith("stall:"):
                    time.sleep(float(fault.split(":", 1)[1]))
                self.close_connection = True
                return
            self.wfile.write(body)

        def _answer_error(self, status: int, name: str, range_header: str | None) -> None:
            body = f"error {status}".encode()
            owner._log(SeenRequest(name, range_header, status, len(body)))  # before answering: no race
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
