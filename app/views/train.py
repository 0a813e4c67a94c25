"""Train: pick a recipe, see its size and cost, train in the background, watch it live."""

import dataclasses

import pandas as pd
import streamlit as st

from app import state
from app.services import run_control, run_tools, training
from app.components.live import progress_line
from app.components.page import open_page
from app.components.timelapse import probe_strip
from app.live_curves import REFRESH_S, live_curves_for, shared_overlay_figure, shared_run_list
from app.components.run_picker import deleted_warning, forget_deleted_runs
from vitcore.models.cost import estimate_training_seconds, format_count, format_seconds, measure_matmul_flops, model_cost
from vitcore.errors import RunError, VitcoreError
from vitcore.models.attention import ATTENTION_VARIANTS
from vitcore.presets import get_preset, list_presets
from vitcore.train.config import AUGMENTATIONS, MAX_DEMO_PACE_S
from vitcore.data.subset import training_subset
from vitcore.train.engine import steps_per_epoch_for

HOMEWORK_CPU_WARNING_PARAMS = 100_000_000  # warn above this many parameters when training on a CPU
MODEL_KIND_NAMES = {"vit": "Vision Transformer", "cnn": "CNN (convolutional network)"}  # the model picker's words
AUGMENTATION_NAMES = {
    "none": "none",
    "flip_crop": "flip + shifted crop",
    "strong": "strong (zoom, colour, cut-out)",
}  # the augmentation picker's words for vitcore's AUGMENTATIONS
OVERVIEW_REFRESH_S = 3.0  # while a run is queued or training, the overlay and the run table redraw this often
WATCH_KEY = "train_watch_select"  # session key of the "watch run" picker
ACTIVE_AT_PAGE_RUN_KEY = "train_active_at_page_run"  # session key: the runs queued or training at the last whole-page run

page = open_page(
    ":material/model_training: Train",
    "Choose a model and a recipe. The numbers below update **before** you start: how many weights the model has and "
    "roughly how long training will take on this machine. Training runs in the background; you can leave the page, "
    "refresh or open it on another computer and the run keeps going.",
)
owner, admin_token, store, scheduler, device = page.owner, page.admin_token, page.store, page.scheduler, page.device
data = page.data_or_stop()


@st.cache_resource(show_spinner=False)
def device_flops(device_text: str) -> float:
    """Measured matmul FLOP/s of the training device (once per server)."""
    import torch

    return measure_matmul_flops(torch.device(device_text))


@st.cache_data(show_spinner=False)
def cached_cost(model_config_text: str, model_kind: str):
    """Parameter count and FLOPs of a model config (built on the meta device, never allocated)."""
    from vitcore.models.config import model_config_from_dict
    import json

    return model_cost(model_config_from_dict(json.loads(model_config_text)))


