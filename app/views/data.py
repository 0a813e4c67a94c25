"""Data: choose the dataset, look at it, and check its hygiene before training on it."""

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app import state
from app.components import charts
from app.components.page import open_page
from app.services.paths import data_roots, display_path
from vitcore.data.roots import resolve_within_roots
from vitcore.errors import VitcoreError

SAMPLES_PER_CLASS = 8  # images shown per class in the sample grid

open_page(
    ":material/photo_library: Data",
    "Every model here learns from a folder laid out as `ROOT/train/<class>/*.jpg` and `ROOT/val/<class>/*.jpg` "
    "(or from the embedded synthetic set). Look at the images and the class balance, and check for problems that "
    "silently change your accuracy numbers.",
)

roots = data_roots()


@st.cache_data(show_spinner="Checking the folder…", max_entries=8)
def folder_report(root_text: str, modified: float):
    """vitcore's hygiene report of a folder (cached; `modified` invalidates it when files change)."""
    from vitcore.data.report import build_report

    return build_report(root_text)


def dataset_candidates() -> list[Path]:
    """Folders under the allowed roots (depth ≤ 2) that look like datasets (have train/ and val/)."""
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for candidate in [root, *root.iterdir(), *(p for child in root.iterdir() if child.is_dir() for p in child.iterdir())]:
            try:
                if candidate.is_dir() and (candidate / "train").is_dir() and (candidate / "val").is_dir():
                    found.append(candidate.resolve())
            except OSError:
                continue
    return sorted(set(found))


# ------------------------------------------------------------------ choose the source
st.header("1 · Which data?")
choice = st.radio(
    "source",
    ["embedded synthetic", "a data folder", "build from COCO annotations"],
    horizontal=True,
    index=0 if state.active_source() == state.SYNTHETIC_SOURCE else 1,
    key="data_choice",
)
if choice == "embedded synthetic":
    if state.active_source() != state.SYNTHETIC_SOURCE:
        if st.button("Use the embedded synthetic dataset", key="data_use_synthetic"):
            state.set_active_source(state.SYNTHETIC_SOURCE)
            st.rerun()
    st.caption("Five classes of drawn objects with an object mask per image; nothing to download.")
elif choice == "a data folder":
    st.caption("Allowed folders: " + ", ".join(f"`{root}`" for root in roots) + " (set VIT_CLASSROOM_DATA_ROOTS to change).")
    candidates = dataset_candidates()
    if candidates:
        picked = st.selectbox(
            "datasets found", [None, *candidates], format_func=lambda p: "—" if p is None else display_path(p), key="data_found"
        )
    else:
        picked = None
    typed = st.text_input(
        "folder path", value=str(picked) if picked else "", placeholder=f"e.g. {roots[0] / 'my_dataset' if roots else 'data/my_dataset'}",
        key="data_folder_text",
    )
    if st.button("Use this folder", type="primary", key="data_use_folder"):
        try:
            folder = resolve_within_roots(typed, roots)
            from vitcore.data.folder import scan_folder

            scan_folder(folder)  # raises DataLayoutError with a clear sentence for a wrong layout
        except VitcoreError as error:
            st.error(str(error))
        else:
            state.set_active_source(str(folder))
            st.success(f"Now using {display_path(folder)}.")
            st.rerun()
else:
    from app.components.coco_form import coco_build_form

    coco_build_form(roots)

# ------------------------------------------------------------------ the active dataset
source = state.active_source()
report = None
if source != state.SYNTHETIC_SOURCE:
    try:
        report = folder_report(source, Path(source).stat().st_mtime)
    except (VitcoreError, OSError) as error:
        st.error(str(error))
overview_section = st.container()  # filled after the hygiene checkboxes, which decide what is loaded
hygiene_section = st.container()

