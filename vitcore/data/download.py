"""Download one file over HTTP(S), resumably, with retries.

How it works (the classic "download manager" recipe):

1. Bytes are streamed into ``<dest>.part``, never straight into ``dest``.
2. If a ``.part`` file is already there (an earlier run or attempt was cut off),
   we ask the server for the rest only, with an HTTP ``Range: bytes=<have>-`` header.
   - ``206 Partial Content`` -> the server honoured the range: append.
   - ``200 OK``              -> the server ignored the range: start again from byte 0.
3. Connection errors, timeouts, short bodies (fewer bytes than Content-Length) and
   server errors (5xx, 408, 429) are retried with exponential backoff; the ``.part``
   file is kept so the next attempt resumes.  Other 4xx answers (404, 403...) fail
   at once, since asking again will not help.
4. When every byte has arrived, ``.part`` is renamed to ``dest`` atomically
   (``os.replace``), so ``dest`` is either absent or complete, never half-written.

A ``dest`` that already exists is taken as complete and is not downloaded again.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Callable

import requests

from vitcore.errors import CocoBuildError

CHUNK_BYTES = 64 * 1024  # bytes read from the socket per write
RETRYABLE_STATUS = {408, 429}  # 4xx answers that mean "try again later"; every 5xx is retryable too
CONTENT_RANGE_PATTERN = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")  # "bytes 100-199/200"

ProgressCallback = Callable[[int, int, str], None]  # progress(done_bytes, total_bytes, message)


class _RetryableProblem(Exception):
    """An attempt failed in a way that another attempt may fix (the reason is the message)."""


def _partial_file(dest: Path) -> Path:
    """Where the bytes of `dest` are collected while downloading: `<dest>.part`."""
    return dest.with_suffix(dest.suffix + ".part")


def _expected_total(response: requests.Response, offset: int) -> int | None:
    """Full file size announced by the server, or None when it did not say."""
    if response.status_code == 206:
        match = CONTENT_RANGE_PATTERN.fullmatch(response.headers.get("Content-Range", "").strip())
        if match and match.group(3) != "*":
            return int(match.group(3))
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return offset + int(length) if response.status_code == 206 else int(length)


def _range_start(response: requests.Response) -> int | None:
    """First byte of a 206 answer according to its Content-Range header."""
    match = CONTENT_RANGE_PATTERN.fullmatch(response.headers.get("Content-Range", "").strip())
    return int(match.group(1)) if match else None


def _one_attempt(
    url: str,
    part: Path,
    session: requests.Session,
    timeout: float,
    progress: ProgressCallback | None,
) -> None:
    """Fetch the missing bytes of `url` into `part`; raise _RetryableProblem or CocoBuildError."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # byte counts must match Content-Length
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"

    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        status = response.status_code
        if status == 416 and offset > 0:
            # Our partial file does not fit the server's file (changed upstream?): start over.
            part.unlink(missing_ok=True)
            raise _RetryableProblem("server refused to resume (HTTP 416), restarting from byte 0")
        if status >= 500 or status in RETRYABLE_STATUS:
            raise _RetryableProblem(f"HTTP {status} {response.reason}")
        if status >= 400:
            raise CocoBuildError(f"could not download {url}: HTTP {status} {response.reason} (not retried)")
        if status not in (200, 206):
            raise CocoBuildError(f"could not download {url}: unexpected HTTP {status} {response.reason}")

        if status == 206:
            if _range_start(response) != offset:
                part.unlink(missing_ok=True)
                raise _RetryableProblem("server sent a byte range we did not ask for, restarting from byte 0")
            mode = "ab"  # the server sends the rest: append to what we have
        else:
            offset = 0  # 200: the server ignored our range (or we sent none): start from byte 0
            mode = "wb"
        total = _expected_total(response, offset)

        done = offset
        with open(part, mode) as handle:
            for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                handle.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total or 0, url)

    if total is not None and done != total:
        raise _RetryableProblem(f"incomplete read ({done} of {total} bytes)")


def download_file(
    url: str,
    dest: Path,
    retries: int = 3,
    timeout: float = 10.0,
    backoff: float = 0.2,
    session: requests.Session | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download `url` to `dest` (resuming `<dest>.part`); return `dest`.

    retries: extra attempts after the first one (so at most retries + 1 requests).
    timeout: seconds to wait for the connection and for each read from the socket.
    backoff: seconds slept before the 2nd attempt, doubled before each later one.
    session: a requests.Session to reuse (connection pooling); a fresh one if None.
    progress: progress(done_bytes, total_bytes, url) after each chunk; total 0 if unknown.

    Raises CocoBuildError when the file cannot be fetched.
    """
    dest = Path(dest)
    if dest.is_file():
        return dest  # finished by an earlier run
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _partial_file(dest)

    own_session = session is None
    http = requests.Session() if own_session else session
    attempts = max(1, int(retries) + 1)
    reason = "no attempt was made"
    try:
        for attempt in range(1, attempts + 1):
            try:
                _one_attempt(url, part, http, timeout, progress)
                os.replace(part, dest)  # atomic: dest is complete or absent
                return dest
            except _RetryableProblem as problem:
                reason = str(problem)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                reason = f"{type(error).__name__}: {error}"
            except requests.RequestException as error:  # bad URL, too many redirects...: retrying cannot help
                raise CocoBuildError(f"could not download {url}: {error}") from error
            if attempt < attempts:
                time.sleep(backoff * (2 ** (attempt - 1)))
    finally:
        if own_session:
            http.close()
    raise CocoBuildError(f"could not download {url} after {attempts} attempts: {reason}")