# ------------------------------------------------------------------ recipe
recipe_column, cost_column = st.columns([3, 2])
with recipe_column:
    st.subheader("1 · Recipe")
    kind = st.radio("model", ["vit", "cnn"], horizontal=True, format_func=MODEL_KIND_NAMES.get, key="train_kind")
    preset_names = list_presets(kind)
    preset_titles = {name: get_preset(kind, name).title for name in preset_names}  # plain names; the ids stay for the CLI
    default_preset = "classroom" if "classroom" in preset_names else preset_names[0]
    preset_name = st.selectbox(
        "recipe", preset_names, index=preset_names.index(default_preset), format_func=preset_titles.get,
        key=f"train_preset_{kind}",
    )
    preset = training.preset_for_data(kind, preset_name, data)
    st.caption(f"{preset.summary} {preset.measured_text(training.dataset_family(data))}")
    with st.expander("How this recipe works, and its name on the command line"):
        st.markdown(preset.description)
        st.code(f"python -m vitcore train --model {kind} --preset {preset_name}", language="bash")
    model_config = preset.model_config
    base = preset.train_config
    suffix = f"{kind}_{preset_name}"  # widget keys per preset, so switching presets shows that preset's defaults
    clamped: list[str] = []  # settings whose default (e.g. from VIT_CLASSROOM_TRAIN_OVERRIDES) lies outside the input's range

    def bounded_number(column, label: str, low, high, default, **options):
        """A number_input whose default is clamped into [low, high]: an out-of-range default would crash the page."""
        value = min(max(default, low), high)
        if value != default:
            clamped.append(f"{label} {default} → {value}")
        return column.number_input(label, low, high, value, **options)

    st.markdown("**Change these first**")
    first, second, third = st.columns(3)
    epochs = bounded_number(
        first, "epochs", 1, 500, int(base.epochs), key=f"train_epochs_{suffix}",
        help="Passes over the training images. More epochs: higher accuracy, until the model starts to overfit.",
    )
    lr = bounded_number(
        second, "learning rate", 1e-6, 10.0, float(base.lr), format="%.6f", key=f"train_lr_{suffix}",
        help="How big each step of learning is: too small learns slowly, too large makes the loss jump around.",
    )
    augmentation = third.selectbox(
        "augmentation", list(AUGMENTATIONS), index=list(AUGMENTATIONS).index(base.augmentation),
        format_func=AUGMENTATION_NAMES.get, key=f"train_aug_{suffix}",
        help="Random changes to each training picture, so the model cannot memorise them: it fights overfitting.",
    )
    with st.expander("More settings"):
        first, second, third = st.columns(3)
        if kind == "vit" and model_config.homework_bugs is None:
            attention = first.selectbox(
                "attention implementation",
                list(ATTENTION_VARIANTS),
                index=list(ATTENTION_VARIANTS).index(model_config.attention),
                key=f"train_attention_{preset_name}",
                help="Same numbers, different code (see the Attention lab, which times all three on this machine).",
            )
            model_config = dataclasses.replace(model_config, attention=attention)
        batch_size = bounded_number(second, "batch size", 1, 4096, int(base.batch_size), key=f"train_batch_{suffix}")
        seed = bounded_number(third, "seed", 0, 1_000_000, int(base.seed), key=f"train_seed_{suffix}")
        weight_decay = bounded_number(first, "weight decay", 0.0, 1.0, float(base.weight_decay), format="%.4f", key=f"train_wd_{suffix}")
        label_smoothing = bounded_number(
            second, "label smoothing", 0.0, 0.9, float(base.label_smoothing), step=0.05, key=f"train_ls_{suffix}"
        )
        max_batches = bounded_number(
            third, "max batches per epoch (0 = all)", 0, 100_000, int(base.max_train_batches_per_epoch or 0), key=f"train_maxb_{suffix}",
            help="A quick demo: stop each epoch after this many batches.",
        )
        demo_pace = bounded_number(
            first, "demo pace (s per step, 0 = full speed)", 0.0, MAX_DEMO_PACE_S, float(base.min_seconds_per_step), step=0.1,
            key=f"train_pace_{suffix}",
            help="Slow motion for a lecture: on a fast GPU a run can end before anyone sees the curves move.",
        )
        mixup_alpha = bounded_number(
            second, "MixUp strength (0 = off)", 0.0, 2.0, float(base.mixup_alpha), step=0.1, key=f"train_mixup_{suffix}",
            help="Blend two training images and their labels (weight drawn from Beta(α, α) per batch). Fights overfitting.",
        )
        cutmix_alpha = bounded_number(
            third, "CutMix strength (0 = off)", 0.0, 2.0, float(base.cutmix_alpha), step=0.1, key=f"train_cutmix_{suffix}",
            help="Paste a random box of one training image into another; the label is shared by area. "
            "With MixUp on too, each batch uses one of the two. It pays off over long runs (see the README's ablations).",
        )
    teacher_run = None
    if getattr(model_config, "distillation", False):  # DeiT: the teacher is a finished CNN run on this very dataset
        teachers = {info.id: info.choice_label for info in store.list_runs()
                    if info.model_kind == "cnn" and info.status == "finished" and info.has_checkpoint
                    and info.dataset_id == data.dataset_id}
        teacher_run = st.selectbox(
            "teacher (a finished CNN run on this dataset)", [None, *teachers], key=f"train_teacher_{suffix}",
            format_func=lambda run_id: "none: both heads learn the labels" if run_id is None else teachers[run_id],
            help="The distillation token learns this CNN's answer on every augmented batch. Only CNN runs that finished "
                 "on the active dataset are offered.",
        )
        if not teachers:
            st.caption("No finished CNN run on this dataset yet: train one first (the homework's CNN or the best CNN).")
    train_percent = st.slider(
        "share of the training set (%)", 5, 100, int(round(base.train_fraction * 100)), 5, key=f"train_share_{suffix}",
        help="Train on part of the training pictures (chosen by the seed, class by class); validation stays the same. "
             "The Compare page's data-efficiency sweep trains both models on 10, 25, 50 and 100 %.",
    )
    if clamped:
        st.caption("Defaults moved into the allowed range: " + "; ".join(clamped) + ".")
    try:
        train_config = dataclasses.replace(
            base,
            epochs=int(epochs),
            batch_size=int(batch_size),
            seed=int(seed),
            lr=float(lr),
            weight_decay=float(weight_decay),
            label_smoothing=float(label_smoothing),
            augmentation=augmentation,
            mixup_alpha=float(mixup_alpha),
            cutmix_alpha=float(cutmix_alpha),
            max_train_batches_per_epoch=int(max_batches) or None,
            min_seconds_per_step=float(demo_pace),
            train_fraction=int(train_percent) / 100,
            teacher_run=teacher_run,
        )
    except ValueError as error:
        st.error(str(error))
        st.stop()

