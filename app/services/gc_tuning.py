"""Keep Python's full garbage collections short while a class uses the server.

The server process holds about half a million long-lived objects once torch,
plotly, pandas and Streamlit are imported (classes, functions, module dicts).
Python's cyclic garbage collector walks all of them in every full (generation
2) collection, and a full collection holds the GIL: measured with 30 students
opening the Attention page at once, each one paused every session for
100-320 ms. Those objects live as long as the process, so scanning them is
wasted work.

`gc.freeze()` moves every object alive now into a permanent generation that
the collector no longer scans. `ImportFreezer.freeze_if_imports_grew()` does
that once the app's imports have settled: at the end of a script run, each
time the number of loaded modules has grown since the last freeze (a page
seen for the first time imports more). It collects first, so no garbage is
frozen. Objects made afterwards (sessions, figures, uploads) are collected as
usual.

This file imports no Streamlit: app/state.py holds one ImportFreezer per
server process.
"""

from __future__ import annotations

import gc
import sys
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class FreezeReport:
    """What one call of freeze_if_imports_grew did."""

    froze: bool  # True when this call collected and froze
    modules_loaded: int  # len(sys.modules) at the call
    frozen_objects: int  # objects in the permanent generation after the last freeze (gc.get_freeze_count() then)


class ImportFreezer:
    """Freezes the long-lived objects each time the loaded modules grew; thread-safe (sessions run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # two sessions finishing together freeze once
        self._modules_at_last_freeze = 0  # len(sys.modules) when this freezer last froze (0: never)
        self._frozen_at_last_freeze = 0  # gc.get_freeze_count() right after the last freeze

    def freeze_if_imports_grew(self) -> FreezeReport:
        """Collect and freeze when more modules are loaded than at the last freeze; otherwise do nothing."""
        with self._lock:
            modules_loaded = len(sys.modules)
            if modules_loaded <= self._modules_at_last_freeze:
                # Not gc.get_freeze_count() here: it walks the whole permanent generation (milliseconds, GIL held).
                return FreezeReport(False, modules_loaded, self._frozen_at_last_freeze)
            gc.collect()  # frozen objects are never collected again: freeze no garbage
            gc.freeze()
            self._modules_at_last_freeze = modules_loaded
            self._frozen_at_last_freeze = gc.get_freeze_count()
            return FreezeReport(True, modules_loaded, self._frozen_at_last_freeze)
