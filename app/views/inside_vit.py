"""Inside the ViT: one picture's walk from pixels to prediction, on the student's own trained run.

Seven steps, each with a few plain sentences, the formula, the vitcore code that computes it (read from the
code itself with inspect.getsource, so the text cannot drift from it) and a "predict first" question. The
step and the validation picture live in the page address (?step=4&picture=12), so a teacher can put one link
on the projector and every student lands on the same step. The numbers come from
vitcore.explain.walkthrough.walk_through, computed once per run, checkpoint and picture.
"""

import hashlib
import inspect

import numpy as np
import streamlit as st
from PIL import Image

from app.components import charts
from app.components.page import open_page
from app.components.run_picker import load_run_or_stop, vit_runs_or_stop
from app.components.timelapse import epoch_replay
from app.services.inference import SINGLE_PICTURE_THREADS, torch_threads
from app.services.uploads import UPLOAD_TYPES, read_uploaded_image
from vitcore.data.dataset import to_float
from vitcore.errors import VitcoreError
from vitcore.explain.overlay import patch_grid_picture
from vitcore.explain.walkthrough import can_walk_through

STEPS = (
    "1 · The picture and its patches",
    "2 · Tokens",
    "3 · Position embeddings",
    "4 · Attention, layer by layer",
    "5 · The residual stream",
    "6 · Logit lens",
    "7 · The prediction",
)
STEP_KEY, PICTURE_KEY = "step", "picture"  # page-address keys: ?step=1..7&picture=<validation index>
SHOWN_SIDE = 256  # the picture is drawn this many pixels wide with its patch grid


@st.cache_resource(max_entries=32, show_spinner="Following the picture through the model…")
def walk_for(run_id: str, checkpoint_mtime: float, digest: str, _model, _pixels):
    """walk_through of one picture, computed once per (run, checkpoint version, picture content) for every session."""
    from vitcore.explain.walkthrough import walk_through

    with torch_threads(SINGLE_PICTURE_THREADS):  # one thread: a training run keeps its cores
        return walk_through(_model, to_float(_pixels.unsqueeze(0)))  # (1, 3, S, S) in [0, 1]


def remembered_step() -> int:
    """The step from this session, else from the page address (1 when absent or not a step number)."""
    if "inside_step" not in st.session_state:
        text = st.query_params.get(STEP_KEY, "1")
        number = int(text) if text.isdigit() and 1 <= int(text) <= len(STEPS) else 1
        if text != str(number):
            st.warning(f"There is no step {text!r}; showing step 1. Steps go from 1 to {len(STEPS)}.")
        st.session_state["inside_step"] = STEPS[number - 1]
    return STEPS.index(st.session_state["inside_step"]) + 1


def move(offset: int) -> None:
    """Back / Next: the step picker's value moves by `offset` (called before the page runs again)."""
    index = STEPS.index(st.session_state["inside_step"]) + offset
    st.session_state["inside_step"] = STEPS[min(max(index, 0), len(STEPS) - 1)]


def predict_first(question: str, answer: str, key: str) -> None:
    """A question to answer before looking; the answer appears on a click."""
    with st.container(border=True):
        st.markdown(f":material/help: **Predict first:** {question}")
        if st.toggle("show the answer", key=f"inside_answer_{key}"):
            st.markdown(answer)


def show_source(*functions) -> None:
    """The vitcore code this step runs, read from the code itself."""
    with st.expander("The code that computes this (from vitcore)"):
        for function in functions:
            st.code(inspect.getsource(function), language="python")


def token_names(walk) -> list[str]:
    return ["CLS", "DIST"][: walk.num_prefix_tokens] + [f"p{index}" for index in range(walk.grid_size**2)]