with cost_column:
    st.subheader("2 · Before you start")
    import json

    from vitcore.models.config import config_to_dict

    cost = cached_cost(json.dumps(config_to_dict(model_config), sort_keys=True), kind)
    training_images = len(training_subset(data.train, train_config.train_fraction, train_config.seed))
    steps = steps_per_epoch_for(training_images, train_config)  # exactly what the training loop will do
    images_per_epoch = steps * int(batch_size)
    seconds = estimate_training_seconds(cost, images_per_epoch, int(epochs), device_flops(str(device)))
    left, right = st.columns(2)
    left.metric("parameters", format_count(cost.parameters))
    right.metric("estimated time", format_seconds(seconds))
    st.caption(
        f"{steps} steps per epoch × {int(epochs)} epochs on {training_images} training images. The parameter count is "
        "computed on PyTorch's meta device (no memory used); the time is a rough rule: FLOPs of the model × images ÷ "
        "the measured speed of this device."
    )
    if cost.parameters > HOMEWORK_CPU_WARNING_PARAMS and device.type == "cpu":
        st.warning(
            f"This model has {format_count(cost.parameters)} parameters (the homework's flattened-sequence layers). "
            "On a CPU it needs several GB of memory and may take hours; use a GPU or the classroom preset."
        )
    if st.button("Start training", type="primary", key="train_start"):
        try:
            run_id = training.submit_run(
                scheduler, owner, data, training.JobRequest(model_config, train_config, f"{kind}-{preset_name}")
            )
        except VitcoreError as error:
            st.error(str(error))
        else:
            state.set_selected_run(run_id)
            st.session_state["train_watch"] = run_id  # the "watch run" picker below shows it (it is not created yet)
            position = scheduler.queue_position(run_id)
            st.toast(f"Started {run_id}" if position is None else f"Queued {run_id}: {run_control.queue_text(position)}")

# ------------------------------------------------------------------ live view
st.subheader("3 · Live")
runs = store.list_runs()
choices = {info.id: info.choice_label for info in runs}  # stable text for widgets: a status change keeps the choice
run_ids = list(choices)
watched_before = st.session_state.get("train_watch")
if watched_before and watched_before not in run_ids:  # deleted by another session (or by the instructor)
    st.session_state["train_watch"] = None
    state.set_selected_run(None)
    deleted_warning(watched_before, "Showing the newest run instead." if run_ids else "There is no other run to show yet.")
