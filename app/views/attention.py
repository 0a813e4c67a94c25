"""Attention: what does a trained ViT look at when it classifies one picture?

Built to stay cheap with a whole class on one server (measured with bench/load.py): the prediction is
cached per (run, picture) and runs on one thread, uploads are shown and overlaid at most 480 px wide,
the answer is few elements (the probabilities are one markdown table, explanations ride along as image
captions and, for the folded layers x heads section, as its toggle's tooltip), and the page is three nested fragments:
- everything below the run picker (picture choice, upload, prediction) is one fragment, so an upload
  reruns only that part: the server skips the run list and model lookup, and the browser redraws
  only those elements;
- inside it, the overlay and its opacity slider (moving the slider only re-blends the picture);
- and the layers x heads section behind a toggle that starts off (its pickers rerun only it).
While a picture is answered (and for a moment after), a CPU training run in the same server pauses between
steps, so a class uploading at once does not share the cores with the trainer.
The picture, overlay and probabilities come first in the script, so they reach the browser first.
Before anything is uploaded, "upload your own" keeps the answer for the last validation picture on the page
(captioned as such). An upload then swaps two pictures, a heading and the table inside an answer the browser
has already built, instead of building the columns, widgets and toggle from nothing: in a lone tab that took
each answer from about 0.36 to 0.28 CPU-seconds of browser work (bench/load.py measures a whole class).
"""

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from app import state
from app.services import run_tools
from app.components import charts
from app.components.page import open_page
from app.components.run_picker import load_run_or_stop, vit_runs_or_stop
from app.components.timelapse import epoch_replay
from app.services.inference import SINGLE_PICTURE_THREADS, torch_threads
from app.services.uploads import UPLOAD_TYPES, read_uploaded_image
from vitcore.errors import VitcoreError
from vitcore.explain.methods import METHOD_TITLES, methods_for

PREDICTION_CACHE_ENTRIES = 256  # predictions kept for all sessions together (each ~50 kB: attention maps + input pixels)
SHOW_EVERY_HEAD_DEFAULT = False  # the layers x heads section starts folded: three charts per student cost a full class seconds
PROBABILITY_BAR_CELLS = 20  # characters in each probability bar (one per 5 %)
OVERLAY_CAPTION = (
    "Bright = the patches the classifier token draws most from. Rollout multiplies the attention of all layers "
    "(plus the residual path), so it shows which input patches finally reach the CLS token."
)
EVERY_HEAD_HELP = (
    "Switch it on to see all 4×4 attention maps of every layer and head, one head's full token × token matrix and "
    "the rollout. It starts folded so that a whole class uploading at once gets answers fast."
)  # tooltip of the "every layer and head" toggle
SHOW_REPLAY_DEFAULT = False  # the epoch replay starts folded: its two charts and picture were a quarter of each page open's script time
REPLAY_HELP = (
    "Every ViT run looks at the same ten validation pictures after every epoch. Switch it on and slide through the "
    "epochs to replay what this run's heads read, where its rollout points and from which layer it knew the answer."
)  # tooltip of the replay toggle
UPLOAD_HINT = "any size and colour mode works (it is resized to 64×64 like the training data)"  # uploader tooltip, and the ask when no answer is shown
LAST_VALIDATION_KEY = "attention_last_val_index"  # session key: the validation picture last shown (upload mode shows it until a picture arrives)
DISPLAY_MAX_SIDE = 480  # uploads are shown (and overlaid) at most this many pixels per side: the column is narrower


def picture_digest(payload: bytes) -> str:
    """Content key of a picture (uploaded file bytes or validation pixels): same content, same key."""
    return hashlib.sha1(payload).hexdigest()


