"""The candle intake: reads the feed's closed candles on the event loop, whatever the worker is doing.

The candle loop takes them one by one and hands each to the trading worker; while a step waits on the
exchange the intake keeps reading (and counting) what the feed delivers, so the feed's own watchdog and
heartbeat are never starved and no candle is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from tradewarden.domain.candles import Candle


class CandleIntake:
    def __init__(self) -> None:
        self.received = 0      # candles the feed delivered
        self.ended = False     # the feed's stream ended (market data ended)
        self._queue: asyncio.Queue[Candle | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None  # what ended the stream, raised to the candle loop
        self._stream: AsyncIterator[Candle] | None = None

    def start(self, stream: AsyncIterator[Candle]) -> None:
        self._stream = stream
        self._task = asyncio.get_running_loop().create_task(self._read(stream))

    async def _read(self, stream: AsyncIterator[Candle]) -> None:
        try:
            async for candle in stream:
                self.received += 1
                self._queue.put_nowait(candle)
            self.ended = True
        except Exception as exc:  # the loop's own error handling decides (a session error ends the run)
            self._error = exc
        finally:
            self._queue.put_nowait(None)  # wakes the taker: nothing more will come

    async def next(self, stop: asyncio.Event) -> Candle | None:
        """The next candle; None when the stream ended or ``stop`` was set first."""
        getter = asyncio.ensure_future(self._queue.get())
        waiter = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if getter not in done:
            getter.cancel()
            return None
        candle = getter.result()
        if candle is None and self._error is not None:
            raise self._error
        return candle

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if isinstance(self._stream, AsyncGenerator):  # a generator's finally blocks run now, not at collection
            with contextlib.suppress(BaseException):
                await self._stream.aclose()
