"""Process-wide shared objects and per-session selections.

Shared by every browser session of one server process (`st.cache_resource`):
the RunStore, the JobScheduler (the one training queue of the server) and
loaded datasets. Per session (`st.session_state`): an owner id, the instructor
token typed in the sidebar and what the user picked; the picked run and data
source are mirrored into `st.query_params` so a browser refresh keeps them.
"""

from __future__ import annotations

import os
import threading
import uuid

import streamlit as st
import torch

from app.services.paths import data_roots, runs_root
from app.services.server_config import ANIMATIONS_DEFAULT, scheduler_config
from app.services.server_config import animations_enabled as animations_setting
from vitcore.data.roots import resolve_within_roots
from vitcore.errors import VitcoreError

SYNTHETIC_SOURCE = "synthetic"  # the query-param / session value meaning "embedded synthetic default"
SOURCE_KEY = "source"  # session_state + query_params key of the active data source
RUN_KEY = "run"  # session_state + query_params key of the selected run id
OWNER_KEY = "me"  # session_state + query_params key of this tab's owner id (who started which run)
ADMIN_TOKEN_KEY = "instructor_token"  # session_state key of the sidebar's "Instructor token" password box
SHUTDOWN_TIMEOUT_S = 30.0  # how long the server waits for training threads (checkpoints) when it exits


# ---------------------------------------------------------------- shared objects
def get_run_store():
    """The RunStore over VIT_CLASSROOM_RUNS (or <repo>/runs); interrupted runs are marked once per root."""
    return _run_store_for(str(runs_root().resolve()))


@st.cache_resource(show_spinner=False)
def _run_store_for(root_text: str):
    from vitcore.runs.store import RunStore

    store = RunStore(root_text)
    # Runs whose status still says "running" belong to a server that died: mark them interrupted.
    store.recover_interrupted()
    return store


def get_scheduler():
    """The server's one JobScheduler: every training start (Train, Resume, Home) goes through it.

    Its limits come from app.services.server_config (env VIT_CLASSROOM_MAX_JOBS / VIT_CLASSROOM_ADMIN_TOKEN,
    else .streamlit/vit_classroom.toml, else 1 run per GPU or 1 on the CPU); VIT_CLASSROOM_TRAINING_YIELD_S
    sets how long a CPU run waits after students' pictures (its `foreground`, see vitcore.train.foreground).
    """
    config = scheduler_config(os.environ)
    return _scheduler_for(
        str(runs_root().resolve()), str(get_device()), config.max_jobs, config.admin_token, config.yield_quiet_s
    )


@st.cache_resource(show_spinner=False)
def _scheduler_for(root_text: str, device_text: str, max_jobs: int | None, admin_token: str | None, yield_quiet_s: float):
    from vitcore.train.scheduler import JobScheduler, SchedulerConfig

    scheduler = JobScheduler(
        _run_store_for(root_text),
        SchedulerConfig(max_jobs=max_jobs, admin_token=admin_token, yield_quiet_s=yield_quiet_s),
        torch.device(device_text),
    )
    # When the server exits, stop every run (each saves a checkpoint first) and mark queued runs
    # "interrupted" BEFORE Python waits for the (non-daemon) training threads; resume them later.
    register_before_thread_join = getattr(threading, "_register_atexit", None)
    if register_before_thread_join is not None:
        try:
            register_before_thread_join(lambda: scheduler.shutdown(timeout=SHUTDOWN_TIMEOUT_S))
        except RuntimeError:  # the interpreter is already shutting down
            pass
    return scheduler


@st.cache_resource(show_spinner=False)
def get_device() -> torch.device:
    """The compute device this server trains and evaluates on."""
    from vitcore.device import resolve_device

    return resolve_device(os.environ.get("VIT_CLASSROOM_DEVICE", "auto"))


@st.cache_resource(show_spinner=False)
def get_import_freezer():
    """The server's one ImportFreezer (app.services.gc_tuning): Home.py calls it after every script run."""
    from app.services.gc_tuning import ImportFreezer

    return ImportFreezer()