@st.cache_data(max_entries=PREDICTION_CACHE_ENTRIES, show_spinner=False)
def cached_prediction(run_id, checkpoint_mtime, digest, class_names, image_size, device_name, _model, _picture, _device):
    """run_tools.predict, computed once per (run, checkpoint version, picture content, classes, size, device).

    The arguments with a leading underscore are not hashed: the run id + checkpoint time stand for the
    model, the digest for the picture. Page reruns (a slider, the run picker back and forth, every
    student opening the same validation image) then reuse the result instead of running the model again.
    """
    # Never waits for training: no lock is shared, and one thread per picture leaves the trainer's cores alone.
    with torch_threads(SINGLE_PICTURE_THREADS):
        return run_tools.predict(_model, _picture, list(class_names), image_size, _device)


def decoded_upload(payload: bytes, name: str, digest: str) -> tuple[Image.Image, Image.Image]:
    """(full picture, display copy) of an upload, decoded once per session: reruns with the same file reuse them.

    The model sees the picture resized to 64x64 like the training data; the page shows and overlays a copy of at
    most DISPLAY_MAX_SIDE pixels per side, so a phone photo is not re-encoded and sent at full size. A large JPEG
    is decoded straight at a smaller scale that still covers DISPLAY_MAX_SIDE (both uses shrink it further).
    """
    remembered = st.session_state.get("attention_decoded")
    if remembered is not None and remembered[0] == digest:
        return remembered[1], remembered[2]
    picture = read_uploaded_image(payload, name, shown_long_side=DISPLAY_MAX_SIDE)
    display = picture.copy()
    display.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), Image.Resampling.BILINEAR)  # keeps the aspect ratio
    st.session_state["attention_decoded"] = (digest, picture, display)  # only the latest upload: one per session
    return picture, display


def probability_table(probabilities, class_names) -> str:
    """The softmax output as one markdown table, most likely class first, with a bar drawn in text.

    One element instead of one progress bar per class: when a whole class uploads at once, every
    element of the answer is drawn again in every student's browser.
    """
    rows = ["| class | probability | |", "|---|---:|---|"]
    for class_index in np.argsort(probabilities)[::-1]:  # most likely first
        probability = float(probabilities[class_index])
        filled = int(round(probability * PROBABILITY_BAR_CELLS))
        bar = "█" * filled + "░" * (PROBABILITY_BAR_CELLS - filled)
        rows.append(f"| {class_names[class_index]} | {probability:.1%} | `{bar}` |")
    rows.append("")
    rows.append(
        ":small[:gray[Softmax probabilities of the final layer, most likely first. A confident wrong answer is as "
        "informative as a right one.]]"
    )
    return "\n".join(rows)


@st.fragment
def overlay_panel(picture: Image.Image, maps) -> None:
    """Overlay + its controls: moving the opacity slider reruns only this function (re-blend, no model run)."""
    opacity = st.slider("overlay opacity", 0.0, 1.0, 0.5, 0.05, key="attention_opacity")
    heat_source = st.radio("heat map", ["rollout", "last layer (mean of heads)"], horizontal=True, key="attention_heat")
    heat = maps.rollout if heat_source == "rollout" else maps.layer_mean(-1)  # (g, g)
    st.image(run_tools.overlay(picture, heat, opacity), width="stretch", output_format="JPEG", caption=OVERLAY_CAPTION)


