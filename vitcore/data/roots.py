"""Keep typed folder paths inside the data folders the server allows.

Thirty students share one server, so a path typed into the dashboard must not
reach `/etc`, another course's files or the instructor's home folder. The
rule is simple and checked on the REAL location:

1. the text is refused if it is empty or contains a NUL byte;
2. a relative path is tried against each allowed root in turn, an absolute
   path is taken as it is;
3. the path is resolved with `Path.resolve(strict=True)`: every symlink is
   followed and `..` is collapsed, and a path that does not exist is refused;
4. the resolved path must lie inside one of the (also resolved) roots.

So `../secrets`, `/etc`, and `data/link -> /etc` are all refused, while
`coco5-64/train` and a symlink that stays inside a root are accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from vitcore.errors import DataLayoutError

DATA_ROOTS_ENV = "VIT_CLASSROOM_DATA_ROOTS"  # os.pathsep-separated list of allowed folders
SHARED_DATA_ENV = "VIT_CLASSROOM_DATA"  # the shared data folder, allowed by default when set


class DataRootError(DataLayoutError):
    """A typed path is empty, missing, or outside the allowed data folders."""


def allowed_roots_from_env(environ: Mapping[str, str], repo_root: str | Path) -> list[Path]:
    """The allowed data folders: VIT_CLASSROOM_DATA_ROOTS, else <repo>/data (+ VIT_CLASSROOM_DATA if set).

    Duplicates are dropped; the order is kept (relative paths are tried in it).
    Roots that do not exist are kept too: they simply match nothing.
    """
    listed = environ.get(DATA_ROOTS_ENV, "")
    if listed.strip():
        candidates = [Path(part.strip()) for part in listed.split(os.pathsep) if part.strip()]
    else:
        candidates = [Path(repo_root) / "data"]
        if environ.get(SHARED_DATA_ENV, "").strip():
            candidates.append(Path(environ[SHARED_DATA_ENV].strip()))
    roots: list[Path] = []
    for candidate in candidates:
        if candidate not in roots:
            roots.append(candidate)
    return roots


def _resolved_root(root: Path) -> Path | None:
    """The root's real location, or None when it does not exist (it then allows nothing)."""
    try:
        return Path(root).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def resolve_within_roots(user_path: str, roots: list[Path]) -> Path:
    """Turn typed text into an existing, fully resolved path inside one of `roots`; else DataRootError."""
    if not isinstance(user_path, (str, os.PathLike)):
        raise DataRootError(f"a folder path must be text, not {type(user_path).__name__}")
    text = os.fspath(user_path).strip()
    if not text:
        raise DataRootError("please type a folder path; the path is empty")
    if "\x00" in text:
        raise DataRootError("that path contains a NUL byte, which no real file name has")
    real_roots = [root for root in (_resolved_root(Path(r)) for r in roots) if root is not None]
    allowed_text = ", ".join(str(root) for root in real_roots) or "(none configured)"
    typed = Path(text).expanduser()
    candidates = [typed] if typed.is_absolute() else [root / typed for root in real_roots]

    found_outside = False
    for candidate in candidates:
        try:
            resolved = candidate.resolve(strict=True)  # follows every symlink, collapses ".."
        except (OSError, RuntimeError):  # missing, a symlink loop, a name too long...
            continue
        if any(resolved.is_relative_to(root) for root in real_roots):
            return resolved
        found_outside = True
    lexically_inside = any(
        Path(os.path.normpath(candidate)).is_relative_to(root) for candidate in candidates for root in real_roots
    )  # where the path would be without following links ("a/../.." already leaves)
    if found_outside or not lexically_inside:
        raise DataRootError(f"that folder is outside the data folders this server allows: {allowed_text}")
    raise DataRootError(f"{text!r} does not exist inside the data folders this server allows: {allowed_text}")
