"""Run folders: one folder per training run, readable while it is being written.

    <root>/<run id>/
        config.json     model_config, train_config, class_names, dataset, created, owner
        status.json     {"status", "message", "pid", "heartbeat", "updated"}  (atomic rewrite)
        metrics.jsonl   one JSON object per finished epoch                     (append-only)
        checkpoint.pt   latest weights + optimizer + rng state                 (atomic rewrite)

Run ids sort by creation time: "20261126-041500-vit-classroom-ab12".
A broken run folder never breaks the listing: it shows up with an error.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from vitcore.atomic_write import write_text_atomically
from vitcore.errors import RunError
from vitcore.runs.checkpoint import load_checkpoint, save_checkpoint_atomic

RUN_STATUSES = ("queued", "running", "finished", "failed", "stopped", "interrupted")
ACTIVE_STATUSES = ("queued", "running")
CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
ITERATIONS_FILE = "iterations.jsonl"  # per-step loss/accuracy, written in small batches
TIMELAPSE_FILE = "timelapse.jsonl"  # a ViT's probe snapshots, one line per epoch (vitcore.runs.timelapse)
CHECKPOINT_FILE = "checkpoint.pt"
_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_runs_root() -> Path:
    """VIT_CLASSROOM_RUNS if set, else <repo>/runs (callers pass it to RunStore explicitly)."""
    value = os.environ.get("VIT_CLASSROOM_RUNS")
    return Path(value) if value else Path(__file__).resolve().parents[2] / "runs"


def write_json_atomic(data: dict, path: Path) -> None:
    """Write JSON to a temporary file in the same folder, fsync it, then rename it over `path`."""
    write_text_atomically(path, json.dumps(data, indent=2, allow_nan=True))


def _json_safe(value):
    """Floats like nan/inf are kept (Python's json writes NaN); tensors/numpy scalars become numbers."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def _append_lines(path: Path, records: list[dict], durable: bool) -> None:
    """Append one JSON line per record; `durable` adds an fsync."""
    text = "".join(json.dumps(_json_safe(record), allow_nan=True) + "\n" for record in records)
    with open(path, "a+b") as handle:  # appends always go to the end
        ends_mid_line = False
        if handle.seek(0, os.SEEK_END) > 0:
            handle.seek(-1, os.SEEK_END)
            ends_mid_line = handle.read(1) != b"\n"
        # After a crash mid-write the last line is partial: start a new line so this record stays readable.
        handle.write((("\n" if ends_mid_line else "") + text).encode("utf-8"))
        handle.flush()
        if durable:
            os.fsync(handle.fileno())


def _read_jsonl(path: Path) -> list[dict]:
    """Every complete JSON object line of `path`; partial or corrupt lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def pid_is_alive(pid: int | None) -> bool:
    """True when a process with this id exists (signal 0 probes without touching it)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _slug(text: str) -> str:
    """Lower-case, dash-separated, safe for a folder name."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40] or "run"


class Run:
    """One run folder. Every method reads or writes the files directly (nothing cached)."""

    def __init__(self, path: Path):
        self.path = Path(path)  # the run folder
        self.id = self.path.name  # folder name, e.g. "20261126-041500-vit-classroom-ab12"

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    # ---- config ---------------------------------------------------------------------------
    def config(self) -> dict:
        """config.json as a dict; a missing or corrupt file raises RunError."""
        path = self.path / CONFIG_FILE
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except FileNotFoundError as error:
            raise RunError(f"run {self.id} has no {CONFIG_FILE}") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunError(f"run {self.id} has a corrupt {CONFIG_FILE} ({error.msg if hasattr(error, 'msg') else error})") from error
        if not isinstance(values, dict):
            raise RunError(f"run {self.id} has a corrupt {CONFIG_FILE} (not a JSON object)")
        return values

    def update_config(self, **changes) -> dict:
        """Rewrite config.json with some keys replaced (e.g. class names known only after loading data)."""
        values = self.config()
        values.update(_json_safe(changes))
        write_json_atomic(values, self.path / CONFIG_FILE)
        return values

    # ---- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        """status.json as a dict; missing -> status "unknown"; corrupt -> RunError."""
        path = self.path / STATUS_FILE
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except FileNotFoundError:
            return {"status": "unknown", "message": "status.json is missing", "pid": None, "heartbeat": None}
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunError(f"run {self.id} has a corrupt {STATUS_FILE}") from error
        return values

    def set_status(self, status: str, message: str = "", pid: int | None = None) -> dict:
        """Atomically write status.json (pid defaults to this process, heartbeat = now)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        now = time.time()
        values = {
            "status": status,
            "message": message,
            "pid": os.getpid() if pid is None else pid,
            "heartbeat": now,
            "updated": datetime.fromtimestamp(now, timezone.utc).isoformat(),
        }
        write_json_atomic(values, self.path / STATUS_FILE)
        return values

    def heartbeat(self) -> None:
        """Refresh the heartbeat time of the current status (shows the training process is alive)."""
        current = self.status()
        if current.get("status") in RUN_STATUSES:
            self.set_status(current["status"], current.get("message", ""), pid=current.get("pid"))

    # ---- metrics --------------------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        """Append one JSON line to metrics.jsonl and make it durable (flush + fsync)."""
        _append_lines(self.path / METRICS_FILE, [record], durable=True)

    def read_metrics(self) -> list[dict]:
        """All complete epoch records; a partial or corrupt line (e.g. a crash mid-write) is skipped."""
        return _read_jsonl(self.path / METRICS_FILE)

    def append_iterations(self, records: list[dict]) -> None:
        """Append per-step records to iterations.jsonl (best effort: flushed, not fsynced)."""
        _append_lines(self.path / ITERATIONS_FILE, records, durable=False)

    @property
    def iterations_path(self) -> Path:
        """The per-step curve's file (vitcore.runs.iteration_tail reads it as it grows)."""
        return self.path / ITERATIONS_FILE

    def read_iterations(self) -> list[dict]:
        """Complete per-step records, one per global step, in step order.

        A run killed after some steps and resumed from an earlier checkpoint
        trains those steps again; the later record of a step wins.
        """
        by_step = {record.get("global_step"): record for record in _read_jsonl(self.path / ITERATIONS_FILE)}
        return [by_step[step] for step in sorted(step for step in by_step if isinstance(step, int))]

    def append_timelapse(self, record: dict) -> None:
        """Append one probe snapshot line to timelapse.jsonl, durable like metrics (vitcore.runs.timelapse writes it)."""
        _append_lines(self.path / TIMELAPSE_FILE, [record], durable=True)

    def read_timelapse_records(self) -> list[dict]:
        """Every complete timelapse.jsonl line, in file order (vitcore.runs.timelapse.read_frames decodes them)."""
        return _read_jsonl(self.path / TIMELAPSE_FILE)

    @property
    def timelapse_path(self) -> Path:
        """The attention time-lapse file (one line per epoch; absent for CNN runs)."""
        return self.path / TIMELAPSE_FILE

    def metrics_frame(self) -> pd.DataFrame:
        """Metrics as a DataFrame (one row per epoch), empty when there are none yet."""
        return pd.DataFrame(self.read_metrics())

    # ---- checkpoint -----------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def save_checkpoint(self, state: dict) -> None:
        """Atomically replace checkpoint.pt with `state` (tensors, dicts, lists, numbers only)."""
        save_checkpoint_atomic(state, self.checkpoint_path)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict:
        """Load checkpoint.pt with weights_only=True; missing or corrupt -> RunError."""
        return load_checkpoint(self.checkpoint_path, map_location=map_location)


@dataclass(frozen=True)
class RunSummary:
    """One row of the run list; `error` is set (and other fields may be empty) for a broken folder."""

    run: Run  # the run folder
    id: str  # run id (folder name)
    name: str  # human name given at creation
    status: str  # queued/running/finished/failed/stopped/interrupted, "unknown" or "corrupt"
    message: str  # status message (why it failed, ...)
    created: str  # ISO creation time ("" when unknown)
    model_kind: str  # "vit" | "cnn" | "" when unknown
    dataset_id: str  # dataset content id
    owner: str | None  # who started it (a session name), if recorded
    epochs_completed: int  # number of metric lines
    last_val_acc: float | None  # val accuracy after the last finished epoch
    has_checkpoint: bool  # whether checkpoint.pt exists
    error: str | None  # why the folder could not be read, else None
    epochs_planned: int = 0  # epochs in the run's training config (0 when unknown)
    checkpoint_mtime: float = 0.0  # checkpoint.pt's modification time (a cache key for loaded models), 0 when none

    @property
    def label(self) -> str:
        """"vit-classroom · finished · 2026-12-06 02:27 · val 67%": name, status, start and last accuracy (chart legends)."""
        accuracy = "" if self.last_val_acc is None else f" · val {self.last_val_acc:.0%}"
        return f"{self.name or self.id} · {self.status} · {self.created[:16].replace('T', ' ')}{accuracy}"

    @property
    def choice_label(self) -> str:
        """A label that stays the same while the run trains (a picker remembers its choice by its text)."""
        return f"{self.name or self.id} · {self.created[:16].replace('T', ' ')} · {self.id[-4:]}"

    @property
    def description(self) -> str:
        """"VIT · 3/12 epochs"."""
        return f"{self.model_kind.upper() or '?'} · {self.epochs_completed}/{self.epochs_planned or '?'} epochs"

    @property
    def trained_on_drawings(self) -> bool:
        """True when the run learned from the embedded synthetic set (drawn objects), never from a photo."""
        from vitcore.data.synthetic import is_synthetic_dataset_id

        return is_synthetic_dataset_id(self.dataset_id)


class RunStore:
    """All runs under one root folder (passed in explicitly; see `default_runs_root`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)  # folder holding one sub-folder per run
        self.root.mkdir(parents=True, exist_ok=True)

    def _path_for(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _RUN_ID_PATTERN.match(run_id) or ".." in run_id:
            raise RunError(f"{run_id!r} is not a valid run id")
        return self.root / run_id

    def create_run(
        self,
        name: str,
        model_config: dict,
        train_config: dict,
        class_names: list[str],
        dataset_id: str,
        dataset_source: str,
        owner: str | None = None,
    ) -> Run:
        """Make a new run folder with config.json and status "queued"; returns the Run."""
        now = datetime.now(timezone.utc)
        for _ in range(100):
            run_id = f"{now.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}-{secrets.token_hex(2)}"
            path = self.root / run_id
            try:
                path.mkdir()
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of 16 random bits in one second
            raise RunError("could not create a unique run folder; try again")
        run = Run(path)
        config = {
            "name": name,
            "model_config": _json_safe(dict(model_config)),
            "train_config": _json_safe(dict(train_config)),
            "class_names": list(class_names),
            "dataset_id": dataset_id,
            "dataset_source": dataset_source,
            "created": now.isoformat(),
            "owner": owner,
        }
        write_json_atomic(config, path / CONFIG_FILE)
        run.set_status("queued", "waiting to start")
        return run

    def get(self, run_id: str) -> Run:
        """The run with this id; an unknown id raises RunError."""
        path = self._path_for(run_id)
        if not path.is_dir():
            raise RunError(f"no run named {run_id!r} in {self.root}")
        return Run(path)

    def delete(self, run_id: str) -> None:
        """Remove a run folder and everything in it."""
        path = self.get(run_id).path
        shutil.rmtree(path)

    def _run_folders(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]

    def summarize(self, run: Run) -> RunSummary:
        """Read one run into a RunSummary; never raises for a broken folder (error is filled in)."""
        errors = []
        try:
            config = run.config()
        except RunError as error:
            config, errors = {}, [str(error)]
        try:
            status = run.status()
        except RunError as error:
            status = {"status": "corrupt", "message": str(error)}
            errors.append(str(error))
        metrics = run.read_metrics()
        last_val_acc = metrics[-1].get("val_acc") if metrics else None
        model_config = config.get("model_config") if isinstance(config.get("model_config"), dict) else {}
        train_config = config.get("train_config") if isinstance(config.get("train_config"), dict) else {}
        try:
            epochs_planned = int(train_config.get("epochs", 0) or 0)
        except (TypeError, ValueError):
            epochs_planned = 0
        try:
            checkpoint_mtime = run.checkpoint_path.stat().st_mtime
        except OSError:  # no checkpoint (yet), or it is being replaced right now
            checkpoint_mtime = 0.0
        return RunSummary(
            run=run,
            id=run.id,
            name=str(config.get("name", "")),
            status=str(status.get("status", "unknown")),
            message=str(status.get("message", "")),
            created=str(config.get("created", "")),
            model_kind=str(model_config.get("kind", "")),
            dataset_id=str(config.get("dataset_id", "")),
            owner=config.get("owner"),
            epochs_completed=len(metrics),
            last_val_acc=None if last_val_acc is None or (isinstance(last_val_acc, float) and math.isnan(last_val_acc)) else float(last_val_acc),
            has_checkpoint=run.has_checkpoint,
            error="; ".join(errors) or None,
            epochs_planned=epochs_planned,
            checkpoint_mtime=checkpoint_mtime,
        )

    def list_runs(self, owner: str | None = None) -> list[RunSummary]:
        """All runs, newest first (optionally only one owner's); broken folders appear with `error` set."""
        summaries = [self.summarize(Run(path)) for path in self._run_folders()]
        if owner is not None:
            summaries = [summary for summary in summaries if summary.owner == owner]
        return sorted(summaries, key=lambda summary: (summary.created or "", summary.id), reverse=True)

    def recover_interrupted(self, stale_after_s: float | None = None) -> list[str]:
        """Mark queued/running runs whose process is gone (or silent for `stale_after_s`) as "interrupted".

        Returns the ids that were changed. Call this once when the app starts.
        """
        changed = []
        now = time.time()
        for path in self._run_folders():
            run = Run(path)
            try:
                status = run.status()
            except RunError:
                continue
            if status.get("status") not in ACTIVE_STATUSES:
                continue
            alive = pid_is_alive(status.get("pid"))
            heartbeat = status.get("heartbeat") or 0.0
            stale = stale_after_s is not None and now - float(heartbeat) > stale_after_s
            if alive and not stale:
                continue
            reason = "its process is no longer running" if not alive else f"no heartbeat for over {stale_after_s:.0f} s"
            extra = "; resume it from the last checkpoint" if run.has_checkpoint else ""
            run.set_status("interrupted", f"training was interrupted ({reason}){extra}", pid=status.get("pid"))
            changed.append(run.id)
        return changed
