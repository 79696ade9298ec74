"""A connection's send queue is bounded: a client that reads nothing is disconnected, not buffered for."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.connections import SLOW_CLIENT_CODE, Registry
from tradewarden.simulator.errors import SimConfigError
from tradewarden.simulator.faults import FaultBook


class StuckSocket:
    """A WebSocket whose client reads nothing: the first send never completes (until ``unblock``)."""

    def __init__(self) -> None:
        self.closed = False
        self.sent: list[str] = []
        self.close_code: int | None = None
        self.close_message = b""
        self.unblock = asyncio.Event()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        await self.unblock.wait()
        self.sent.append(data)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.closed = True
        self.close_code, self.close_message = code, message
        return True


def faults() -> FaultBook:
    return FaultBook(sim_now=lambda: 0)


async def test_a_client_that_falls_behind_is_closed_and_its_frames_dropped(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(max_queued=3)
    ws = StuckSocket()
    conn = registry.open(ws, "market", faults())
    conn.send("frame-0")
    await asyncio.sleep(0)  # the writer takes it and waits on the client
    for n in range(1, 4):
        conn.send(f"frame-{n}")
    assert conn.queue.qsize() == 3 and not conn.too_slow
    with caplog.at_level(logging.WARNING, logger="tradewarden.simulator"):
        conn.send("frame-4")  # one more than the bound
    assert conn.too_slow
    assert conn.queue.empty()  # what waited is released, not kept for a client that is going
    conn.send("frame-5")
    conn.reply('{"result": null, "id": 1}')
    assert conn.queue.empty()
    for _ in range(5):
        await asyncio.sleep(0)
    assert ws.closed and ws.close_code == SLOW_CLIENT_CODE and ws.close_message
    assert ws.sent == []  # the stuck send was abandoned, nothing after it went out
    assert registry.too_slow == 1
    assert "market WebSocket (code 1008): the client is 3 frames behind" in caplog.text


async def test_a_client_that_keeps_up_is_never_closed() -> None:
    registry = Registry(max_queued=3)
    ws = StuckSocket()
    ws.unblock.set()
    conn = registry.open(ws, "user", faults())
    for n in range(50):
        conn.send(f"frame-{n}")
        if n % 3 == 2:
            await asyncio.sleep(0)  # the writer drains what is queued
    for _ in range(5):
        await asyncio.sleep(0)
    assert ws.sent == [f"frame-{n}" for n in range(50)]
    assert not conn.too_slow and not ws.closed and registry.too_slow == 0
    await conn.close()


def test_the_bound_is_a_setting_of_at_least_one_frame() -> None:
    assert SimConfig().ws_send_queue == 10_000
    with pytest.raises(SimConfigError, match="ws_send_queue: must be at least 1"):
        SimConfig(ws_send_queue=0)