else:
    forget_deleted_runs(run_ids, fallback="Showing the newest run instead.")
if not runs:
    st.info("No runs yet — choose a recipe above and press **Start training** (or use the one-click button on Home).")
    st.stop()


def remember_watch_choice() -> None:
    """The student picked a run to watch: stay on it (also after a refresh, through the page address)."""
    st.session_state["train_watch"] = st.session_state[WATCH_KEY]
    state.set_selected_run(st.session_state[WATCH_KEY])


chosen = st.session_state.get("train_watch") or state.selected_run()  # this tab's own choice (or the page address's)
following = chosen not in run_ids  # no run of its own chosen: follow the run that is training
if following:
    # A new tab (or one whose run was deleted) shows the run the server trains now, not the newest one, which may
    # be queued behind it; when that run ends and the next starts, the page reruns and follows the next one.
    training_now = [run_id for run_id in scheduler.training_runs() if run_id in run_ids]
    st.session_state[WATCH_KEY] = training_now[0] if training_now else run_ids[0]
else:
    st.session_state[WATCH_KEY] = chosen
watched = st.selectbox(
    "watch run", run_ids, format_func=lambda run_id: choices.get(run_id, run_id), key=WATCH_KEY, on_change=remember_watch_choice
)
if following:
    st.caption("Following the run that trains now (or the newest one); pick a run above to stay on it.")
owners = {info.id: info.owner for info in runs}  # who submitted each run (session ids)


@st.fragment(run_every=REFRESH_S)
def live_view(run_id: str) -> None:
    """Queue position, progress, cancel/stop and live charts of one run; re-runs every 1.5 s by itself."""
    try:
        store.get(run_id)  # raises RunError once the run folder is gone
    except RunError:  # deleted while this page watched it: redraw the whole page, which says so
        st.rerun(scope="app")
    activity = run_control.run_activity(scheduler, run_id)
    active = activity.state != "idle"
    was_active_key = f"train_was_active_{run_id}"  # session flag: was this run queued/training at the previous refresh?
    if st.session_state.get(was_active_key) and not active:
        st.session_state[was_active_key] = False
        st.rerun(scope="app")  # the run just ended: refresh the run table, labels and buttons outside this fragment
    st.session_state[was_active_key] = active
    allowed = run_control.may_control(scheduler, owners.get(run_id), owner, admin_token)
    try:
        curves = live_curves_for(run_id, activity, scheduler.foreground)  # one build a second for all watchers
    except RunError as error:  # a corrupt config/status file: an error for this run only
        st.error(f"Run `{run_id}` cannot be shown: {error}. Pick another run above, or delete this one.")
        return
    epochs, status, planned = curves.epochs, curves.status, curves.planned_epochs
    if activity.state == "queued":
        waiting = run_control.queue_text(activity.queue_position)
        st.progress(0.0, text=f"{run_id} · queued · {waiting}")
        st.info(
            f"This run is **{waiting}**: it starts by itself when a training slot frees up "
            f"({'1 run trains' if scheduler.slots == 1 else f'{scheduler.slots} runs train'} at a time on this server)."
        )
        if allowed:
            if st.button("Cancel (leave the queue)", key=f"train_cancel_{run_id}", help="Takes the run out of the queue; it is kept as stopped."):
                try:
                    scheduler.cancel(run_id, owner, admin_token)
                except VitcoreError as error:
                    st.error(str(error))
                else:
                    st.toast("Cancelled: the run left the queue.")
                    st.rerun(scope="app")
        else:
            st.caption("Queued by another browser session: only that session (or the instructor) can cancel it.")
    elif activity.state == "training" and activity.snapshot is not None:
        progress_line(run_id, activity.snapshot)
        if allowed:
            if st.button("Stop", key=f"train_stop_{run_id}", help="Stops before the next step and saves a checkpoint."):
                try:
                    scheduler.stop(run_id, owner, admin_token)
                except VitcoreError as error:
                    st.error(str(error))
                else:
                    st.toast("Stopping…")
        else:
            st.caption("Started from another browser session: only that session (or the instructor) can stop it.")
    else:
        st.progress(min(1.0, len(epochs) / planned), text=f"{run_id} · {status.get('status')} · {len(epochs)}/{planned} epochs · {status.get('message', '')}")
    chart_left, chart_right = st.columns(2)
    with chart_left:
        if curves.iteration_figure is None:
            st.caption("The per-iteration loss appears after the first training steps (it is saved with the run).")
        else:
            st.plotly_chart(curves.iteration_figure, key=f"train_iter_{run_id}")
            averaged = f" Each point averages {curves.steps_per_point} steps." if curves.steps_per_point > 1 else ""
            st.caption(f"Loss should fall and running accuracy rise; noisy curves are normal with small batches.{averaged}")
    with chart_right:
        if curves.epoch_figure is None:
            st.caption("Per-epoch train and validation accuracy appear after the first epoch.")
        else:
            st.plotly_chart(curves.epoch_figure, key=f"train_epochs_{run_id}")
            st.caption("Dashed = train, solid = validation. When train keeps rising and val stalls, the model overfits.")
    watched_run = store.get(run_id)
    if watched_run.timelapse_path.exists():  # a ViT run: its probe pictures as it sees them now
        probe_strip(watched_run, watched_run.config().get("class_names", []))


