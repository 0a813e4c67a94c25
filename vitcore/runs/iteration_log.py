"""Per-iteration training curve on disk, so a refresh or a server restart keeps it.

`metrics.jsonl` holds one durable record per epoch. The per-step loss curve is
much longer and less precious, so it goes to `iterations.jsonl` in small
batches (no fsync): at most `flush_every_s` seconds of points can be lost in a crash.
"""

from __future__ import annotations

import time


class IterationLog:
    """Buffers iteration records and appends them to a run's iterations.jsonl."""

    def __init__(self, run, flush_every_s: float = 2.0):
        self.run = run  # the Run whose folder receives the records
        self.flush_every_s = flush_every_s  # longest time a record waits in memory
        self._pending: list[dict] = []  # records not yet written
        self._last_flush = time.monotonic()  # when the buffer was last written

    def add(self, record: dict) -> None:
        """Queue one iteration record; writes the buffer when it is old enough."""
        self._pending.append(record)
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Write every queued record now."""
        if self._pending:
            self.run.append_iterations(self._pending)
            self._pending = []
        self._last_flush = time.monotonic()