def synthetic_per_class() -> tuple[int, int] | None:
    """(train, val) images per class from VIT_CLASSROOM_SYNTH_PER_CLASS (tests shrink the set), else None."""
    value = os.environ.get("VIT_CLASSROOM_SYNTH_PER_CLASS")
    if not value:
        return None
    train = max(2, int(value))
    return train, max(2, train // 3)


@st.cache_resource(
    show_spinner="Loading the dataset… (the first time, the embedded set is rendered and cached: about a minute)",
    max_entries=4,
)
def get_dataset(
    source: str, drop_multilabel: bool = False, drop_leaked: bool = False, synthetic_sizes: tuple[int, int] | None = None
):
    """Load (once per server) the ClassificationData for a source and hygiene flags.

    `synthetic_sizes` (train, val per class) shrinks the embedded set; it is part of the cache key.
    """
    from vitcore.data.sources import load_dataset

    if source == SYNTHETIC_SOURCE:
        sizes = synthetic_sizes
        if sizes is not None:
            return load_dataset(None, synthetic_train_per_class=sizes[0], synthetic_val_per_class=sizes[1])
        return load_dataset(None)
    return load_dataset(source, drop_multilabel=drop_multilabel, drop_leaked=drop_leaked)


# ---------------------------------------------------------------- per session
def owner_id() -> str:
    """A random id for this browser tab: the owner of the jobs it starts.

    It is kept in the page address (`?me=...`, next to the data source and the selected run), so a
    refresh, a restarted server or a bookmarked link keeps the right to stop and delete one's own runs.
    Whoever has the whole address has that right too: fine between students, and the instructor's
    powers come from the token, never from this id. Anything but 32 hex digits is replaced.
    """
    owner = st.session_state.get(OWNER_KEY) or st.query_params.get(OWNER_KEY)
    if not (isinstance(owner, str) and len(owner) == 32 and all(c in "0123456789abcdef" for c in owner)):
        owner = uuid.uuid4().hex
    _remember(OWNER_KEY, owner)
    return owner


def admin_token() -> str | None:
    """What this session typed into the sidebar's "Instructor token" box (None when empty)."""
    return st.session_state.get(ADMIN_TOKEN_KEY) or None


def animations_enabled() -> bool:
    """The server's page-animation setting; a misspelt value is shown as a warning and the default is kept."""
    try:
        return animations_setting(os.environ)
    except VitcoreError as error:
        st.warning(f"{error}. Page animations stay {'on' if ANIMATIONS_DEFAULT else 'off'}.")
        return ANIMATIONS_DEFAULT


def is_instructor() -> bool:
    """True when this session's token matches VIT_CLASSROOM_ADMIN_TOKEN."""
    return get_scheduler().is_admin(admin_token())


def _remembered(key: str, default: str | None) -> str | None:
    if key not in st.session_state:
        from_url = st.query_params.get(key)
        st.session_state[key] = from_url if from_url else default
    return st.session_state[key]


def _remember(key: str, value: str | None) -> None:
    st.session_state[key] = value
    if value:
        st.query_params[key] = value
    elif key in st.query_params:
        del st.query_params[key]


def active_source() -> str:
    """The data source this session works on: "synthetic" or a folder path.

    A folder arriving through the URL is re-checked against the allowed roots;
    anything else falls back to the embedded synthetic set.
    """
    source = _remembered(SOURCE_KEY, SYNTHETIC_SOURCE) or SYNTHETIC_SOURCE
    if source != SYNTHETIC_SOURCE:
        try:
            source = str(resolve_within_roots(source, data_roots()))
        except VitcoreError:
            source = SYNTHETIC_SOURCE
            _remember(SOURCE_KEY, source)
    return source


def set_active_source(source: str) -> None:
    _remember(SOURCE_KEY, source)


def hygiene_flags() -> tuple[bool, bool]:
    """(drop_multilabel, drop_leaked) chosen on the Data page for this session."""
    return bool(st.session_state.get("drop_multilabel", False)), bool(st.session_state.get("drop_leaked", False))


def active_dataset():
    """The ClassificationData of this session's source (shared cache)."""
    drop_multilabel, drop_leaked = hygiene_flags()
    source = active_source()
    return dataset_for(source, drop_multilabel, drop_leaked)


def dataset_for(source: str, drop_multilabel: bool, drop_leaked: bool):
    """The cached dataset of any source (hygiene flags only matter for folders)."""
    if source == SYNTHETIC_SOURCE:
        return get_dataset(source, synthetic_sizes=synthetic_per_class())
    return get_dataset(source, drop_multilabel, drop_leaked)


def selected_run() -> str | None:
    return _remembered(RUN_KEY, None)


def set_selected_run(run_id: str | None) -> None:
    _remember(RUN_KEY, run_id)


@st.cache_resource(show_spinner="Loading the model…", max_entries=6)
def load_run_model(run_id: str, checkpoint_mtime: float):
    """(model in eval mode on the server device, model_config, class_names) of a run's checkpoint.

    `checkpoint_mtime` is part of the cache key, so a newer checkpoint is reloaded.
    """
    from vitcore.runs.checkpoint import load_model_from_run

    run = get_run_store().get(run_id)
    return load_model_from_run(run, get_device())


@st.cache_resource(show_spinner="Evaluating on the validation split…", max_entries=16)
def evaluate_run(run_id: str, checkpoint_mtime: float, source: str, drop_multilabel: bool, drop_leaked: bool):
    """vitcore.evaluate.evaluate of a run's checkpoint on the val split of a dataset (cached per run + data)."""
    from app.services.inference import inference_threads, torch_threads
    from vitcore.evaluate import evaluate

    model, _, class_names = load_run_model(run_id, checkpoint_mtime)
    data = dataset_for(source, drop_multilabel, drop_leaked)
    with torch_threads(inference_threads(get_scheduler(), get_device())):  # leaves the trainer's cores alone
        return evaluate(model, data.val, class_names or data.class_names, get_device())
