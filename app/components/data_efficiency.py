"""The Compare page's inductive-bias lesson: accuracy against training-set size, and the button that measures it.

The chart is drawn from the runs store: every finished `vit-classroom*` and `cnn-hw4*` run on the active dataset
counts, whoever started it and however (the sweep, the Train page's share slider, the CLI's --train-fraction).
The button queues the sweep (app/services/sweep.py); while its plan has runs left to submit, a fragment submits
them as the session's earlier runs finish.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components import charts
from app.services import sweep
from vitcore.data.subset import training_subset
from vitcore.errors import RunError

SWEEP_REFRESH_S = 3.0  # how often a pending sweep tries to submit its next runs
SERIES = {"vit-classroom": "ViT (classroom)", "cnn-hw4": "CNN (hw4)"}  # run-name prefix -> line on the chart


def size_points(store, data) -> pd.DataFrame:
    """(model, train_images, val_acc, runs): the mean final accuracy of the finished runs at each training-set size."""
    rows = []
    for info in store.list_runs():
        series = next((title for prefix, title in SERIES.items() if (info.name or "").startswith(prefix)), None)
        if series is None or info.status != "finished" or info.dataset_id != data.dataset_id or info.last_val_acc is None:
            continue
        try:
            train_config = info.run.config().get("train_config", {})
        except RunError:
            continue
        fraction, seed = float(train_config.get("train_fraction", 1.0)), int(train_config.get("seed", 0))
        pictures = len(training_subset(data.train, fraction, seed))  # what the run trained on (at least 1 per class)
        rows.append({"model": series, "train_images": pictures, "val_acc": info.last_val_acc})
    frame = pd.DataFrame(rows, columns=["model", "train_images", "val_acc"])
    return (frame.groupby(["model", "train_images"], as_index=False)
            .agg(val_acc=("val_acc", "mean"), runs=("val_acc", "size")))


@st.fragment(run_every=SWEEP_REFRESH_S)
def feed_the_sweep(scheduler, runs_root, owner: str, data) -> None:
    """While this session's sweep has runs left to submit: submit what the queue takes, say what is left."""
    plan = sweep.advance(scheduler, runs_root, owner, data)
    if plan is None or not plan.pending:
        return
    if plan.dataset_id != data.dataset_id:
        st.info("Your sweep was planned on another dataset; switch back to it on the Data page to continue it, or cancel it.")
    else:
        st.info(f"Sweep: {len(plan.submitted)} run(s) queued or done, {len(plan.pending)} to go. They start as your earlier "
                "runs finish (a session may have only a few runs queued at once); keep this page open.")
    if st.button("Cancel the rest of the sweep", key="compare_sweep_cancel",
                 help="Runs already submitted go on; cancel them on the Train page."):
        sweep.save_plan(runs_root, owner, None)
        st.rerun(scope="app")


def data_efficiency_section(store, scheduler, owner: str, data) -> None:
    st.subheader("How much data does each model need?")
    st.markdown(
        "A CNN's convolutions build in two assumptions about pictures: nearby pixels belong together (locality) and "
        "a cat is a cat wherever it sits (translation equivariance). A plain ViT starts without them and must learn "
        "them from the data, so the textbook expects it to fall further behind the CNN the less data it gets. Check it "
        "here, and mind the recipes: the classroom ViT makes its tokens with a few convolutions (some of the same "
        "built-in assumptions) and trains with augmentation, while the homework's CNN has none and memorises its "
        "training set."
    )
    points = size_points(store, data)
    if points.empty:
        st.caption("No finished classroom-ViT or hw4-CNN run on this dataset yet: queue the sweep below.")
    else:
        st.plotly_chart(charts.accuracy_against_size(points), key="compare_data_efficiency")
        st.caption("Each point: the mean final validation accuracy of the finished runs with that many training pictures "
                   "(the same validation pictures for all). Runs started by hand with a share of the training set count too.")
    plan = sweep.load_plan(store.root, owner)
    busy = plan is not None and bool(plan.pending)
    st.button("Queue the sweep: both models on 10, 25, 50 and 100 % of the training set (8 runs)",
              key="compare_sweep", disabled=busy, on_click=start_sweep, args=(store.root, owner, data),
              help="Eight ordinary runs through the server's queue; each can be cancelled on the Train page.")
    if busy:  # only a session with runs left to submit polls
        feed_the_sweep(scheduler, store.root, owner, data)


def start_sweep(runs_root, owner: str, data) -> None:
    """The button's callback: runs before the page, so the page already shows the plan (and a disabled button)."""
    sweep.save_plan(runs_root, owner, sweep.new_plan(data))
    st.toast("Sweep planned: the first runs are queued now.")
