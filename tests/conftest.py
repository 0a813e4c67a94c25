"""Shared test fixtures: seeded torch, small thread count, and the shared data location."""

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seeded_single_threaded_torch():
    """Seed torch and use one intra-op thread: small tensors gain nothing from more, and a
    loaded 2-core machine makes two threads spin against each other. Tests that train on
    real data ask for more threads themselves."""
    torch.manual_seed(0)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous_threads)


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


@pytest.fixture
def app_env(tmp_path, monkeypatch) -> Path:
    """Environment of a dashboard under test: empty run folder, private cache, a tiny embedded
    synthetic set (4 images per class) and one allowed data root, which is returned."""
    data_root = tmp_path / "data_root"
    data_root.mkdir()
    monkeypatch.setenv("VIT_CLASSROOM_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("VIT_CLASSROOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VIT_CLASSROOM_SYNTH_PER_CLASS", "4")
    monkeypatch.setenv("VIT_CLASSROOM_DATA_ROOTS", str(data_root))
    return data_root