live_view(watched)

# ------------------------------------------------------------------ overlay + run table
def started_by(run_owner: str | None) -> str:
    if run_owner is not None and run_owner == owner:
        return "you"
    return "another session" if run_owner else "unknown"


def queue_column(run_id: str) -> str:
    position = scheduler.queue_position(run_id)
    return run_control.queue_text(position) if position is not None else ""


def runs_overview() -> None:
    """Sections 4 and 5: the overlay of several runs and the table of all runs, read afresh on every run.

    While a run is queued or training this is a fragment that redraws itself every OVERVIEW_REFRESH_S, so the
    overlay and the table move with the live view instead of staying at the epoch they showed when the page opened.
    When a run that was active at the last page run has ended, the whole page runs again: the buttons below
    (resume, download, delete) and the run pickers then see it ended, whichever run this tab watches.
    """
    if set(st.session_state.get(ACTIVE_AT_PAGE_RUN_KEY, ())) - set(scheduler.active_runs()):
        st.rerun(scope="app")
    overview_runs = shared_run_list()  # one read per second for every tab on this page
    overview_labels = {info.id: info.label for info in overview_runs}
    overview_choices = {info.id: info.choice_label for info in overview_runs}
    st.subheader("4 · Overlay several runs")
    overlay_options = [info.id for info in overview_runs if info.error is None]
    if "train_overlay" in st.session_state:  # drop runs deleted since the last visit (before the widget is created)
        st.session_state["train_overlay"] = [run_id for run_id in st.session_state["train_overlay"] if run_id in overlay_options]
        overlay_ids = st.multiselect(
            "runs", overlay_options, format_func=lambda run_id: overview_choices.get(run_id, run_id), key="train_overlay"
        )
    else:
        overlay_ids = st.multiselect(
            "runs", overlay_options, default=overlay_options[: min(2, len(overlay_options))],
            format_func=lambda run_id: overview_choices.get(run_id, run_id), key="train_overlay",
        )
    overlay_figure = shared_overlay_figure(tuple(overlay_ids), tuple(overview_labels[run_id] for run_id in overlay_ids))
    if overlay_figure is not None:
        st.plotly_chart(overlay_figure, key="train_overlay_chart")
        st.caption("Each colour is one run; compare recipes on the same axes (dashed = train, solid = val).")

    st.subheader("5 · All runs")
    table = pd.DataFrame(
        [
            {
                "run": info.id,
                "model": info.model_kind,
                "status": info.status,
                "queue": queue_column(info.id),
                "started by": started_by(info.owner),
                "epochs": f"{info.epochs_completed}/{info.epochs_planned or '?'}",
                "val acc": info.last_val_acc,
                "checkpoint": "yes" if info.has_checkpoint else "no",
                "message": info.error or info.message,
            }
            for info in overview_runs
        ]
    )
    st.dataframe(
        table, hide_index=True, key="train_runs_table",
        column_config={
            "val acc": st.column_config.NumberColumn(format="percent"),
            "queue": st.column_config.TextColumn(width="medium"),  # "12th in the queue" fits
        },
    )