# ------------------------------------------------------------------ the steps
def step_patches(walk, pixels, model) -> None:
    st.markdown(
        f"The model never sees the picture as a whole. It cuts the {pixels.shape[0]}×{pixels.shape[1]} picture into a "
        f"{walk.grid_size}×{walk.grid_size} grid of {pixels.shape[0] // walk.grid_size}×{pixels.shape[0] // walk.grid_size} "
        "patches and reads them in order, left to right and top to bottom: p0 is the top-left patch. "
        "Everything after this step is about these patches and how they talk to each other."
    )
    st.latex(r"\text{patches} = \frac{S}{p} \times \frac{S}{p} = %d \times %d = %d" % (walk.grid_size, walk.grid_size, walk.grid_size**2))
    predict_first("How many tokens will the transformer work with for this picture?",
                  f"{walk.grid_size ** 2} patch tokens" + (" plus one CLS token." if walk.num_prefix_tokens else " (no CLS token: this model pools all tokens)."),
                  "patches")
    st.image(patch_grid_picture(pixels, walk.grid_size, SHOWN_SIDE), width=SHOWN_SIDE, caption="The picture the model sees, with its patches numbered")
    show_source(type(model.tokenizer).forward)


def step_tokens(walk, model) -> None:
    st.markdown(
        "Each patch becomes one vector of the model's width, a **token**. "
        + ("Here one linear projection turns the 16·16·3 numbers of a patch into the token; its learned filters are shown below "
           "(each filter is one output feature, drawn as a small picture)."
           if walk.tokenizer == "patch" else
           "Here a small stack of stride-2 convolutions makes the tokens (a hybrid ViT): each stage halves the picture, "
           "until one position per patch is left. Below: the first feature maps after each stage.")
        + " A learned CLS token is put in front when the model classifies from it."
    )
    st.latex(r"x_0 = [\,x_\text{CLS};\; E\,p_0;\; E\,p_1;\; \dots;\; E\,p_{%d}\,] + E_\text{pos}" % (walk.grid_size**2 - 1))
    predict_first("Will neighbouring patches of the sky get similar tokens?",
                  "Usually yes: similar pixels give similar vectors. Compare their rows in the token matrix below.", "tokens")
    if walk.patch_filters is not None:
        filters = walk.patch_filters[:16]  # (16, 3, p, p)
        low, high = filters.min(), filters.max()
        pictures = [((f.transpose(1, 2, 0) - low) / max(high - low, 1e-8) * 255).astype(np.uint8) for f in filters]
        st.image([Image.fromarray(p).resize((48, 48), Image.Resampling.NEAREST) for p in pictures],
                 caption=[f"filter {index}" for index in range(len(pictures))])
    for stage, maps in enumerate(walk.stem_maps, start=1):
        st.caption(f"After stride-2 stage {stage}: {maps.shape[1]}×{maps.shape[2]} feature maps (first {len(maps)} channels)")
        st.plotly_chart(charts.tile_mosaic(maps[None], f"stage {stage}", float(maps.min()), float(maps.max()), "activation", height=160),
                        key=f"inside_stem_{stage}")
    limit = float(np.abs(walk.tokens).max()) or 1.0
    st.plotly_chart(
        charts.labelled_heatmap(walk.tokens, [str(index) for index in range(walk.tokens.shape[1])], token_names(walk),
                                f"the token matrix ({walk.tokens.shape[0]} × {walk.tokens.shape[1]})", x_title="feature",
                                y_title="token", colorscale=charts.DIVERGING_SCALE, zmin=-limit, zmax=limit),
        key="inside_tokens",
    )
    st.caption("One row per token (with its position embedding added), one column per feature: red below zero, blue above.")
    show_source(type(model).embed)


def step_positions(walk) -> None:
    from vitcore.explain.position_similarity import position_similarity

    st.markdown(
        "Attention by itself does not know where a patch is, so the model adds a learned **position embedding** to every token. "
        "If training taught it the picture's geometry, each position's embedding is most similar to its neighbours, its row "
        "and its column (the ViT paper's figure 7). Each small map below belongs to one position: bright cells are positions "
        "whose embeddings are similar to it."
    )
    st.latex(r"\text{sim}(i, j) = \frac{e_i \cdot e_j}{\lVert e_i \rVert\,\lVert e_j \rVert}")
    predict_first("Did this model learn rows and columns, or only neighbours?",
                  "Look for bright lines through each tile's own cell: a row and a column mean it learned the grid; "
                  "a bright blob means only the neighbourhood; noise means it has not learned positions (yet).", "positions")
    grid = walk.grid_size
    tiles = walk.position_similarity.reshape(grid, grid, grid, grid)  # (g, g, g, g): tile (r, c) = position r*g + c
    st.plotly_chart(charts.tile_mosaic(tiles, "cosine similarity of each position to every other", -1.0, 1.0, "similarity"),
                    key="inside_positions")
    st.caption("Tile in row r, column c is position p(r·g + c); inside it, each cell is another position. Its own cell is always 1.")
    show_source(position_similarity)


