"""Submit, resume and describe training runs from the dashboard (no Streamlit here).

Every training start of the dashboard (Train's Start and Resume, Home's
one-click ViT + CNN) goes to the server's one `vitcore.train.scheduler.JobScheduler`
(see app/state.py). The scheduler creates the run folder at once (status
"queued"), starts it when a training slot is free, and checks who may cancel,
stop or delete it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass


@dataclass
class JobRequest:
    """One run to start: model + recipe + a human name."""

    model_config: object  # ViTConfig or CNNConfig (num_classes / image_size already matched to the data)
    train_config: object  # TrainConfig
    name: str  # run name, e.g. "vit-classroom"
    title: str = ""  # the recipe's plain name for the page, e.g. "Classroom ViT (small and fast)"
    measured: str = ""  # what the recipe reached, naming the dataset the figure is for ("" when not measured)


def fit_to_data(model_config, data):
    """The preset's model config with num_classes and image_size taken from the dataset."""
    changes = {"num_classes": len(data.class_names)}
    if hasattr(model_config, "image_size"):
        changes["image_size"] = int(data.image_size)
    return dataclasses.replace(model_config, **changes)


def submit_run(scheduler, owner: str, data, request: JobRequest) -> str:
    """Queue one run in the server's scheduler (it starts when a slot is free); returns the run id."""
    return scheduler.submit(request.model_config, request.train_config, data, owner=owner, name=request.name)


def submit_runs(scheduler, owner: str, data, requests: list[JobRequest]) -> list[str]:
    """Queue several runs in order (with one slot they train one after the other); returns their ids."""
    return [submit_run(scheduler, owner, data, request) for request in requests]


def resume_run(scheduler, owner: str, admin_token: str | None, data, run_id: str) -> str:
    """Queue a stopped/interrupted run to continue from its last checkpoint (same run folder)."""
    return scheduler.resume(run_id, data, requester=owner, admin_token=admin_token)


def preset_for_data(kind: str, name: str, data):
    """vitcore preset `kind/name` sized for the dataset, with the server's training overrides applied."""
    from vitcore.presets import get_preset

    preset = get_preset(kind, name, num_classes=len(data.class_names), image_size=int(data.image_size))
    return preset.with_overrides(train=server_train_overrides(preset.train_config))


def dataset_family(data) -> str:
    """Which dataset a preset's measured figures should be quoted for: the embedded set, or else coco5-64."""
    from vitcore.data.synthetic import is_synthetic_dataset_id
    from vitcore.presets import COCO5_64, EMBEDDED

    return EMBEDDED if is_synthetic_dataset_id(data.dataset_id) else COCO5_64


def server_train_overrides(train_config) -> dict:
    """The training fields of env VIT_CLASSROOM_TRAIN_OVERRIDES (JSON, e.g. '{"epochs": 1}'), or {} when unset.

    Lets a teacher (or the tests) shorten every preset on this server without code changes. Keys that are
    not fields of `train_config` are ignored, so an override written for another version still starts.
    """
    text = os.environ.get("VIT_CLASSROOM_TRAIN_OVERRIDES", "").strip()
    if not text:
        return {}
    known = {config_field.name for config_field in dataclasses.fields(train_config)}
    return {key: value for key, value in json.loads(text).items() if key in known}


def classroom_requests(data) -> list[JobRequest]:
    """The Home page's one-click plan: vit/classroom then cnn/hw4, fitted to `data`."""
    requests = []
    for kind, name in (("vit", "classroom"), ("cnn", "hw4")):
        preset = preset_for_data(kind, name, data)
        requests.append(
            JobRequest(
                preset.model_config, preset.train_config, f"{kind}-{name}", title=preset.title,
                measured=preset.measured_text(dataset_family(data)),
            )
        )
    return requests
