"""Where the dashboard may read datasets from, and where runs are stored.

A classroom server is shared, so a typed folder path must stay inside an
allow-list of roots. The checking itself is vitcore's
`vitcore.data.roots.resolve_within_roots` (`..` tricks, absolute paths
elsewhere and symlinks that escape are refused with one clear sentence); this
module only says which roots this server allows and where runs live.
"""

from __future__ import annotations

import os
from pathlib import Path

from vitcore.data.roots import DataRootError, allowed_roots_from_env, resolve_within_roots

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding app/ and vitcore/


def runs_root() -> Path:
    """Run folder root: env VIT_CLASSROOM_RUNS, else <repo>/runs."""
    value = os.environ.get("VIT_CLASSROOM_RUNS")
    return Path(value) if value else REPO_ROOT / "runs"


def data_roots() -> list[Path]:
    """Folders a user may pick datasets from: VIT_CLASSROOM_DATA_ROOTS, else <repo>/data (+ VIT_CLASSROOM_DATA)."""
    return allowed_roots_from_env(os.environ, REPO_ROOT)


def resolve_new_folder(text: str, roots: list[Path]) -> Path:
    """A folder that may not exist yet (an output folder): its parent must exist inside a root.

    The parent goes through `resolve_within_roots` (all of its checks apply); the
    last name must be a plain folder name, so `..` cannot sneak in at the end.
    """
    typed = Path((text or "").strip())
    if typed.name in ("", ".", ".."):
        raise DataRootError("please type an output folder name, such as coco-built")
    try:
        return resolve_within_roots(str(typed), roots)  # it exists already: check it as it is
    except DataRootError:
        pass
    parent = resolve_within_roots(str(typed.parent), roots)
    return parent / typed.name


def display_path(path: Path) -> str:
    """Short form for captions: relative to the repo when possible."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
