"""Checkpoints: atomic saving and safe (weights-only) loading.

A checkpoint is a plain dict of tensors, dicts, lists and numbers (configs are
stored as dicts), so `torch.load(weights_only=True)` can read it without ever
running pickled code. Saving goes to a temporary file in the same folder,
which is flushed, fsync'ed and then renamed over the old file: a crash or a
full disk leaves the previous checkpoint untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vitcore.atomic_write import write_atomically
from vitcore.errors import RunError


def save_checkpoint_atomic(state: dict, path: str | Path) -> None:
    """Write `state` to `path` atomically (all or nothing); re-raise any error after cleaning up."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda stream: torch.save(state, stream))
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every OS allows opening folders)."""
    try:
        directory_descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory_descriptor)
    except OSError:
        pass
    finally:
        os.close(directory_descriptor)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with `weights_only=True`; a missing or unsafe/corrupt file raises RunError."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no checkpoint found at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # unpickling refused, truncated zip, not a torch file...
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunError(
            f"checkpoint {path.name} in {path.parent.name} is corrupt or not a safe weights-only file ({first_line[:200]})"
        ) from error
    if not isinstance(state, dict) or "model" not in state:
        raise RunError(f"checkpoint {path.name} in {path.parent.name} does not hold model weights")
    return state


def load_model_from_run(run, device: torch.device | str = "cpu"):
    """Rebuild a run's model with its saved weights -> (model in eval mode, model_config, class_names)."""
    from vitcore.models.config import model_config_from_dict
    from vitcore.models.factory import build_model

    device = torch.device(device)
    state = run.load_checkpoint(map_location=device)
    run_config = run.config()
    model_config_dict = state.get("model_config") or run_config.get("model_config")
    if not model_config_dict:
        raise RunError(f"run {run.id} has no model configuration to rebuild its model from")
    model_config = model_config_from_dict(model_config_dict)
    class_names = list(state.get("class_names") or run_config.get("class_names") or [])
    model = build_model(model_config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise RunError(f"checkpoint of run {run.id} does not match its model configuration") from error
    return model.to(device).eval(), model_config, class_names