# ------------------------------------------------------------------ hygiene (runs first, shown last)
with hygiene_section:
    st.header("3 · Hygiene check")
    if report is None:
        st.info("The embedded synthetic set is clean by construction: every image is colour, has one label and lives in one split.")
    else:
        multi = report.multi_label_names()
        leaked = report.leaked_names()
        first, second, third, fourth = st.columns(4)
        first.metric("greyscale files", len(report.greyscale_files))
        second.metric("in 2+ classes", len(multi))
        third.metric("in train and val", len(leaked))
        fourth.metric("unreadable", len(report.unreadable_files))
        st.caption(
            "Greyscale files are converted to RGB (three equal channels), so they only cost colour information. "
            "Multi-label files teach the model two answers for the same picture. Leaked files are in both train and val, "
            "so validation accuracy is measured partly on training images and comes out too high."
        )
        drop_left, drop_right = st.columns(2)
        # Plain session keys (not widget keys) so the choice survives visits to other pages.
        st.session_state["drop_multilabel"] = drop_left.checkbox(
            f"drop the {len(multi)} multi-label file name(s)", value=state.hygiene_flags()[0],
            key="data_drop_multilabel", disabled=not multi,
        )
        st.session_state["drop_leaked"] = drop_right.checkbox(
            f"drop the {len(leaked)} leaked file name(s)", value=state.hygiene_flags()[1],
            key="data_drop_leaked", disabled=not leaked,
        )
        st.caption("Dropping reloads the dataset without those files (from both splits); training and evaluation then use it.")
        with st.expander("details"):
            for line in report.summary_lines():
                st.markdown(f"- {line}")
            if report.multi_label:
                st.dataframe(
                    pd.DataFrame([{"split": e.split, "file": e.name, "classes": ", ".join(e.classes)} for e in report.multi_label[:200]]),
                    hide_index=True,
                )
            if report.leaked:
                st.dataframe(
                    pd.DataFrame([{"file": e.name, "train": ", ".join(e.train_classes), "val": ", ".join(e.val_classes)} for e in report.leaked[:200]]),
                    hide_index=True,
                )
            if report.greyscale_files:
                st.write("greyscale:", ", ".join(report.greyscale_files[:50]))

with overview_section:
    st.header("2 · The active dataset")
    try:
        data = state.active_dataset()
    except VitcoreError as error:
        st.error(str(error))
        st.stop()
    st.markdown(f"**{data.source}** · `{data.dataset_id}`")
    if data.skipped_files:
        st.warning(
            f"{len(data.skipped_files)} unreadable file(s) were skipped: "
            + ", ".join(data.skipped_files[:5]) + (" …" if len(data.skipped_files) > 5 else "")
        )

    st.subheader("Samples per class")
    st.caption(
        f"The first {SAMPLES_PER_CLASS} training images of every class, at the {data.image_size}×{data.image_size} pixels the models see."
    )
    for label, class_name in enumerate(data.class_names):
        indices = (data.train.labels == label).nonzero().flatten()[:SAMPLES_PER_CLASS].tolist()
        row = st.columns([1] + [1] * SAMPLES_PER_CLASS)
        row[0].markdown(f"**{class_name}**")
        for position, index in enumerate(indices):
            pixels = data.train.images[index].permute(1, 2, 0).cpu().numpy()  # (S, S, 3) uint8
            row[position + 1].image(Image.fromarray(np.ascontiguousarray(pixels)), width="stretch")

    st.subheader("Images per class and split")
    rows = []
    for split_name, split in (("train", data.train), ("val", data.val)):
        counts = np.bincount(split.labels.cpu().numpy(), minlength=len(data.class_names))
        rows += [{"class": name, "split": split_name, "images": int(counts[i])} for i, name in enumerate(data.class_names)]
    counts_frame = pd.DataFrame(rows)
    left, right = st.columns([2, 1])
    left.plotly_chart(charts.class_counts_bar(counts_frame), key="data_counts_chart")
    right.dataframe(counts_frame.pivot(index="class", columns="split", values="images"))
    right.caption("A balanced set makes plain accuracy meaningful; with imbalance, look at per-class accuracy on Compare.")
