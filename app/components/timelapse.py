"""The attention time-lapse on the pages: the probe pictures as a ViT run saw them after each epoch.

`probe_strip` (the Train page's live view): the newest snapshot's rollout over every probe picture with the
prediction, redrawn as the run trains. `epoch_replay` (Attention and Inside the ViT): an epoch slider that
replays a run from the untrained model to its last epoch: every layer and head's attention, the rollout and
the logit lens of one probe picture at that epoch. Both read the run's timelapse.jsonl (see
vitcore.runs.timelapse), decoded once per file version for every session.
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from app.components import charts
from vitcore.explain.overlay import render_overlay
from vitcore.runs.timelapse import ProbePictures, TimelapseFrame, load_probe_pictures, read_frames

STRIP_SIDE = 96  # pixels per probe picture in the live strip
REPLAY_SIDE = 224  # pixels of the replayed rollout overlay


def _file_version(run) -> tuple[float, int]:
    """(mtime, size) of the run's timelapse.jsonl: changes whenever a snapshot is appended."""
    try:
        stat = run.timelapse_path.stat()
    except OSError:
        return (0.0, 0)
    return (stat.st_mtime, stat.st_size)


@st.cache_resource(max_entries=64, show_spinner=False)
def _timelapse(run_id: str, version: tuple[float, int], _run) -> tuple[list[TimelapseFrame], ProbePictures | None]:
    """The decoded frames and probe pictures of one run, once per file version for every session (read-only)."""
    return read_frames(_run), load_probe_pictures(_run)


def timelapse_of(run) -> tuple[list[TimelapseFrame], ProbePictures | None]:
    """The run's frames (epoch order) and probe pictures; ([], None) when it has none."""
    return _timelapse(run.id, _file_version(run), run)


def epoch_name(epoch: int) -> str:
    return "untrained" if epoch == 0 else f"epoch {epoch}"


def _picture(pictures: ProbePictures, index: int) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pictures.images[index].transpose(1, 2, 0)))  # (S, S, 3)


def _prediction_line(frame: TimelapseFrame, pictures: ProbePictures, index: int, class_names: list[str]) -> str:
    """'✓ dog 71 %' (or ✗ with the wrong class) for one probe picture at one frame."""
    probabilities = frame.snapshot.lens[index, -1]  # (C,) the model's answer
    predicted = int(np.argmax(probabilities))
    mark = "✓" if predicted == int(pictures.labels[index]) else "✗"
    name = class_names[predicted] if predicted < len(class_names) else str(predicted)
    return f"{mark} {name} {probabilities[predicted]:.0%}"


@st.cache_resource(max_entries=16, show_spinner=False)
def _strip(run_id: str, version: tuple[float, int], class_names: tuple[str, ...], _run) -> tuple[str, list[bytes], list[str]] | None:
    """(heading, JPEG bytes of each probe overlay, captions) of a run's newest snapshot, built once per file version
    for every watching tab (the live view redraws every 1.5 s; the pictures only change once an epoch)."""
    frames, pictures = _timelapse(run_id, version, _run)
    if not frames or pictures is None:
        return None
    frame = frames[-1]
    count = len(pictures.labels)
    correct = sum(int(np.argmax(frame.snapshot.lens[index, -1])) == int(pictures.labels[index]) for index in range(count))
    heading = f"**What the model looks at: {count} probe pictures, {epoch_name(frame.epoch)}** ({correct} of {count} right)"
    encoded = []
    for index in range(count):
        overlay = render_overlay(_picture(pictures, index), frame.snapshot.rollout[index], opacity=0.55, max_side=None)
        buffer = io.BytesIO()
        overlay.resize((STRIP_SIDE, STRIP_SIDE), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
    return heading, encoded, [_prediction_line(frame, pictures, index, list(class_names)) for index in range(count)]


def probe_strip(run, class_names: list[str]) -> bool:
    """The newest snapshot: each probe picture with its rollout and the model's answer. False when there is none yet."""
    strip = _strip(run.id, _file_version(run), tuple(class_names), run)
    if strip is None:
        return False
    heading, encoded, captions = strip
    st.markdown(heading)
    st.image(encoded, width=STRIP_SIDE, caption=captions)
    st.caption("The same validation pictures (two per class) after every epoch: bright = the patches the attention "
               "rollout says the model reads for its answer. Early on it looks everywhere; as it learns, it should "
               "settle on the object. Replay any epoch on the Attention page.")
    return True


@st.fragment
def epoch_replay(run, class_names: list[str], key: str) -> None:
    """The epoch slider: attention, rollout and logit lens of one probe picture at any recorded epoch.

    A fragment: moving the slider reruns only this section, not the page around it.
    """
    frames, pictures = timelapse_of(run)
    if not frames or pictures is None:
        st.caption("This run has no attention time-lapse to replay: ViT runs record one from their first epoch on "
                   "(runs trained before this feature, and CNN runs, have none).")
        return
    epochs = [frame.epoch for frame in frames]
    if st.session_state.get(f"{key}_epoch") not in epochs:
        st.session_state[f"{key}_epoch"] = epochs[-1]
    top_left, top_right = st.columns([3, 2])
    epoch = top_left.select_slider("epoch", options=epochs, format_func=epoch_name, key=f"{key}_epoch",
                                   help="Slide from the untrained model to the last epoch.")
    labels = pictures.labels.tolist()
    index = top_right.selectbox(
        "probe picture", list(range(len(labels))), key=f"{key}_picture",
        format_func=lambda item: f"{item + 1} · {class_names[labels[item]] if labels[item] < len(class_names) else labels[item]}",
    )
    frame = frames[epochs.index(epoch)]
    shot = frame.snapshot
    overlay_column, lens_column = st.columns([2, 3])
    with overlay_column:
        st.image(render_overlay(_picture(pictures, index), shot.rollout[index], opacity=0.55, max_side=None)
                 .resize((REPLAY_SIDE, REPLAY_SIDE), Image.Resampling.BILINEAR), width=REPLAY_SIDE,
                 caption=f"Rollout, {epoch_name(epoch)}: {_prediction_line(frame, pictures, index, class_names)}")
    with lens_column:
        lens = shot.lens[index]  # (L, C)
        names = list(class_names) if len(class_names) == lens.shape[1] else [str(item) for item in range(lens.shape[1])]
        st.plotly_chart(charts.labelled_heatmap(lens, names, [f"after L{layer + 1}" for layer in range(len(lens))],
                                                f"logit lens, {epoch_name(epoch)}", x_title="class", zmin=0.0, zmax=1.0, height=300),
                        key=f"{key}_lens")
    st.plotly_chart(charts.attention_grid(shot.summary_attention[index]), key=f"{key}_heads")
    st.caption(f"{epoch_name(epoch).capitalize()} of {epochs[-1]}: each small map is one layer's head (rows: layers, "
               "columns: heads) and shows which patches the summary token reads. Untrained, the maps are nearly flat; "
               "slide right to watch heads specialise. The logit lens shows from which layer the answer forms.")
