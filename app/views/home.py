"""Home: what the app teaches, the active dataset, the device, and one-click training."""

import streamlit as st

from app import state
from app.services import run_control, training
from app.components.live import progress_line
from app.components.page import open_page
from vitcore.device import describe_device
from vitcore.errors import VitcoreError

page = open_page(
    ":material/school: ViT Classroom",
    "Build, train and look inside a **Vision Transformer** and a **CNN** on small 64×64 images, live in class.\n\n"
    "- **Data** – see the images, count the classes, catch greyscale, multi-label and leaked files.\n"
    "- **Train** – pick a recipe, watch loss and accuracy move, see overfitting as the gap between train and val.\n"
    "- **Attention** – what does each layer and head of the ViT look at?\n"
    "- **Inside the ViT** – one picture's walk from pixels to prediction, step by step, on your own model.\n"
    "- **Compare** – ViT vs CNN: confusion matrices, per-class accuracy, the images they get wrong.\n"
    "- **Attention lab** – three ways to code self-attention, and the homework's bugs one switch at a time.",
)
owner, store, scheduler, device = page.owner, page.store, page.scheduler, page.device

# ------------------------------------------------------------------ dataset + device
data_column, device_column = st.columns([3, 2])
with data_column:
    st.subheader("Active dataset")
    source = state.active_source()
    data = page.data_or_stop()
    if source == state.SYNTHETIC_SOURCE:
        st.info(
            "You are using the **embedded synthetic dataset**: five classes of drawn objects on backgrounds, with an object "
            "mask for every image (so we can score where attention lands). To use real photos, choose a folder or build one "
            "from COCO on the **Data** page."
        )
    st.markdown(f"**{data.source}**")
    st.caption(
        f"{len(data.class_names)} classes ({', '.join(data.class_names)}) · {len(data.train)} training and "
        f"{len(data.val)} validation images of {data.image_size}×{data.image_size} pixels"
    )
    with st.expander("Dataset id (for the command line and the run folders)"):
        st.code(data.dataset_id, language=None)
    st.page_link("views/data.py", label="Change or inspect the data", icon=":material/photo_library:")
with device_column:
    st.subheader("Device")
    st.metric("training runs on", describe_device(device))
    if device.type == "cpu":
        st.caption("No GPU found: the classroom presets are sized to train on a CPU in minutes; the big ones will be slow.")
    else:
        st.caption("A GPU is available: every preset trains quickly here.")

# ------------------------------------------------------------------ one click
st.subheader("Train a ViT and a CNN on this data")
requests = training.classroom_requests(data)
st.markdown(
    f"One click trains two recipes on the active dataset, one after the other: **{requests[0].title}**, then "
    f"**{requests[1].title}**. Then compare them on the Compare page. Everyone connected sees the runs; only you can stop them. "
    "The server trains a limited number of runs at once, so yours may wait in a queue first."
)
st.caption(" ".join(f"{request.title}: {request.measured}" for request in requests if request.measured))
if st.button("Train a ViT and a CNN on this data", type="primary", key="home_train_both"):
    try:
        run_ids = training.submit_runs(scheduler, owner, data, requests)
    except VitcoreError as error:
        st.error(str(error))
    else:
        st.session_state["home_queue"] = run_ids
        state.set_selected_run(run_ids[0])
        st.toast("Submitted: the ViT first, then the CNN.")


@st.fragment(run_every=1.5)
def home_progress() -> None:
    """Progress (or queue position) of this session's one-click runs, refreshed every 1.5 s."""
    run_ids = st.session_state.get("home_queue", [])
    if not run_ids:
        active = scheduler.active_runs()
        if active:
            waiting = len(active) - scheduler.running_count()
            st.caption(f"{scheduler.running_count()} run(s) training and {waiting} waiting on this server right now; see the Train page.")
        else:
            st.caption("No training started from this page yet.")
        return
    infos = {item.id: item for item in store.list_runs()}
    for run_id in run_ids:
        activity = run_control.run_activity(scheduler, run_id)
        info = infos.get(run_id)
        if info is None:  # deleted by its owner or the instructor
            st.caption(f"{run_id} · deleted")
        elif activity.state == "queued":
            st.progress(0.0, text=f"{run_id} · queued · {run_control.queue_text(activity.queue_position)}")
        elif activity.snapshot is not None:
            progress_line(run_id, activity.snapshot)
        else:  # the server restarted: read the folder
            st.progress(min(1.0, info.epochs_completed / max(info.epochs_planned, 1)), text=f"{run_id} · {info.status}")
    still_active = [run_id for run_id in run_ids if run_control.is_active(scheduler, run_id)]
    if still_active:
        if st.button("Stop these runs", key="home_stop", help="Stops the training run (with a checkpoint) and takes the waiting one out of the queue."):
            for run_id in still_active:
                try:
                    scheduler.stop(run_id, owner, state.admin_token())
                except VitcoreError:
                    pass  # it ended (or was deleted) a moment ago
            st.toast("Stopping… a checkpoint is saved first, so you can resume later.")
    else:
        st.success("Done. Compare the two models on the **Compare** page, or look inside the ViT on the **Attention** page.")


home_progress()