active_at_page_run = scheduler.active_runs()
st.session_state[ACTIVE_AT_PAGE_RUN_KEY] = active_at_page_run
st.fragment(runs_overview, run_every=OVERVIEW_REFRESH_S if active_at_page_run else None)()

selected_info = next(info for info in runs if info.id == watched)
watched_active = run_control.is_active(scheduler, watched)
allowed_here = run_control.may_control(scheduler, selected_info.owner, owner, admin_token)
not_yours = "Only the session that started this run (or the instructor, with the sidebar's token) can do this."
action_resume, action_checkpoint, action_csv, action_delete = st.columns(4)
with action_resume:
    can_resume = selected_info.status in ("stopped", "interrupted") and selected_info.has_checkpoint and not watched_active
    if st.button("Resume this run", disabled=not (can_resume and allowed_here), key="train_resume",
                 help="Continue from the last checkpoint." if allowed_here else not_yours):
        try:
            training.resume_run(scheduler, owner, admin_token, data, watched)
        except VitcoreError as error:
            st.error(str(error))
        else:
            st.toast(f"Resumed {watched}")
            st.rerun()
try:
    run = store.get(watched)
except RunError:  # deleted a moment ago by another session
    deleted_warning(watched, "Reload the page to see the remaining runs.")
    st.stop()
with action_checkpoint:
    checkpoint_bytes = None
    if selected_info.has_checkpoint and not watched_active:
        try:
            checkpoint_bytes = run.checkpoint_path.read_bytes()
        except OSError:  # deleted or being replaced right now
            checkpoint_bytes = None
    if checkpoint_bytes is not None:
        st.download_button(
            "Download checkpoint", data=checkpoint_bytes, file_name=f"{watched}.pt",
            mime="application/octet-stream", key="train_download_ckpt", on_click="ignore",
        )
    else:
        st.caption("The checkpoint can be downloaded once the run is not training.")
with action_csv:
    records = run.read_metrics()
    st.download_button(
        "Download metrics (CSV)", data=run_tools.metrics_csv(records), file_name=f"{watched}-metrics.csv",
        mime="text/csv", key="train_download_csv", disabled=not records, on_click="ignore",
    )
with action_delete:
    if st.button("Delete this run", key="train_delete", disabled=not allowed_here,
                 help="Removes the run folder (checkpoint, metrics, curves)." if allowed_here else not_yours):
        st.session_state["train_delete_confirm"] = watched
if st.session_state.get("train_delete_confirm") == watched:
    still = " It is still queued or training: it is stopped first." if watched_active else ""
    st.warning(f"Delete run `{watched}` and all of its files? This cannot be undone.{still}")
    confirm_column, keep_column, _ = st.columns([1, 1, 3])
    if confirm_column.button("Yes, delete it", type="primary", key="train_delete_yes"):
        try:
            scheduler.delete(watched, owner, admin_token)
        except VitcoreError as error:
            st.error(str(error))
        else:
            st.session_state.pop("train_delete_confirm", None)
            st.session_state["train_watch"] = None
            st.session_state.pop("train_watch_select", None)
            state.set_selected_run(None)
            st.toast(f"Deleted {watched}")
            st.rerun()
    if keep_column.button("Keep it", key="train_delete_no"):
        st.session_state.pop("train_delete_confirm", None)
        st.rerun()