@st.fragment
def every_layer_and_head(maps) -> None:
    """The heavy lower section; its toggle and layer/head pickers rerun only this function."""
    # One element while folded (the explanation rides in the toggle's tooltip): every upload redraws this section in
    # each student's browser, and a separate heading + text block cost a tab about a tenth of its work per answer.
    if not st.toggle("Show every layer and head: where does the CLS token look?", value=SHOW_EVERY_HEAD_DEFAULT,
                     key="attention_show_all", help=EVERY_HEAD_HELP):
        return
    st.caption(
        "Row = layer (L1 is closest to the pixels), column = head. Each small 4×4 tile is the CLS token's attention "
        "row over the 16 patches, renormalised to sum to 1; all tiles share one colour scale. Early layers are often "
        "diffuse; later heads specialise. Hover a cell to see its layer, head and patch."
        if maps.num_prefix_tokens
        else "This model has no CLS token (sequence pooling): each tile shows the mean attention each patch receives."
    )
    st.plotly_chart(charts.attention_grid(maps.cls_to_patch), key="attention_grid")

    left, right = st.columns([1, 1])
    with left:
        st.subheader("Full token × token matrix")
        layer = st.selectbox("layer", list(range(1, maps.num_layers + 1)), index=maps.num_layers - 1, key="attention_layer")
        head = st.selectbox("head", list(range(1, maps.num_heads + 1)), key="attention_head")
        st.plotly_chart(
            charts.token_matrix(maps.full[layer - 1, head - 1], maps.num_prefix_tokens, f"layer {layer}, head {head}"),
            key="attention_tokens",
        )
        st.caption(
            "Row i = query token i, column j = key token j; every row sums to 1. The first row/column is CLS, then patches "
            "p0…p15 in reading order (left to right, top to bottom)."
        )
    with right:
        st.subheader("Attention rollout")
        st.plotly_chart(charts.single_heatmap(maps.rollout, "rollout over all layers (4×4 patches)"), key="attention_rollout")
        st.caption(
            "Rollout (Abnar & Zuidema, 2020) averages the heads of each layer, adds the identity for the residual connection "
            "and multiplies the layers together; the CLS row over the patches is shown."
        )


@st.fragment
def picture_and_prediction(run_id, info, model, class_names, image_size, device, foreground) -> None:
    """Picture choice, upload, prediction, overlay and probabilities: a fragment, so an upload reruns only this.

    A whole class uploads at the same moment; rerunning only this part (not the title, the run list and the
    model lookup above) saves the server a script run's worth of work per student, and each browser redraws
    only these elements instead of the whole page. While it runs, and shortly after, a CPU training run pauses
    between steps (vitcore.train.foreground), so the class's answers do not share the cores with the trainer.
    """
    with foreground.running():  # the server's ForegroundActivity, looked up once per page run
        show_picture_and_prediction(run_id, info, model, class_names, image_size, device)


@dataclass
class ShownPicture:
    """The picture the page classifies and explains, with what is said about it."""

    picture: Image.Image  # what the model classifies (resized to the run's input size on the way in)
    display: Image.Image  # what the page shows and overlays: the picture itself, or a smaller copy of an upload
    digest: str  # content key of the prediction cache
    shown_as: str  # first part of the caption under the picture: which picture this is
    mask: np.ndarray | None = None  # (S, S) bool object mask of a validation picture (synthetic set), else None
    uploaded: bool = False  # True for the student's own picture, False for a validation picture


def validation_picture(data, index: int, shown_as: str) -> ShownPicture:
    """Validation picture `index` of the active dataset; `shown_as` may use {index} and {label}."""
    pixels = data.val.images[index].permute(1, 2, 0).cpu().numpy()  # (S, S, 3) uint8
    picture = Image.fromarray(np.ascontiguousarray(pixels))
    label = data.class_names[int(data.val.labels[index])]
    mask = None if data.val.masks is None else data.val.masks[index].cpu().numpy()  # (S, S) bool
    return ShownPicture(picture, picture, picture_digest(pixels.tobytes()), shown_as.format(index=index, label=label), mask)


ALL_CLASSES = "all classes"  # the class filter's first choice


