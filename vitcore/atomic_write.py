"""All-or-nothing file writes: a reader sees the old file or the new one, never half of one.

The bytes go to a temporary file in the same folder, are flushed and fsynced,
and the temporary file is then renamed over the target (`os.replace` is atomic
on POSIX and Windows). On any error, e.g. a full disk, the temporary file is
removed and the previous target is left untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None], mode: int = 0o644) -> Path:
    """Call `write(binary_stream)` into a temporary file, then move it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(file_descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary_name, mode)  # mkstemp creates 0600; these files are not secrets
        os.replace(temporary_name, path)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))
