"""Keep a page's run selection valid when another session deletes the run it shows.

Thirty students share one run folder, and the owner (or the instructor) may
delete a run while someone else's Attention, Compare or Train page shows it.
Before a page draws its run pickers it calls `forget_deleted_runs`: every
remembered choice that points at a run that no longer exists is dropped, and
the page says so in one st.warning instead of crashing.
"""

from __future__ import annotations

import streamlit as st

from app import state
from vitcore.errors import RunError, VitcoreError

DELETED_MESSAGE = "that run was deleted"  # the words every page uses (tests look for them)


def deleted_warning(run_id: str, fallback: str) -> None:
    """The one warning shown when a run disappears under a page."""
    st.warning(f"Run `{run_id}` is gone: {DELETED_MESSAGE} (by its owner or the instructor). {fallback}", icon=":material/delete:")


def forget_deleted_runs(existing_run_ids, widget_keys: tuple[str, ...] = (), fallback: str = "Showing another run.") -> list[str]:
    """Drop the session's selected run and the given run-picker widget values that no longer exist.

    Returns the ids that were forgotten (a warning has been shown when any were).
    Call it before the pickers are created (Streamlit only lets a widget's value be changed then).
    """
    existing = set(existing_run_ids)
    gone: list[str] = []
    remembered = state.selected_run()
    if remembered and remembered not in existing:
        gone.append(remembered)
        state.set_selected_run(None)
    for key in widget_keys:
        value = st.session_state.get(key)
        if isinstance(value, str) and value and value not in existing:
            if value not in gone:
                gone.append(value)
            del st.session_state[key]
    if gone:
        deleted_warning(gone[0], fallback if existing else "There is no other run to show yet.")
    return gone


def vit_runs_or_stop(store, widget_key: str) -> list:
    """The ViT runs that have a checkpoint (newest first); with none, a pointer to the Train page and the page stops.

    Also forgets the session's choice of a run deleted since (`widget_key` is the page's run picker).
    """
    all_runs = store.list_runs()
    vit_runs = [info for info in all_runs if info.model_kind == "vit" and info.has_checkpoint]
    forget_deleted_runs([info.id for info in all_runs], widget_keys=(widget_key,))
    if not vit_runs:
        st.info("No ViT run with a checkpoint yet — start one on the **Train** page (or use the one-click button on **Home**).")
        st.page_link("views/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    return vit_runs


def load_run_or_stop(store, info):
    """(model, model_config, class_names) of a run's checkpoint (shared cache); on failure one sentence and the page stops."""
    try:
        return state.load_run_model(info.id, info.checkpoint_mtime)
    except RunError as error:
        if not store.root.joinpath(info.id).is_dir():  # deleted between the listing and the loading
            deleted_warning(info.id, "Pick another run above.")
        else:  # a corrupt checkpoint or config: an error for this run only, the picker above still works
            st.error(f"Run `{info.id}` cannot be loaded: {error}. Pick another run above.")
        st.stop()
    except VitcoreError as error:
        st.error(str(error))
        st.stop()
