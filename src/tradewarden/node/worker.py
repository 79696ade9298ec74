"""The trading worker: the one thread that runs candle steps and every call to the exchange.

The engine, its venue and the state store are single-threaded, so their work is serialised on this thread;
the event loop only awaits it. A create whose answer takes seconds then holds this thread, never the loop:
the kill-switch watcher, the feed and its heartbeat keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class TradingWorker:
    def __init__(self, name: str = "trading") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.busy = 0  # jobs queued or running, for the heartbeat

    async def run(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run ``fn`` on the worker after the jobs before it; the result (or its exception) comes back here.

        A cancelled caller does not cancel the job: a half-done step would leave the books inconsistent."""
        loop = asyncio.get_running_loop()
        self.busy += 1
        try:
            return await asyncio.shield(loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs)))
        finally:
            self.busy -= 1

    def close(self) -> None:
        """Wait for the jobs already queued, then end the thread."""
        self._pool.shutdown(wait=True)
