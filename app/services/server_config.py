"""Server-wide settings of the dashboard: how many runs train at once, and who is the instructor.

Streamlit refuses options it does not know in `.streamlit/config.toml` (it logs
'"vit_classroom.maxJobs" is not a valid config option' and drops the value), so
the dashboard's own knobs live in a separate, optional TOML file read with
`tomllib`, and environment variables override it:

    # .streamlit/vit_classroom.toml   (or the file named by VIT_CLASSROOM_SETTINGS)
    [training]
    max_concurrent_jobs = 2      # default: 1 per GPU, 1 on a CPU-only server
    [display]
    animations = true            # default: false (still pictures: cheaper for a whole class of browsers)

| setting                  | environment variable        | file key                         |
|--------------------------|-----------------------------|----------------------------------|
| concurrent training runs | VIT_CLASSROOM_MAX_JOBS      | [training] max_concurrent_jobs   |
| instructor token         | VIT_CLASSROOM_ADMIN_TOKEN   | (environment only: it is secret) |
| allowed data folders     | VIT_CLASSROOM_DATA_ROOTS    | (see vitcore.data.roots)         |
| page animations          | VIT_CLASSROOM_ANIMATIONS    | [display] animations             |
| CPU training pauses for pictures | VIT_CLASSROOM_TRAINING_YIELD_S | (environment only; seconds, 0 = off) |
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Mapping

from vitcore.errors import VitcoreError
from vitcore.train.scheduler import MAX_JOBS_ENV, SchedulerConfig, config_from_env

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding app/ and vitcore/
SETTINGS_ENV = "VIT_CLASSROOM_SETTINGS"  # path of the settings file (default below)
DEFAULT_SETTINGS_FILE = REPO_ROOT / ".streamlit" / "vit_classroom.toml"  # optional; missing = defaults
ANIMATIONS_ENV = "VIT_CLASSROOM_ANIMATIONS"  # "on"/"off": Streamlit's spinners and transitions (default off)
ANIMATIONS_DEFAULT = False  # off: measured with bench/load.py, ten animating tabs cost more CPU than the answers
SWITCH_WORDS = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}


def settings_path(environ: Mapping[str, str]) -> Path:
    """The settings file to read: VIT_CLASSROOM_SETTINGS, else .streamlit/vit_classroom.toml."""
    value = environ.get(SETTINGS_ENV, "").strip()
    return Path(value) if value else DEFAULT_SETTINGS_FILE


def read_settings_file(path: Path) -> dict:
    """The parsed TOML file as a dict; a missing file is an empty dict, a broken one a VitcoreError."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise VitcoreError(f"the settings file {path} is not valid TOML ({error})") from error


def scheduler_config(environ: Mapping[str, str]) -> SchedulerConfig:
    """The JobScheduler settings: environment variables first, then the settings file, then defaults."""
    merged = dict(environ)
    if not merged.get(MAX_JOBS_ENV, "").strip():
        training = read_settings_file(settings_path(environ)).get("training", {})
        from_file = training.get("max_concurrent_jobs") if isinstance(training, dict) else None
        if from_file is not None:
            if isinstance(from_file, bool) or not isinstance(from_file, int):
                raise VitcoreError(f"max_concurrent_jobs in {settings_path(environ)} must be a whole number, got {from_file!r}")
            merged[MAX_JOBS_ENV] = str(from_file)
    return config_from_env(merged)


def animations_enabled(environ: Mapping[str, str]) -> bool:
    """Whether pages keep Streamlit's animations: VIT_CLASSROOM_ANIMATIONS, else [display] animations, else off.

    Off by default: while a page waits for its script, Streamlit animates the "Running" indicator and fades
    stale elements, and in a browser without GPU compositing every animated frame is painted on the CPU.
    """
    text = environ.get(ANIMATIONS_ENV, "").strip().lower()
    if text:
        if text not in SWITCH_WORDS:
            raise VitcoreError(f"{ANIMATIONS_ENV} must be on or off, got {text!r}")
        return SWITCH_WORDS[text]
    display = read_settings_file(settings_path(environ)).get("display", {})
    value = display.get("animations") if isinstance(display, dict) else None
    if value is None:
        return ANIMATIONS_DEFAULT
    if not isinstance(value, bool):
        raise VitcoreError(f"animations in {settings_path(environ)} must be true or false, got {value!r}")
    return value
