"""Let a background training run step aside while students' pictures are being answered.

A classroom server trains INSIDE the dashboard's process. When the instructor says
"now upload a photo", thirty predictions arrive within a second. The training thread
already runs at a lower priority (vitcore.train.priority), but that only works where
the OS honours per-thread nice values (Linux, not macOS or Windows), and only against
threads of the same scheduling group: where Linux groups processes by session
(`kernel.sched_autogroup_enabled = 1`), a server started from its own terminal gets
half the cores against everything else, and its nice trainer may use all of that half.

So the trainer also yields by itself, between two optimizer steps:

    activity = ForegroundActivity()               # one per server, shared by pages and trainers
    with activity.running():                      # a page wraps its interactive work
        prediction = predict(model, picture)
    ...
    pause = TrainingYield(activity, quiet_s=1.5, max_pause_s=4.0)  # one per training run
    pause.before_step(stop_requested)             # the loop calls this before each step

`before_step` waits while interactive work runs and until none has run for `quiet_s`
(the students' browsers still draw the answers after the server sent them), but
never longer than `max_pause_s` at once. Each second of training earns a second of
pausing (saved up to a cap), so a class that never stops clicking slows training to
half speed at worst, never to a halt.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

POLL_S = 0.05  # how often a pausing trainer looks again (seconds): short against the 1-2 s pauses


class ForegroundActivity:
    """When interactive work (a student's prediction) last ran in this process; lock-guarded, shared by threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock  # seconds, monotonic (tests pass a fake clock)
        self._lock = threading.Lock()  # guards the two fields below
        self._running_count = 0  # interactive tasks inside running() right now
        self._last_ended = -math.inf  # clock time the most recent one left running()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Mark the block as interactive work: trainers pause while it runs and for a moment after."""
        with self._lock:
            self._running_count += 1
        try:
            yield
        finally:
            with self._lock:
                self._running_count -= 1
                self._last_ended = self._clock()

    def seconds_quiet(self) -> float:
        """0.0 while interactive work runs, else seconds since the last one ended (inf if none ever ran)."""
        with self._lock:
            if self._running_count > 0:
                return 0.0
            return self._clock() - self._last_ended


class TrainingYield:
    """One training run's side of the bargain: before each step, wait for a quiet moment, within limits.

    Pausing is paid for with credit: every second spent training earns one second of pausing, and at most
    `credit_cap_s` is saved up. So a burst of uploads after a calm stretch gets the trainer's full pause,
    while over any long stretch the trainer pauses no longer than it trains (half speed at worst).
    """

    def __init__(
        self,
        activity: ForegroundActivity,
        quiet_s: float,
        max_pause_s: float,
        credit_cap_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.activity = activity  # the server's shared record of interactive work
        self.quiet_s = float(quiet_s)  # train again once no interactive work has run for this long (0 = never pause)
        self.max_pause_s = float(max_pause_s)  # longest single pause; then at least one step runs
        self.credit_cap_s = float(3 * max_pause_s if credit_cap_s is None else credit_cap_s)  # most pause credit saved up
        self._clock = clock
        self._sleep = sleep
        self._credit_s = self.credit_cap_s  # seconds of pausing this run may still spend (starts full)
        self._last_return: float | None = None  # clock time before_step last returned (training since then)
        self.paused_s_total = 0.0  # all seconds this run spent waiting (what the trainer gave up)

    def before_step(self, stop_requested: Callable[[], bool] = lambda: False) -> float:
        """Wait while interactive work is recent (bounded as above); return the seconds waited."""
        if self.quiet_s <= 0 or self.max_pause_s <= 0:
            return 0.0
        started = self._clock()
        if self._last_return is not None:  # the time since the last call was spent training: it earns credit
            self._credit_s = min(self.credit_cap_s, self._credit_s + (started - self._last_return))
        longest = min(self.max_pause_s, self._credit_s)
        while longest > 0 and not stop_requested():
            quiet_for = self.activity.seconds_quiet()
            waited = self._clock() - started
            if quiet_for >= self.quiet_s or waited >= longest:
                break
            self._sleep(min(POLL_S, self.quiet_s - quiet_for, longest - waited))
        self._last_return = self._clock()
        paused = self._last_return - started
        self._credit_s -= paused
        self.paused_s_total += paused
        return paused