def step_attention(walk, model) -> None:
    from vitcore.explain.walkthrough import _scores

    st.markdown(
        "In every layer each head compares every token's **query** with every token's **key**; the softmax turns each row "
        "of scores into weights that sum to 1, and each token takes the weighted mean of the **values**. The CLS row shows "
        "which patches the classifier token reads. The chart at the bottom gives each head's mean attention distance: "
        "small means it looks near itself, like a convolution; large means it looks across the picture."
    )
    st.latex(r"A = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right),\qquad \text{out} = A\,V")
    layers, heads = walk.attention.shape[:2]
    left, right = st.columns(2)
    layer = left.selectbox("layer", list(range(1, layers + 1)), key="inside_layer")
    head = right.selectbox("head", list(range(1, heads + 1)), key="inside_head")
    names = token_names(walk)
    predict_first(f"Which patch will the {'CLS token' if walk.num_prefix_tokens else 'average token'} read most in layer {layer}, head {head}?",
                  f"Patch p{int(np.argmax(cls_row(walk, layer - 1, head - 1)))} (the brightest cell of the 4×4 map below).", f"attention_{layer}_{head}")
    score_column, weight_column = st.columns(2)
    with score_column:
        scores = walk.scores[layer - 1, head - 1]  # (N, N)
        limit = float(np.abs(scores).max()) or 1.0  # white at 0
        st.plotly_chart(charts.labelled_heatmap(scores, names, names, "Q·Kᵀ/√d (before the softmax)", x_title="key",
                                                y_title="query", colorscale=charts.DIVERGING_SCALE, zmin=-limit, zmax=limit),
                        key="inside_scores")
    with weight_column:
        st.plotly_chart(charts.token_matrix(walk.attention[layer - 1, head - 1], walk.num_prefix_tokens, "softmax: attention weights"),
                        key="inside_weights")
    if walk.bugs:
        show_homework_bugs(walk, layer - 1, head - 1)
    else:
        sums = walk.attention[layer - 1, head - 1].sum(axis=-1)
        st.caption(f"Every row of the weights sums to 1 (here from {sums.min():.4f} to {sums.max():.4f}): each query spreads one unit of attention.")
    grid = walk.grid_size
    st.plotly_chart(charts.single_heatmap(cls_row(walk, layer - 1, head - 1).reshape(grid, grid),
                                          "the CLS row over the patches" if walk.num_prefix_tokens else "attention each patch receives (mean)",
                                          height=300), key="inside_cls_row")
    st.plotly_chart(charts.labelled_heatmap(walk.attention_distance, [f"H{h + 1}" for h in range(heads)], [f"L{l + 1}" for l in range(layers)],
                                            "mean attention distance (patches)", x_title="head", y_title="layer", height=300),
                    key="inside_distance")
    attention_code = type(model.blocks[0].attention.heads[0]).forward if walk.bugs else type(model.blocks[0].attn).forward
    show_source(_scores, attention_code)


BUG_SENTENCES = {
    "softmax_over_queries": "**Softmax over the queries.** The homework's softmax normalises each *column* (one key, "
    "over all queries) instead of each row: a query no longer spreads one unit of attention over the keys, some "
    "tokens read far more than others and some almost nothing. See the column sums equal to one another and the row sums scattered.",
    "scale_after_softmax": "**1/√d after the softmax.** The softmax saw the unscaled scores (so it is sharper, or saturates), "
    "and the weights that multiply V are then divided by √d: every sum is 1/√d instead of 1.",
    "flattened_sequence_layers": "**Linears over the flattened sequence.** Each query already mixes every token before "
    "attention, and the model only accepts exactly this many tokens (and has hundreds of millions of weights).",
    "no_output_projection": "**No output projection.** Each head reads only its own slice of the features and the heads are "
    "glued together with nothing mixing them.",
    "einsum_unsplit_heads": "**Heads never split.** The einsum version uses one head over the whole width: there is only head 1.",
}


