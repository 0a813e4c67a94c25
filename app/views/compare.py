"""Compare: a ViT and a CNN on the same validation images, side by side."""

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app import state
from app.services import run_tools
from app.components import charts
from app.components.page import open_page
from app.components.data_efficiency import data_efficiency_section
from app.components.explanation_scores import explanation_scores_section
from app.components.run_picker import deleted_warning, forget_deleted_runs
from vitcore.errors import RunError, VitcoreError

page = open_page(
    ":material/compare: Compare a ViT with a CNN",
    "Same validation images, two very different models. The confusion matrices show *which* classes each model mixes up; "
    "the learning curves show how fast each learned and how much it overfits.",
)
store = page.store
all_runs = store.list_runs()
runs = [info for info in all_runs if info.has_checkpoint]
forget_deleted_runs([info.id for info in all_runs], widget_keys=("compare_vit", "compare_cnn"))
vit_runs = [info for info in runs if info.model_kind == "vit"]
cnn_runs = [info for info in runs if info.model_kind == "cnn"]
if not vit_runs or not cnn_runs:
    missing = " and ".join(kind for kind, found in (("ViT", vit_runs), ("CNN", cnn_runs)) if not found)
    st.info(
        f"No {missing} run with a checkpoint yet — start one on the **Train** page, or press "
        "**Train a ViT and a CNN on this data** on **Home**."
    )
    st.page_link("views/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

left, right = st.columns(2)
vit_labels = {info.id: info.choice_label for info in vit_runs}  # stable text: a status change keeps the choice
cnn_labels = {info.id: info.choice_label for info in cnn_runs}
vit_id = left.selectbox("ViT run", list(vit_labels), format_func=lambda run_id: vit_labels.get(run_id, run_id), key="compare_vit")
cnn_id = right.selectbox("CNN run", list(cnn_labels), format_func=lambda run_id: cnn_labels.get(run_id, run_id), key="compare_cnn")
chosen = {"ViT": next(i for i in vit_runs if i.id == vit_id), "CNN": next(i for i in cnn_runs if i.id == cnn_id)}

source = state.active_source()
drop_multilabel, drop_leaked = state.hygiene_flags()
data = page.data_or_stop()
results = {}
for kind, info in chosen.items():
    try:
        results[kind] = state.evaluate_run(info.id, info.checkpoint_mtime, source, drop_multilabel, drop_leaked)
    except RunError as error:
        if not store.root.joinpath(info.id).is_dir():  # deleted between the listing and the evaluation
            deleted_warning(info.id, f"Pick another {kind} run above.")
        else:  # a corrupt checkpoint or config: an error for this run only
            st.error(f"{kind} run `{info.id}` cannot be loaded: {error}. Pick another {kind} run above.")
    except VitcoreError as error:
        st.error(str(error))
if len(results) < len(chosen):
    st.stop()
if any(list(result.class_names) != list(data.class_names) for result in results.values()):
    st.warning("A run was trained with different class names than the active dataset; pick the matching dataset on the Data page.")
if results["ViT"].class_names != results["CNN"].class_names:
    st.error("The two runs have different classes, so their confusion matrices cannot be compared.")
    st.stop()
class_names = list(results["ViT"].class_names)
st.caption(f"Evaluated on the {len(data.val)} validation images of **{data.source}** (cached per run and dataset).")

# ------------------------------------------------------------------ accuracy table
st.subheader("Accuracy")
table = pd.DataFrame({"class": ["overall"] + class_names})
for kind, result in results.items():
    table[kind] = [result.accuracy] + list(result.per_class["recall"])
table["support"] = [int(sum(results["ViT"].per_class["support"]))] + list(results["ViT"].per_class["support"])
table["ViT − CNN"] = table["ViT"] - table["CNN"]
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "ViT": st.column_config.ProgressColumn("ViT", format="percent", min_value=0, max_value=1),
        "CNN": st.column_config.ProgressColumn("CNN", format="percent", min_value=0, max_value=1),
        "ViT − CNN": st.column_config.NumberColumn("ViT − CNN", format="percent"),
    },
)
st.caption("Per-class accuracy is the recall of that class: of the images that truly are this class, how many were recognised.")

