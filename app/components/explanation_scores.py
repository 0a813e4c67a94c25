"""The Compare page's scores: which explanation points at the object, for the ViT run and the CNN run.

For every method of each model (vitcore.explain.methods) over the validation pictures that have an object
mask: the pointing game, the energy inside the mask and their chance level, for the trained model and the two
sanity-check controls (vitcore.explain.localize). Scoring runs every method three times per picture, so it
starts on a button, shows a progress bar, and its table is kept for every session (a class shares one result).
"""

from __future__ import annotations

import threading

import pandas as pd
import streamlit as st

from app import state
from app.services.inference import SINGLE_PICTURE_THREADS, torch_threads
from vitcore.errors import VitcoreError
from vitcore.explain.methods import METHOD_TITLES

DEFAULT_PICTURES = 100  # pictures scored by default (every picture of coco5-64's val split takes minutes)


@st.cache_resource
def _shared_tables() -> tuple[dict, threading.Lock]:
    """Score tables already computed on this server, by (runs, checkpoints, dataset, pictures); and its lock."""
    return {}, threading.Lock()


def _score_table(chosen: dict, data, limit: int, progress) -> pd.DataFrame:
    """Both runs' localization rows as one table (progress(share, text) while it works)."""
    from vitcore.explain.localize import flagged_methods, localization_table

    rows = []
    for kind, info in chosen.items():
        model, model_config, _ = state.load_run_model(info.id, info.checkpoint_mtime)
        with torch_threads(SINGLE_PICTURE_THREADS):
            results = localization_table(model, model_config, data.val, seed=0, limit=limit,
                                         progress=lambda label, done, total, kind=kind: progress(done / max(total, 1),
                                                                                                  f"{kind} · {label}: {done}/{total}"))
        flagged = flagged_methods(results)
        for result in results:
            rows.append({
                "model": kind, "method": METHOD_TITLES[result.method], "weights": result.model_state,
                "pictures": result.pictures, "pointing game": result.pointing_game, "energy inside": result.energy_inside,
                "chance": result.chance,
                "shows what it learned": "no: flagged" if result.method in flagged else "yes",
            })
    return pd.DataFrame(rows)


def explanation_scores_section(chosen: dict, data) -> None:
    """The scores table for the chosen ViT and CNN runs (`chosen`: {"ViT": RunSummary, "CNN": RunSummary})."""
    st.subheader("Which explanation points at the object?")
    with_mask = int(data.val.mask_known().sum())
    if with_mask == 0:
        st.info("This dataset has no object masks, so the explanations cannot be scored: use the embedded drawings, or "
                "build a folder from COCO with masks (the Data page, or `python -m vitcore data build-coco`).")
        return
    st.markdown(
        "For each picture with an object mask, each method's heat map is checked two ways: does its brightest point "
        "lie on the object (the **pointing game**), and what share of its heat lies on it (**energy inside**)? A flat "
        "map scores the object's share of the picture (**chance**). The same scores for an **untrained** model and for "
        "the trained one with its **last layers randomized** are sanity checks (Adebayo et al. 2018): a method whose "
        "score does not drop for them does not show what the model learned."
    )
    limit = int(st.number_input("pictures to score", 10, with_mask, min(DEFAULT_PICTURES, with_mask), 10,
                                key="compare_score_pictures", help=f"{with_mask} validation pictures have a mask."))
    key = (tuple((info.id, info.checkpoint_mtime) for info in chosen.values()), data.dataset_id, limit)
    tables, lock = _shared_tables()
    with lock:
        table = tables.get(key)
    if table is None:
        if not st.button("Score the explanations", key="compare_score"):
            st.caption(f"Runs every method of both models on {limit} pictures, three times each (trained, untrained, "
                       "randomized); the result is kept for everyone.")
            return
        bar = st.progress(0.0, text="explaining…")
        try:
            table = _score_table(chosen, data, limit, lambda share, text: bar.progress(min(share, 1.0), text=text))
        except VitcoreError as error:
            st.error(f"The scores could not be computed: {error}")
            return
        bar.empty()
        with lock:
            tables[key] = table
    st.dataframe(table, hide_index=True, column_config={
        name: st.column_config.NumberColumn(name, format="percent") for name in ("pointing game", "energy inside", "chance")
    })
    st.caption("Read down each method: the trained row should beat chance, and both control rows should score lower. "
               "`python -m vitcore localize RUN` prints the same table for all pictures.")
