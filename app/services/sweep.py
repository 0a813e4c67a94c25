"""The Compare page's data-efficiency sweep: the classroom ViT and the hw4 CNN on 10, 25, 50 and 100 % of the data.

A sweep is 8 ordinary runs through the server's queue, under the same fair-share rule as every other run (a
session may have only so many queued or training at once). So the sweep is a plan: what is left to submit,
kept in `<runs>/.sweeps/<owner>.json` (a refresh, or a restarted server, keeps it), and `advance` submits the
next runs whenever the session has room. Every submitted run is a normal run: it shows on the Train page and
can be cancelled there; "cancel the rest" drops what was not submitted yet. No Streamlit in here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from app.services.training import JobRequest, preset_for_data, submit_run
from vitcore.errors import VitcoreError

SWEEP_FRACTIONS = (0.1, 0.25, 0.5, 1.0)  # shares of the training split
SWEEP_MODELS = (("vit", "classroom"), ("cnn", "hw4"))  # the two recipes, as Home's one-click trains them
SWEEPS_FOLDER = ".sweeps"  # inside the runs folder; the run list ignores names starting with a dot


@dataclass
class SweepPlan:
    """One session's sweep: what is still to be submitted, and the runs it submitted."""

    dataset_id: str  # the data the sweep trains on (advance refuses another dataset)
    pending: list[dict] = field(default_factory=list)  # {"kind", "name", "fraction"} not submitted yet, in order
    submitted: list[str] = field(default_factory=list)  # run ids, in order


def plan_path(runs_root: Path, owner: str) -> Path:
    return Path(runs_root) / SWEEPS_FOLDER / f"{owner}.json"


def load_plan(runs_root: Path, owner: str) -> SweepPlan | None:
    """The session's saved plan, or None (none yet, or unreadable)."""
    try:
        values = json.loads(plan_path(runs_root, owner).read_text(encoding="utf-8"))
        return SweepPlan(dataset_id=str(values["dataset_id"]), pending=list(values["pending"]), submitted=list(values["submitted"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_plan(runs_root: Path, owner: str, plan: SweepPlan | None) -> None:
    """Write the plan atomically (None deletes it)."""
    from vitcore.runs.store import write_json_atomic

    path = plan_path(runs_root, owner)
    if plan is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic({"dataset_id": plan.dataset_id, "pending": plan.pending, "submitted": plan.submitted}, path)


def new_plan(data) -> SweepPlan:
    """Both recipes at every share, the smallest share first (the quick answers arrive first)."""
    return SweepPlan(dataset_id=data.dataset_id, pending=[
        {"kind": kind, "name": name, "fraction": fraction} for fraction in SWEEP_FRACTIONS for kind, name in SWEEP_MODELS
    ])


def sweep_request(item: dict, data) -> JobRequest:
    """The run for one plan item: the preset fitted to the data, on its share of the training split."""
    preset = preset_for_data(item["kind"], item["name"], data).with_overrides(train={"train_fraction": float(item["fraction"])})
    percent = int(round(float(item["fraction"]) * 100))
    return JobRequest(preset.model_config, preset.train_config, f"{item['kind']}-{item['name']}-{percent}pct", title=preset.title)


def advance(scheduler, runs_root: Path, owner: str, data) -> SweepPlan | None:
    """Submit the plan's next runs while the scheduler takes them; save and return the plan (None when there is none).

    Stops at the first refusal (the session's limit of queued + training runs): the rest waits for the next call.
    """
    plan = load_plan(runs_root, owner)
    if plan is None or not plan.pending or plan.dataset_id != data.dataset_id:
        return plan
    while plan.pending:
        try:
            run_id = submit_run(scheduler, owner, data, sweep_request(plan.pending[0], data))
        except VitcoreError:
            break  # at the session's limit: try again when a run has finished
        plan.submitted.append(run_id)
        plan.pending.pop(0)
        save_plan(runs_root, owner, plan)
    return plan