# ------------------------------------------------------------------ confusion matrices
st.subheader("Confusion matrices")
normalised = st.toggle("row-normalised (each row sums to 1)", value=False, key="compare_normalised")
matrices = {}
for kind, result in results.items():
    counts = np.asarray(result.confusion, dtype=float)  # (C, C)
    if normalised:
        row_totals = counts.sum(axis=1, keepdims=True)  # (C, 1)
        counts = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)
    matrices[kind] = counts
shared_zmax = 1.0 if normalised else max(float(matrix.max()) for matrix in matrices.values()) or 1.0
CELL_KEY = "compare_cell_select"  # session key of the "model · true class → predicted class" picker
CLICKS_KEY = "compare_clicks"  # session key: the cell selected in each matrix at the previous run
clicked_cells = {}  # kind -> (true class, predicted class) selected in that matrix now
columns = st.columns(2)
for column, (kind, matrix) in zip(columns, matrices.items()):
    with column:
        event = st.plotly_chart(
            charts.confusion_matrix(matrix, class_names, f"{kind}: {results[kind].accuracy:.1%} correct", shared_zmax, normalised),
            key=f"compare_matrix_{kind}",
            on_select="rerun",
            selection_mode="points",
        )
        points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else getattr(getattr(event, "selection", None), "points", [])
        if points:
            clicked_cells[kind] = (str(points[0]["y"]), str(points[0]["x"]))
st.caption(
    "Rows are the true class, columns the predicted class, in the same order for both models; both use the same colour scale, "
    "so equal shades mean equal values. The diagonal holds the correct answers. Click a cell to see its images."
)

# ------------------------------------------------------------------ images behind a cell
st.subheader("The images behind a cell")
pairs = [(kind, true, pred) for kind in results for true in class_names for pred in class_names]
previous_clicks = st.session_state.get(CLICKS_KEY, {})
for kind, (true, predicted) in clicked_cells.items():
    if previous_clicks.get(kind) != (true, predicted) and (kind, true, predicted) in pairs:  # a new click in this matrix
        st.session_state[CELL_KEY] = (kind, true, predicted)  # set before the picker is drawn, so it shows that cell
st.session_state[CLICKS_KEY] = clicked_cells
if st.session_state.get(CELL_KEY) not in pairs:  # first visit, or the classes changed
    st.session_state[CELL_KEY] = pairs[1] if len(pairs) > 1 else pairs[0]  # the first mistake: airplane → bus
cell = st.selectbox(
    "model · true class → predicted class",
    pairs,
    format_func=lambda pair: f"{pair[0]} · {pair[1]} → {pair[2]}",
    key=CELL_KEY,
    help="Or click a cell of either matrix above.",
)
kind, true_name, pred_name = cell
result = results[kind]
true_index, pred_index = class_names.index(true_name), class_names.index(pred_name)
indices = np.nonzero((result.labels == true_index) & (result.predictions == pred_index))[0]
if len(indices) == 0:
    st.info(f"The {kind} put no {true_name} image into {pred_name}.")
else:
    shown = indices[:24]
    st.caption(f"{len(indices)} image(s); showing {len(shown)}. The number under each is the model's confidence in its answer.")
    grid = st.columns(8)
    for position, index in enumerate(shown):
        pixels = data.val.images[int(index)].permute(1, 2, 0).cpu().numpy()  # (S, S, 3) uint8
        confidence = float(result.probabilities[int(index)].max())
        grid[position % 8].image(Image.fromarray(np.ascontiguousarray(pixels)), caption=f"{confidence:.0%}", width="stretch")

# ------------------------------------------------------------------ learning curves
st.subheader("Learning curves")
epochs_by_run = {}  # "ViT"/"CNN" -> per-epoch frame
for kind, info in chosen.items():
    try:
        epochs_by_run[kind] = run_tools.epoch_frame(store.get(info.id).read_metrics())
    except RunError:  # deleted a moment ago: its curve is simply left out
        continue
st.plotly_chart(charts.epoch_accuracy(epochs_by_run), key="compare_curves")
st.caption(
    "Dashed = training accuracy, solid = validation accuracy. A growing gap between them is overfitting; ViTs usually need "
    "more data or augmentation than CNNs before they stop overfitting small datasets."
)

# ------------------------------------------------------------------ explanations scored against object masks
explanation_scores_section(chosen, data)

# ------------------------------------------------------------------ accuracy against training-set size
data_efficiency_section(store, page.scheduler, page.owner, data)
