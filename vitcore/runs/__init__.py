"""Run folders (config, status, metrics, checkpoint) and safe checkpoint files."""

from vitcore.runs.checkpoint import load_checkpoint, load_model_from_run, save_checkpoint_atomic
from vitcore.runs.store import Run, RunStore, RunSummary, default_runs_root

__all__ = ["Run", "RunStore", "RunSummary", "default_runs_root", "load_checkpoint", "load_model_from_run", "save_checkpoint_atomic"]