def show_homework_bugs(walk, layer: int, head: int) -> None:
    """What this homework model's bugs do to the matrix above, with its row and column sums."""
    weights = walk.attention[layer, head]  # (N, N) rows = queries
    rows, columns = weights.sum(axis=-1), weights.sum(axis=-2)  # (N,), (N,)
    st.warning("This is the homework's encoder with its bugs switched on, so these weights are not a correct attention.")
    for name in walk.bugs:
        st.markdown(BUG_SENTENCES.get(name, name))
    names = token_names(walk)
    st.dataframe({"token": names, "row sum (what the query reads)": rows.round(4), "column sum (what the key gives)": columns.round(4)},
                 hide_index=True, height=220)
    st.caption(f"A correct attention has every row sum 1. Here the rows go from {rows.min():.4f} to {rows.max():.4f} and the "
               f"columns from {columns.min():.4f} to {columns.max():.4f}.")


def cls_row(walk, layer: int, head: int) -> np.ndarray:
    """(g*g,) what the summary token reads: the CLS row over the patches, renormalised; the mean column without CLS."""
    weights = walk.attention[layer, head]  # (N, N)
    prefix = walk.num_prefix_tokens
    row = weights[0, prefix:] if prefix else weights.mean(axis=0)  # (g*g,)
    return row / max(float(row.sum()), 1e-12)


def step_residual(walk, model) -> None:
    st.markdown(
        "Every token travels down a **residual stream**: each block adds its attention's output and then its MLP's output "
        "to it, instead of replacing it. The bars show, per layer, how large those additions are compared with the stream "
        "they are added to (averaged over the tokens). Small bars mean the layer only nudges the tokens."
    )
    st.latex(r"x' = x + \operatorname{Attn}(\operatorname{LN}(x)),\qquad x'' = x' + \operatorname{MLP}(\operatorname{LN}(x'))")
    predict_first("Which layers change the tokens most: the first or the last?",
                  f"In this model, layer {int(np.argmax(walk.attention_update)) + 1} has the largest attention update and "
                  f"layer {int(np.argmax(walk.mlp_update)) + 1} the largest MLP update.", "residual")
    st.plotly_chart(charts.layer_bars({"attention update": walk.attention_update, "MLP update": walk.mlp_update},
                                      "how much each block changes the tokens", "|update| / |stream|"), key="inside_residual")
    show_source(type(model.blocks[0]).forward)


def step_lens(walk, model, class_names) -> None:
    from vitcore.explain.logit_lens import logit_lens

    st.markdown(
        "The classifier (final norm, pooling, linear head) normally reads the stream only after the last block. The "
        "**logit lens** lets it read the stream after every block: the rows below say what the model would answer if it "
        "stopped there. Watch from which layer on the final answer stays on top."
    )
    st.latex(r"p_\ell = \operatorname{softmax}\big(W_\text{head}\,\operatorname{pool}(\operatorname{LN}(x_\ell))\big)")
    predict_first("From which layer does the model already know its answer?",
                  f"From layer {walk.settled_layer} of {len(walk.lens)} the final answer, **{class_names[int(np.argmax(walk.probabilities))]}**, "
                  "stays the most likely class.", "lens")
    st.plotly_chart(charts.labelled_heatmap(walk.lens, list(class_names), [f"after L{l + 1}" for l in range(len(walk.lens))],
                                            "logit lens: class probabilities after each block", x_title="class", zmin=0.0, zmax=1.0),
                    key="inside_lens")
    st.caption(f"The last row is the model's own answer. The answer settles at layer {walk.settled_layer}.")
    show_source(logit_lens, type(model).read_out)


def step_prediction(walk, model, class_names) -> None:
    st.markdown(
        "The head turns the last layer's summary into one score (a logit) per class; the softmax turns the scores into "
        "probabilities that sum to 1. The most likely class is the prediction."
    )
    st.latex(r"p = \operatorname{softmax}(z),\qquad p_c = \frac{e^{z_c}}{\sum_k e^{z_k}}")
    order = np.argsort(walk.probabilities)[::-1]
    predict_first("How sure will the model be?", f"{walk.probabilities[order[0]]:.0%} for {class_names[order[0]]}.", "prediction")
    st.markdown("\n".join(["| class | probability |", "|---|---:|"] + [f"| {class_names[i]} | {walk.probabilities[i]:.1%} |" for i in order]))
    st.subheader(f"Prediction: {class_names[order[0]]}")
    show_source(type(model).read_out)


