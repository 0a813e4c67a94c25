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
    st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page(VIEWS / "attention_lab.py", title="Attention lab", icon=":material/science:", url_path="attention-lab"),
]

navigation = st.navigation(pages)
navigation.run()
