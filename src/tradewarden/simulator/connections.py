"""WebSocket connections and their outgoing queues, shared by market streams and the WebSocket API.

Each connection has its own queue and writer task, so a slow client never holds up the simulated clock.
Faults that act on streams (stall, malformed frames) are applied here, at the moment a frame is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from tradewarden.simulator.faults import FaultBook

MALFORMED = {
    "invalid_json": '{"e": "trade", "E": 17953153',
    "out_of_schema": '{"e": "surprise", "payload": [1, 2, 3]}',
}


class Connection:
    def __init__(
        self, ws: web.WebSocketResponse, target: str, faults: FaultBook, combined: bool = False
    ) -> None:
        self.ws = ws
        self.target = target  # "market" or "user"
        self.faults = faults
        self.combined = combined
        self.subs: set[str] = set()
        self.opened = time.monotonic()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent = 0
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, text: str) -> None:
        """Queue one frame, unless the streams are stalled; a malformed-messages fault replaces it."""
        if self.faults.stalled(self.target):
            return
        variant = self.faults.take_malformed(self.target) if self.faults.armed else None
        self.queue.put_nowait(MALFORMED[variant] if variant else text)

    def reply(self, text: str) -> None:
        """Answers to the client's own requests are never stalled or mangled."""
        self.queue.put_nowait(text)

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


class Registry:
    """Every open WebSocket, so faults and shutdown can reach them all."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()

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