# ------------------------------------------------------------------ the page
page = open_page(
    ":material/route: Inside the ViT",
    "Follow one picture through your own trained Vision Transformer, from pixels to prediction, one step at a time. "
    "Before each picture, guess what it will show.",
)
store = page.store
vit_runs = vit_runs_or_stop(store, "inside_run")
preferred = [info.id for info in vit_runs if info.status in ("finished", "running")]  # newest first
labels = {info.id: info.choice_label for info in vit_runs}
run_ids = list(labels)
if st.session_state.get("inside_run") not in run_ids:
    st.session_state["inside_run"] = preferred[0] if preferred else run_ids[0]
run_id = st.selectbox("ViT run", run_ids, format_func=lambda value: labels.get(value, value), key="inside_run")
info = next(item for item in vit_runs if item.id == run_id)
model, model_config, class_names = load_run_or_stop(store, info)
if not can_walk_through(model):
    st.info("The walkthrough follows a Vision Transformer, and this run's model is not one. Pick another run above.")
    st.stop()
image_size = int(model_config.image_size)

# ------------------------------------------------------------------ picture
source = st.radio("Picture", ["validation image", "upload your own"], horizontal=True, key="inside_source")
if source == "validation image":
    data = page.data_or_stop()
    if len(data.val) == 0:
        st.info("The active dataset has no validation images; upload a picture instead.")
        st.stop()
    if "inside_picture" not in st.session_state:
        text = st.query_params.get(PICTURE_KEY, "0")
        st.session_state["inside_picture"] = min(int(text), len(data.val) - 1) if text.isdigit() else 0
    index = st.number_input("validation image #", 0, len(data.val) - 1, key="inside_picture")
    st.query_params[PICTURE_KEY] = str(int(index))
    pixels_tensor = data.val.images[int(index)]  # (3, S, S) uint8
    if tuple(pixels_tensor.shape[-2:]) != (image_size, image_size):
        st.warning(f"The active dataset's pictures are not {image_size}×{image_size}; pick the dataset this run was trained on.")
        st.stop()
else:
    upload = st.file_uploader("JPEG, PNG, WebP or a still GIF (up to 20 MB)", type=UPLOAD_TYPES, key="inside_upload")
    if upload is None:
        st.info("Choose a picture to follow through the model; any size and colour mode works.")
        st.stop()
    try:
        from vitcore.explain.predict import prepare_input

        pixels_tensor = prepare_input(read_uploaded_image(upload.getvalue(), upload.name), image_size)  # (3, S, S) uint8
    except VitcoreError as error:
        st.error(str(error))
        st.stop()
pixels = pixels_tensor.permute(1, 2, 0).cpu().numpy()  # (S, S, 3) uint8
digest = hashlib.sha1(pixels.tobytes()).hexdigest()
walk = walk_for(run_id, info.checkpoint_mtime, digest, model, pixels_tensor.cpu())

# ------------------------------------------------------------------ step picker
step = remembered_step()
back, picker, forward = st.columns([1, 6, 1])
back.button("Back", key="inside_back", on_click=move, args=(-1,), disabled=step == 1, width="stretch")
forward.button("Next", key="inside_next", on_click=move, args=(1,), disabled=step == len(STEPS), width="stretch")
chosen = picker.selectbox("step", STEPS, key="inside_step", label_visibility="collapsed")
step = STEPS.index(chosen) + 1
st.query_params[STEP_KEY] = str(step)
st.header(chosen)
if step == 1:
    step_patches(walk, pixels, model)
elif step == 2:
    step_tokens(walk, model)
elif step == 3:
    step_positions(walk)
elif step == 4:
    step_attention(walk, model)
elif step == 5:
    step_residual(walk, model)
elif step == 6:
    step_lens(walk, model, class_names)
else:
    step_prediction(walk, model, class_names)

# ------------------------------------------------------------------ time-lapse
st.divider()
st.subheader("Replay training: the same steps at any epoch")
st.markdown("While it trained, this run looked at ten fixed validation pictures after every epoch. Slide from the "
            "untrained model to the last epoch to see its attention (step 4) and its logit lens (step 6) form.")
epoch_replay(info.run, class_names, key="inside_replay")