def validation_candidates(data, run_id, info, class_names) -> tuple[np.ndarray, str | None]:
    """Indices of the validation pictures the filters let through, and what to say when there are none.

    The filters: one class (its true label) and "only the ones the model gets wrong", which needs the run's
    predictions on the whole validation split (state.evaluate_run, computed once per run and dataset).
    """
    labels = data.val.labels.cpu().numpy()  # (N,) true class of each validation picture
    candidates = np.arange(len(labels))  # (N,) all validation indices
    filter_left, filter_right = st.columns(2)
    wanted_class = filter_left.selectbox("show class", [ALL_CLASSES, *data.class_names], key="attention_val_class")
    same_classes = list(data.class_names) == list(class_names)
    only_wrong = filter_right.toggle(
        "only the ones the model gets wrong", key="attention_val_wrong", disabled=not same_classes,
        help="Runs the model once over every validation picture (kept for later visits)." if same_classes
        else "Needs a dataset with the run's classes.",
    )
    if wanted_class != ALL_CLASSES:
        candidates = candidates[labels[candidates] == data.class_names.index(wanted_class)]
    if only_wrong and same_classes:
        drop_multilabel, drop_leaked = state.hygiene_flags()
        try:
            evaluation = state.evaluate_run(run_id, info.checkpoint_mtime, state.active_source(), drop_multilabel, drop_leaked)
        except VitcoreError as error:
            return candidates[:0], f"The run's predictions could not be computed: {error}"
        wrong = np.asarray(evaluation.predictions) != labels  # (N,) True where the model is wrong
        candidates = candidates[wrong[candidates]]
    if len(candidates) == 0:
        which = "" if wanted_class == ALL_CLASSES else f"{wanted_class} "
        return candidates, (
            f"The model gets every {which}validation picture right." if only_wrong else f"There is no {which}validation picture."
        )
    return candidates, None


def chosen_picture(run_id, info, class_names) -> ShownPicture | None:
    """The "Picture" choice and its widgets; the picture to explain, or None after a message (nothing to show)."""
    choice = st.radio("Picture", ["validation image", "upload your own"], horizontal=True, key="attention_source")
    if choice == "validation image":
        data = state.active_dataset()
        count = len(data.val)
        if list(data.class_names) != list(class_names):
            st.warning(
                "The active dataset's classes differ from this run's classes; predictions are still shown with the run's class names. "
                "Switch the dataset on the Data page to the one this run was trained on."
            )
        if count == 0:
            st.info("The active dataset has no validation images.")
            return None
        candidates, empty_message = validation_candidates(data, run_id, info, class_names)
        if empty_message is not None:
            st.info(empty_message)
            return None
        if len(candidates) == count:  # no filter: the plain slider over every picture
            index = st.slider("validation image #", 0, count - 1, 0, key="attention_val_index") if count > 1 else 0
        elif len(candidates) > 1:  # a slider over the pictures the filters let through; its key changes with them
            filters = f"{st.session_state.get('attention_val_class')}_{st.session_state.get('attention_val_wrong')}"
            index = st.select_slider(
                f"validation image # ({len(candidates)} of {count} match)", options=[int(value) for value in candidates],
                key=f"attention_val_filtered_{filters}",
            )
        else:
            index = int(candidates[0])
            st.caption(f"Only validation image #{index} matches.")
        st.session_state[LAST_VALIDATION_KEY] = index
        return validation_picture(data, index, "true class: {label}")

    upload = st.file_uploader(
        "JPEG, PNG, WebP or a still GIF (up to 20 MB)", type=UPLOAD_TYPES, key="attention_upload",
        help=f"{UPLOAD_HINT.capitalize()}.",
    )
    if upload is None:
        data = state.active_dataset()
        count = len(data.val)
        if count == 0:
            st.info(f"Choose a picture to classify; {UPLOAD_HINT}.")
            return None
        # Until a picture arrives, the answer for the last validation picture stays on the page: the student sees what
        # an answer looks like, and the upload then only swaps pictures and numbers instead of building the page.
        index = min(int(st.session_state.get(LAST_VALIDATION_KEY, 0)), count - 1)
        return validation_picture(data, index, "validation image #{index} (true class: {label}), shown until you upload your own")
    payload = upload.getvalue()
    digest = picture_digest(payload)
    try:
        picture, display_picture = decoded_upload(payload, upload.name, digest)
    except VitcoreError as error:
        st.error(str(error))
        return None
    return ShownPicture(picture, display_picture, digest, "your upload", uploaded=True)


