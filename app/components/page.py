"""How every page starts: its title and introduction, then the server's shared objects and this tab's identity.

    page = open_page(":material/compare: Compare a ViT with a CNN", "Same validation images, ...")
    data = page.data_or_stop()  # the active dataset, or one clear st.error and the page stops

Before this helper each page repeated the same dozen lines (owner id, run store, scheduler, device, the active
dataset and its error handling).
"""

from __future__ import annotations

from functools import cached_property

import streamlit as st

from app import state
from vitcore.errors import VitcoreError


class PageContext:
    """What a page works with; each piece is looked up on first use (a page that needs no owner id sets none)."""

    @cached_property
    def owner(self) -> str:
        """This tab's owner id (who started which run), kept in the page address."""
        return state.owner_id()

    @cached_property
    def admin_token(self) -> str | None:
        """What this session typed into the sidebar's instructor box."""
        return state.admin_token()

    @cached_property
    def store(self):
        """The server's RunStore."""
        return state.get_run_store()

    @cached_property
    def scheduler(self):
        """The server's one JobScheduler (the training queue)."""
        return state.get_scheduler()

    @cached_property
    def device(self):
        """The torch.device this server trains and evaluates on."""
        return state.get_device()

    def data_or_stop(self):
        """The active dataset (ClassificationData); on a VitcoreError, one st.error and the page stops there."""
        try:
            return state.active_dataset()
        except VitcoreError as error:
            st.error(str(error))
            st.stop()


def open_page(title: str, introduction: str) -> PageContext:
    """Draw the page's title and introduction; the returned context looks up the shared objects when asked."""
    st.title(title)
    st.markdown(introduction)
    return PageContext()
