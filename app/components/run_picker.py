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
