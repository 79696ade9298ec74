"""The loop monitor: how long the event loop was held (its longest stall), and a periodic heartbeat.

Every ``tick_s`` it asks to be woken and measures how late the wake-up came: the lag is the time something
held the loop. The longest goes into ``RunFinished`` (``loop_stall_max_ms``) and the runtime benchmark. Every
``heartbeat_s`` it emits ``Heartbeat`` (candles received from the feed, feed health, jobs on the trading
worker, the process's resident memory): proof, in the journal, that the loop and the feed run while the worker
waits on the exchange, and the samples the reports' peak memory is the largest of.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable

from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink

_STATM = "/proc/self/statm"
#: MB as the memory alert counts them (deploy/prometheus/alerts.yml: 500 * 1024 * 1024 bytes)
_MB = 1024 * 1024


def rss_mb() -> float:
    """The process's resident memory now, in MB (Linux ``/proc``); elsewhere its peak so far (``getrusage``)."""
    try:
        with open(_STATM, "rb") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / _MB, 1)
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return round(peak / _MB if sys.platform == "darwin" else peak * 1024 / _MB, 1)


class LoopMonitor:
    def __init__(self, events: EventSink, clock_ms: Callable[[], int], status: Callable[[], dict[str, object]],
                 heartbeat_s: float, tick_s: float = 0.05,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.events = events
        self.clock_ms = clock_ms
        self.status = status
        self.heartbeat_s = heartbeat_s
        self.tick_s = tick_s
        self.monotonic = monotonic
        self.stall_max_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def observe(self, expected: float, woke: float) -> None:
        """One wake-up: ``woke`` later than ``expected`` by the time the loop was held."""
        self.stall_max_ms = max(self.stall_max_ms, (woke - expected) * 1000)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        next_beat = self.monotonic() + self.heartbeat_s
        while True:
            expected = self.monotonic() + self.tick_s
            await asyncio.sleep(self.tick_s)
            woke = self.monotonic()
            self.observe(expected, woke)
            if woke >= next_beat:
                next_beat = woke + self.heartbeat_s
                self.events.emit(EventType.HEARTBEAT, self.clock_ms(), loop_stall_max_ms=round(self.stall_max_ms, 1),
                                 rss_mb=rss_mb(), **self.status())
