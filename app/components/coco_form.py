"""The "build a dataset from COCO annotations" form of the Data page.

It only collects the settings, checks that every path lies inside the allowed
data roots, and calls vitcore's `build_from_coco` with a progress bar.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from app import state
from app.services.paths import display_path, resolve_new_folder
from vitcore.data.roots import resolve_within_roots
from vitcore.errors import VitcoreError

DEFAULT_CLASSES = "airplane, bus, cat, dog, pizza"  # the homework's five COCO categories


def coco_build_form(roots: list[Path]) -> None:
    """Render the form; on submit build the folder and make it the active dataset."""
    from vitcore.data.coco_builder import POLICIES, CocoBuildConfig, build_from_coco

    st.caption(
        "Pick a COCO `instances_*.json` file and where the images are (a local folder, or download them). The builder keeps "
        "the chosen categories, squashes every image to 64×64 and writes `train/` and `val/` class folders."
    )
    with st.form("coco_form"):
        annotations_text = st.text_input("annotations file (inside an allowed folder)", key="coco_annotations")
        image_mode = st.radio("images", ["local image folder", "download"], horizontal=True, key="coco_image_mode")
        image_dir_text = st.text_input("image folder (for a local folder)", key="coco_image_dir")
        base_url = st.text_input("download base URL (optional; default: each image's coco_url)", key="coco_base_url")
        classes_text = st.text_input("classes (comma separated COCO category names)", value=DEFAULT_CLASSES, key="coco_classes")
        left, middle, right = st.columns(3)
        train_per_class = left.number_input("train images per class", 1, 100_000, 1500, key="coco_train")
        val_per_class = middle.number_input("val images per class", 1, 100_000, 500, key="coco_val")
        policy = right.selectbox("selection policy", list(POLICIES), key="coco_policy",
                                 help="hw4: as the course did (an image may be in two classes); single-label: drop images showing 2+ chosen classes; dominant: give each image to its largest class.")
        allow_fewer = st.checkbox("accept fewer images when a class is short", value=True, key="coco_allow_fewer")
        output_text = st.text_input("output folder (inside an allowed folder)", value=str((roots[0] if roots else Path("data")) / "coco-built"), key="coco_output")
        submitted = st.form_submit_button("Build the dataset", type="primary")
    if not submitted:
        return
    try:
        annotations = resolve_within_roots(annotations_text, roots)
        if not annotations.is_file():
            raise VitcoreError(f"{annotations_text} is not a file; choose a COCO instances_*.json file.")
        output_root = resolve_new_folder(output_text, roots)
        image_dir = None
        if image_mode == "local image folder":
            image_dir = resolve_within_roots(image_dir_text, roots)
        classes = tuple(name.strip() for name in classes_text.split(",") if name.strip())
        config = CocoBuildConfig(
            annotations=annotations,
            output_root=output_root,
            image_dir=image_dir,
            download=image_mode == "download",
            image_base_url=base_url.strip() or None,
            classes=classes,
            train_per_class=int(train_per_class),
            val_per_class=int(val_per_class),
            policy=policy,
            allow_fewer=bool(allow_fewer),
        )
    except VitcoreError as error:
        st.error(str(error))
        return
    bar = st.progress(0.0, text="reading the annotations…")
    script_thread = threading.current_thread()

    def progress(done: int, total: int, message: str) -> None:
        if threading.current_thread() is script_thread:  # Streamlit calls only from the script thread
            bar.progress(min(1.0, done / max(total, 1)), text=f"{done}/{total} · {message}")

    try:
        manifest = build_from_coco(config, progress=progress)
    except VitcoreError as error:
        bar.empty()
        st.error(str(error))
        return
    except OSError as error:
        bar.empty()
        st.error(f"Could not write the dataset: {error.strerror or error}.")
        return
    bar.progress(1.0, text="done")
    totals = manifest.get("totals", {})
    st.success(f"Built {display_path(output_root)}: {totals.get('train', '?')} training and {totals.get('val', '?')} validation images. It is now the active dataset.")
    state.set_active_source(str(output_root))
