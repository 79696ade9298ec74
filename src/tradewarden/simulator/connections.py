"""WebSocket connections and their outgoing queues, shared by market streams and the WebSocket API.

Each connection has its own queue and writer task, so a slow client never holds up the simulated clock. The
queue is bounded (``SimConfig.ws_send_queue`` frames): a client that reads more slowly than the streams it
subscribed to fills it, and is then disconnected (close code 1008, the reason logged and counted), as a real
exchange drops a client that falls behind instead of buffering for it without end. Faults that act on
streams (stall, malformed frames) are applied here, at the moment a frame is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from tradewarden.simulator.faults import FaultBook

log = logging.getLogger("tradewarden.simulator")

MALFORMED = {
    "invalid_json": '{"e": "trade", "E": 17953153',
    "out_of_schema": '{"e": "surprise", "payload": [1, 2, 3]}',
}
#: frames a connection may have waiting by default (``SimConfig.ws_send_queue``): ~20 s of 20 symbols' klines
#: at x120, a few MB
DEFAULT_SEND_QUEUE = 10_000
#: the close code a client too slow for its streams gets (policy violation)
SLOW_CLIENT_CODE = 1008


class Socket(Protocol):
    """What a connection needs of its WebSocket (aiohttp's ``WebSocketResponse``)."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool: ...


class Connection:
    def __init__(
        self,
        ws: Socket,
        target: str,
        faults: FaultBook,
        combined: bool = False,
        max_queued: int = DEFAULT_SEND_QUEUE,
        on_slow: Callable[[Connection], None] | None = None,
    ) -> None:
        if max_queued < 1:
            raise ValueError(f"a connection's send queue holds at least 1 frame, not {max_queued}")
        self.ws = ws
        self.target = target  # "market" or "user"
        self.faults = faults
        self.combined = combined
        self.max_queued = max_queued
        self.on_slow = on_slow
        self.subs: set[str] = set()
        self.opened = time.monotonic()
        # bounded by _put (the end mark must always fit, so the limit is not the queue's own maxsize)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent = 0
        self.too_slow = False  # the queue overflowed: the connection is being closed, frames are dropped
        self._closing: asyncio.Task[None] | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, text: str) -> None:
        """Queue one frame, unless the streams are stalled; a malformed-messages fault replaces it."""
        if self.faults.stalled(self.target):
            return
        variant = self.faults.take_malformed(self.target) if self.faults.armed else None
        self._put(MALFORMED[variant] if variant else text)

    def reply(self, text: str) -> None:
        """Answers to the client's own requests are never stalled or mangled."""
        self._put(text)

    def _put(self, text: str) -> None:
        if self.too_slow:
            return
        if self.queue.qsize() >= self.max_queued:
            self._overflow()
            return
        self.queue.put_nowait(text)

    def _overflow(self) -> None:
        """The client fell ``max_queued`` frames behind: drop what waits (the memory it held) and close."""
        self.too_slow = True
        waiting = self.queue.qsize()
        while not self.queue.empty():
            self.queue.get_nowait()
        log.warning("simulator: closing a %s WebSocket (code %d): the client is %d frames behind, its send "
                    "queue is full", self.target, SLOW_CLIENT_CODE, waiting)
        if self.on_slow is not None:
            self.on_slow(self)
        self._closing = asyncio.get_running_loop().create_task(self._close_slow())

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
                self.sent += 1
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int = 1000) -> None:
        self.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer

    async def _close_slow(self) -> None:
        # the writer is stuck on a client that reads nothing and would hold the close frame back: it goes first
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer
        with contextlib.suppress(Exception):
            await self.ws.close(code=SLOW_CLIENT_CODE, message=b"too slow: send queue full")


class Registry:
    """Every open WebSocket, so faults and shutdown can reach them all; how many were closed as too slow."""

    def __init__(self, max_queued: int = DEFAULT_SEND_QUEUE) -> None:
        self.connections: set[Connection] = set()
        self.max_queued = max_queued
        self.too_slow = 0

    def open(self, ws: Socket, target: str, faults: FaultBook, combined: bool = False) -> Connection:
        """A new connection with this registry's queue bound, registered."""
        conn = Connection(ws, target, faults, combined, self.max_queued, self._count_slow)
        self.add(conn)
        return conn

    def _count_slow(self, _conn: Connection) -> None:
        self.too_slow += 1

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)

    def discard(self, conn: Connection) -> None:
        self.connections.discard(conn)

    async def close_all(self, target: str = "all", code: int = 1000) -> int:
        victims = [c for c in self.connections if target in ("all", c.target)]
        await asyncio.gather(*(c.close(code) for c in victims), return_exceptions=True)
        return len(victims)

    async def expire(self, max_age_s: float) -> None:
        now = time.monotonic()
        await asyncio.gather(
            *(c.close(1000) for c in list(self.connections) if now - c.opened > max_age_s),
            return_exceptions=True,
        )