def show_picture_and_prediction(run_id, info, model, class_names, image_size, device) -> None:
    """The body of picture_and_prediction."""
    shown = chosen_picture(run_id, info, class_names)
    if shown is None:
        return
    try:
        prediction = cached_prediction(
            run_id, info.checkpoint_mtime, shown.digest, tuple(class_names), image_size, str(device), model, shown.picture, device
        )
    except VitcoreError as error:
        st.error(str(error))
        return
    maps = prediction.attention

    # ------------------------------------------------------------------ prediction + overlay
    left, middle, right = st.columns([1, 1, 1.3])
    with left:
        st.subheader("The picture")
        st.image(shown.display, width="stretch", output_format="JPEG",
                 caption=f"{shown.shown_as} · the model sees it resized to {image_size}×{image_size} pixels, as during training")
    with middle:
        st.subheader("Attention on the picture")
        overlay_panel(shown.display, maps)
    with right:
        st.subheader(f"Prediction: {prediction.predicted}")
        st.markdown(probability_table(prediction.probabilities, class_names))
        if shown.uploaded and info.trained_on_drawings:
            st.info(run_tools.DRAWINGS_ONLY_NOTE, icon=":material/draw:")
            st.page_link("views/data.py", label="Train on real photos: Data page", icon=":material/photo_library:")
        if shown.mask is not None:
            score = run_tools.localization(maps.rollout, shown.mask)
            metric_left, metric_right = st.columns(2)
            metric_left.metric("attention on the object", f"{score.mass_on_mask:.0%}", f"{score.mass_on_mask - score.chance_level:+.0%} vs chance")
            metric_right.metric("chance (object's area)", f"{score.chance_level:.0%}")
            st.caption(
                "Localization score: the share of rollout attention that falls on the object's pixels. "
                "A model that looked everywhere equally would score the object's area fraction (chance)."
            )

    # ------------------------------------------------------------------ ViT vs CNN (a fragment behind a toggle)
    side_by_side(shown, info, model, class_names, image_size)

    # ------------------------------------------------------------------ layers x heads (a fragment behind a toggle)
    every_layer_and_head(maps)


@st.cache_data(max_entries=PREDICTION_CACHE_ENTRIES, show_spinner=False)
def cached_explanation(run_id, checkpoint_mtime, digest, method, image_size, _model, _picture):
    """run_tools.explain_picture, computed once per (run, checkpoint version, picture content, method)."""
    with torch_threads(SINGLE_PICTURE_THREADS):
        return run_tools.explain_picture(_model, _picture, method, image_size)


def explanation_column(column, kind: str, info, model, shown: ShownPicture, image_size: int, class_names, opacity: float) -> None:
    """One side of the comparison: the method picker, the overlay, and the share on the object when the picture has a mask."""
    methods = methods_for(model)
    method = column.radio(f"{kind} method", methods, format_func=lambda name: METHOD_TITLES[name], horizontal=True,
                          key=f"attention_{kind.lower()}_method")
    try:
        explanation = cached_explanation(info.id, info.checkpoint_mtime, shown.digest, method, image_size, model, shown.picture)
    except VitcoreError as error:
        column.error(str(error))
        return
    answer = class_names[explanation.target] if explanation.target < len(class_names) else str(explanation.target)
    column.image(run_tools.overlay(shown.display, explanation.heat, opacity), width="stretch", output_format="JPEG",
                 caption=f"{kind} · {METHOD_TITLES[method]} · answers {answer} ({explanation.probabilities[explanation.target]:.0%})")
    if shown.mask is not None:
        share = run_tools.energy_on_object(explanation.heat, shown.mask)
        column.caption(f"{share:.0%} of this map lies on the object (chance: {float(shown.mask.mean()):.0%}).")


