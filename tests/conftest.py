"""Shared test fixtures: seeded torch, small thread count, and the shared data location."""

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seeded_torch():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield


def shared_data_root() -> Path | None:
    """The folder named by VIT_CLASSROOM_DATA (set by .ci/run to ../shared/data), if it exists."""
    value = os.environ.get("VIT_CLASSROOM_DATA")
    if value and Path(value).is_dir():
        return Path(value)
    fallback = REPO_ROOT.parent / "shared" / "data"
    return fallback if fallback.is_dir() else None


@pytest.fixture(scope="session")
def coco5_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "coco5-64").is_dir():
        pytest.skip("coco5-64 not available (set VIT_CLASSROOM_DATA)")
    return root / "coco5-64"


@pytest.fixture(scope="session")
def coco_tiny_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "coco-tiny").is_dir():
        pytest.skip("coco-tiny not available (set VIT_CLASSROOM_DATA)")
    return root / "coco-tiny"
