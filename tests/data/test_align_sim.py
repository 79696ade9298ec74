"""The bar aligner over the ccxt.pro feed of three symbols from the simulator: every step has every symbol,
with exactly the simulator's closed candles, none lost, none doubled, nothing reported missing or late."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tradewarden.data.align import Step, aligned_steps
from tradewarden.data.feed_ccxt import CcxtFeed, FeedSettings
from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType, payload_problems

sim_testing = pytest.importorskip("tradewarden.simulator.testing")
pytestmark = pytest.mark.slow  # streams for a few seconds

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
TF, HOUR = "1h", 3_600_000


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[EventType, dict[str, Any]]] = []
        self.problems: list[str] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        self.problems += payload_problems(type_, fields)
        self.items.append((type_, fields))


async def test_three_symbols_from_the_simulator_arrive_as_complete_steps_each_once() -> None:
    import ccxt.pro

    with sim_testing.start_simulator(symbols=SYMBOLS, seed=3, start_index=100) as sim:
        events = Events()
        feed = CcxtFeed(ccxt.pro.binance(sim.ccxt_config()), sink=events,
                        settings=FeedSettings(heartbeat_s=2.0, reconnect_base_s=0.05, reconnect_cap_s=0.2))
        start = (await feed.history(SYMBOLS[0], TF, 2))[-1].ts
        market_now = [await asyncio.to_thread(sim.now_ms)]  # the simulator's stepped clock, as the test moves it
        streams = {s: feed.closed_candles(s, TF, after_ms=start) for s in SYMBOLS}
        got: list[Step] = []

        async def consume() -> None:
            # a grace of one bar on the market clock: the stepped clock jumps half a bar at a time
            async for step in aligned_steps(streams, HOUR, grace_s=3600, clock_ms=lambda: market_now[0],
                                            sink=events, timeframe=TF, max_wait_s=0.05):
                got.append(step)

        task = asyncio.create_task(consume())
        await asyncio.to_thread(sim.wait_for_streams, *(f"{s.replace('/', '').lower()}@kline_1h" for s in SYMBOLS),
                                timeout=10)
        for _ in range(12):  # six bars, half a bar at a time
            await asyncio.to_thread(sim.advance_ms, HOUR // 2)
            market_now[0] = await asyncio.to_thread(sim.now_ms)
            await asyncio.sleep(0.05)
        want = {s: [Candle(*c.ohlcv()) for c in await asyncio.to_thread(sim.closed_candles, s) if c.ts > start]
                for s in SYMBOLS}
        n = len(want[SYMBOLS[0]])
        deadline = asyncio.get_running_loop().time() + 8
        while len(got) < n and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # anything doubled would arrive now
        await feed.close()
        await asyncio.wait_for(task, 5)

    assert n >= 5
    assert [s.ts for s in got] == [c.ts for c in want[SYMBOLS[0]]]
    assert all(list(s.bars) == SYMBOLS and s.missing == () for s in got)
    assert len({want[s][0].close for s in SYMBOLS}) == 3  # prices differ per symbol: a mix-up would show
    for sym in SYMBOLS:
        assert [s.bars[sym] for s in got] == want[sym], sym
    types = [t for t, _ in events.items]
    assert EventType.BARS_MISSING not in types and EventType.BAR_LATE not in types
    assert events.problems == []
