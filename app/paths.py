"""Where the dashboard may read datasets from, and where runs are stored.

A classroom server is shared, so a typed folder path must stay inside an
allow-list of roots: `..` tricks, absolute paths elsewhere and symlinks that
escape are all refused with one clear sentence.
"""

from __future__ import annotations

import os
from pathlib import Path

from vitcore.errors import DataLayoutError

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding app/ and vitcore/


def runs_root() -> Path:
    """Run folder root: env VIT_CLASSROOM_RUNS, else <repo>/runs."""
    value = os.environ.get("VIT_CLASSROOM_RUNS")
    return Path(value) if value else REPO_ROOT / "runs"


def allowed_data_roots() -> list[Path]:
    """Folders a user may pick datasets from (resolved, existing or not).

    Env VIT_CLASSROOM_DATA_ROOTS (os.pathsep separated) wins; the default is
    <repo>/data plus the VIT_CLASSROOM_DATA folder when that variable is set.
    """
    value = os.environ.get("VIT_CLASSROOM_DATA_ROOTS")
    if value:
        candidates = [Path(part) for part in value.split(os.pathsep) if part.strip()]
    else:
        candidates = [REPO_ROOT / "data"]
        shared = os.environ.get("VIT_CLASSROOM_DATA")
        if shared:
            candidates.append(Path(shared))
    roots: list[Path] = []
    for candidate in candidates:
        resolved = candidate.expanduser().resolve()
        if resolved not in roots:
            roots.append(resolved)
    return roots


class PathNotAllowedError(DataLayoutError):
    """A typed path points outside the allowed data roots."""


def resolve_allowed_path(text: str, roots: list[Path] | None = None, must_exist: bool = True) -> Path:
    """Turn user text into a resolved path that lies inside one of the allowed roots.

    Relative text is read relative to the first root. `..` components are refused
    outright, and the fully resolved path (symlinks followed) must still be inside
    a root, so a link pointing elsewhere is refused too.
    """
    roots = allowed_data_roots() if roots is None else roots
    cleaned = (text or "").strip()
    if not cleaned:
        raise PathNotAllowedError("Please type a folder path.")
    if "\x00" in cleaned:
        raise PathNotAllowedError("The path contains a NUL character.")
    typed = Path(cleaned).expanduser()
    if ".." in typed.parts:
        raise PathNotAllowedError("Paths with '..' are not allowed; type a folder inside an allowed root.")
    if not roots:
        raise PathNotAllowedError("No data roots are configured (set VIT_CLASSROOM_DATA_ROOTS).")
    if typed.is_absolute():
        candidate = typed
    else:
        candidate = roots[0] / typed
    allowed_text = ", ".join(str(root) for root in roots)
    # Follow every symlink first, then check: a link that escapes is refused too.
    resolved = candidate.resolve()
    if not any(_is_within(resolved, root) for root in roots):
        raise PathNotAllowedError(f"{cleaned} is outside the allowed data folders ({allowed_text}).")
    if must_exist and not resolved.exists():
        raise PathNotAllowedError(f"{cleaned} does not exist.")
    return resolved


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def display_path(path: Path) -> str:
    """Short form for captions: relative to the repo when possible."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
