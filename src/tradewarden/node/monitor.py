"""The loop monitor: how long the event loop was held (its longest stall), and a periodic heartbeat.

Every ``tick_s`` it asks to be woken and measures how late the wake-up came: the lag is the time something
held the loop. The longest goes into ``RunFinished`` (``loop_stall_max_ms``) and the runtime benchmark. Every
``heartbeat_s`` it emits ``Heartbeat`` (candles received from the feed, feed health, jobs on the trading
worker): proof, in the journal, that the loop and the feed run while the worker waits on the exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink


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
                                 **self.status())
