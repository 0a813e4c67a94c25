"""Let a background training thread yield the CPU to everything else in the process.

A classroom server trains INSIDE the Streamlit process while students load pages and
upload pictures. On a 2-core laptop the trainer would otherwise take its full share
of the CPU and every page would wait. Linux gives each thread its own "nice" value
(`setpriority(PRIO_PROCESS, thread_id, ...)` acts on one thread only), and the
scheduler hands a nicer thread a much smaller slice whenever another thread wants the
core: at nice 10 the trainer gets ~10 % of a contended core and 100 % of an idle one.
So training loses almost nothing while nobody else is busy, and pages stay fast.

Threads a thread creates (PyTorch's OpenMP workers) inherit its nice value, so this is
called first thing in the training thread, before any tensor work.
An unprivileged process may raise a nice value but never lower it again.
"""

from __future__ import annotations

import os
import threading

MAX_NICE = 19  # the largest nice value Linux allows (lowest priority)


def lower_current_thread_priority(increment: int) -> int | None:
    """Raise the calling thread's nice value by `increment` (capped at 19).

    Returns the thread's new nice value, or None where the OS cannot do it per thread
    (not Linux, or the call was refused); the caller then simply trains at normal priority.
    """
    if increment <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return None
    thread_id = threading.get_native_id()  # on Linux a thread id is a valid PRIO_PROCESS target
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(MAX_NICE, current + int(increment)))
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except OSError:
        return None


def current_thread_nice() -> int | None:
    """The calling thread's nice value (None where unsupported)."""
    if not hasattr(os, "getpriority") or not hasattr(threading, "get_native_id"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return None