@st.fragment
def side_by_side(shown: ShownPicture, vit_info, vit_model, class_names, image_size: int) -> None:
    """The same picture explained by this ViT run and a CNN run the student picks, one opacity slider for both."""
    if not st.toggle("Compare with a CNN: what did each model look at?", key="attention_compare_cnn",
                     help="Explains the picture for this ViT and for a CNN run side by side (Grad-CAM or integrated "
                          "gradients for the CNN; rollout or attention relevance for the ViT)."):
        return
    cnn_runs = [item for item in state.get_run_store().list_runs() if item.model_kind == "cnn" and item.has_checkpoint]
    if not cnn_runs:
        st.info("No CNN run with a checkpoint yet: train one on the Train page (or press Home's one-click button).")
        return
    cnn_labels = {item.id: item.choice_label for item in cnn_runs}
    same_data = [item.id for item in cnn_runs if item.dataset_id == vit_info.dataset_id]
    if st.session_state.get("attention_cnn_run") not in cnn_labels:
        st.session_state["attention_cnn_run"] = same_data[0] if same_data else cnn_runs[0].id
    cnn_id = st.selectbox("CNN run", list(cnn_labels), format_func=lambda run_id: cnn_labels[run_id], key="attention_cnn_run")
    cnn_info = next(item for item in cnn_runs if item.id == cnn_id)
    if cnn_info.dataset_id != vit_info.dataset_id:
        st.warning("This CNN run was trained on another dataset than the ViT run, so their explanations cannot be compared; "
                   "pick a CNN trained on the same data.")
        return
    try:
        cnn_model, _, cnn_classes = state.load_run_model(cnn_info.id, cnn_info.checkpoint_mtime)
    except VitcoreError as error:  # a deleted run or a corrupt checkpoint: this section says so, the page above stays
        st.error(f"CNN run `{cnn_id}` cannot be loaded: {error}. Pick another CNN run.")
        return
    if list(cnn_classes) != list(class_names):
        st.warning("This CNN run has other classes than the ViT run; pick a CNN trained on the same classes.")
        return
    opacity = st.slider("overlay opacity (both)", 0.0, 1.0, 0.5, 0.05, key="attention_pair_opacity")
    vit_column, cnn_column = st.columns(2)
    explanation_column(vit_column, "ViT", vit_info, vit_model, shown, image_size, class_names, opacity)
    explanation_column(cnn_column, "CNN", cnn_info, cnn_model, shown, image_size, class_names, opacity)
    st.caption("Bright = where each method says the model looked for the answer it gave. Rollout follows the ViT's "
               "attention through all layers; attention relevance weighs it by the gradient of the answer (Chefer et "
               "al. 2021). Grad-CAM weighs the CNN's last feature maps by the gradient of the answer; integrated "
               "gradients credits single pixels. The Compare page scores every method against object masks.")


@st.fragment
def replay_section(run, class_names) -> None:
    """The epoch replay behind a toggle that starts off: folded, it costs each page open one element, not two charts."""
    st.subheader("How this attention formed during training")
    if st.toggle("Replay this run's training, epoch by epoch", value=SHOW_REPLAY_DEFAULT, key="attention_show_replay",
                 help=REPLAY_HELP):
        epoch_replay(run, class_names, key="attention_replay")


page = open_page(
    ":material/visibility: Attention",
    "A Vision Transformer cuts the image into a 4×4 grid of 16-pixel patches and lets every token *attend* to every other "
    "(the classroom and best recipes make each of those 16 tokens with a few small convolutions instead of one flat cut; "
    "the grid is the same). "
    "Here you pick a trained ViT and a picture, and look at those attention weights: per layer and head, as a full "
    "token×token matrix, rolled out through all layers, and painted over the picture.",
)
store, device = page.store, page.device
vit_runs = vit_runs_or_stop(store, "attention_run")

# ------------------------------------------------------------------ pick run + image
labels = {info.id: info.choice_label for info in vit_runs}  # stable text: a status change keeps the choice
run_ids = list(labels)
remembered = state.selected_run()
default_index = run_ids.index(remembered) if remembered in run_ids else 0
run_id = st.selectbox("ViT run", run_ids, index=default_index, format_func=lambda run_id: labels.get(run_id, run_id), key="attention_run")
state.set_selected_run(run_id)
info = next(item for item in vit_runs if item.id == run_id)

model, model_config, class_names = load_run_or_stop(store, info)
image_size = int(getattr(model_config, "image_size", 64))
st.caption(f"Run `{run_id}` · {info.description} · status **{info.status}** · classes: {', '.join(class_names)}")


picture_and_prediction(run_id, info, model, class_names, image_size, device, state.get_scheduler().foreground)

replay_section(info.run, class_names)
