"""ViT Classroom: entry point of the Streamlit dashboard.

Run from the repository root:  streamlit run app/Home.py

This file only sets up the page and the navigation; every page lives in
app/views/ and is registered with st.Page.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # make `app` and `vitcore` importable when started by path
    sys.path.insert(0, str(REPO_ROOT))

import streamlit as st  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="ViT Classroom", page_icon=":material/school:", layout="wide")

pages = [
    st.Page(VIEWS / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(VIEWS / "data.py", title="Data", icon=":material/photo_library:", url_path="data"),
    st.Page(VIEWS / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(VIEWS / "attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
    st.Page(VIEWS / "inside_vit.py", title="Inside the ViT", icon=":material/route:", url_path="inside-the-vit"),
    st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page(VIEWS / "attention_lab.py", title="Attention lab", icon=":material/science:", url_path="attention-lab"),
]

navigation = st.navigation(pages)

from app import state  # noqa: E402  (after the sys.path fix above)
from app.components.reduced_motion import apply_motion_setting  # noqa: E402

apply_motion_setting(state.animations_enabled())  # off by default: a class of animating tabs costs CPU

with st.sidebar:
    # Drawn by the entry point on every page, so the typed token stays in this session while it browses.
    st.text_input(
        "Instructor token", type="password", key=state.ADMIN_TOKEN_KEY,
        help="The instructor types the server's VIT_CLASSROOM_ADMIN_TOKEN here to stop, cancel or delete anyone's run.",
    )
    if state.admin_token():
        if state.is_instructor():
            st.caption(":material/verified_user: Instructor mode: you can stop, cancel and delete every run.")
        else:
            st.caption("That is not this server's instructor token.")

navigation.run()

# After the page ran, its imports are loaded: keep the half-million objects they made out of every
# full garbage collection (a full collection holds the GIL for 100-320 ms; see app/services/gc_tuning.py).
state.get_import_freezer().freeze_if_imports_grew()
