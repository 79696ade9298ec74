"""A feed that reads the shared cache (a trading bot beside a market-data instance), against the simulator's
REST log: history and backfills from a fresh cache cost no klines request; a stale cache is not trusted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import REDIS_TEST_URL

from tradewarden.data.cache import ExchangeCache, RedisCandleCache
from tradewarden.data.feed_ccxt import CcxtFeed, FeedSettings
from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType, payload_problems
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SYMBOL, TF, HOUR = "BTC/USDT", "1h", 3_600_000
AGENT = "cache-reader-test"


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.problems: list[str] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        self.problems += payload_problems(type_, fields)
        self.items.append((type_, fields))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [f for t, f in self.items if t == type_]


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(symbols=[SYMBOL], seed=2, start_index=300) as handle:
        yield handle


@pytest.fixture
def cache(cache_prefix: str) -> Iterator[RedisCandleCache]:
    c = RedisCandleCache(REDIS_TEST_URL, size=200, prefix=cache_prefix)
    yield c
    c.close()


def closed(sim: SimulatorHandle) -> list[Candle]:
    return [Candle(*c.ohlcv()) for c in sim.closed_candles(SYMBOL)]


def reader_klines(sim: SimulatorHandle) -> int:
    return sum(1 for r in sim.requests_log() if r["path"] == "/api/v3/klines" and r.get("agent") == AGENT)


def reader_feed(sim: SimulatorHandle, cache: RedisCandleCache, events: Events) -> CcxtFeed:
    import ccxt.pro

    exchange = ccxt.pro.binance({**sim.ccxt_config(), "userAgent": AGENT})
    return CcxtFeed(exchange, sink=events, settings=FeedSettings(heartbeat_s=5.0),
                    history_cache=ExchangeCache(cache, 7, {SYMBOL: "BTCUSDT"}, max_age_ms=60_000))


async def test_history_and_backfill_come_from_a_fresh_cache_without_a_klines_request(
        sim: SimulatorHandle, cache: RedisCandleCache) -> None:
    writer = ExchangeCache(cache, 7, {SYMBOL: "BTCUSDT"}, by="test writer")
    writer.put(SYMBOL, TF, closed(sim))  # what a market-data instance holds: every closed candle
    events = Events()
    feed = reader_feed(sim, cache, events)
    got: list[Candle] = []
    try:
        history = list(await feed.history(SYMBOL, TF, 150))
        assert history == closed(sim)[-150:]
        assert events.of("HistoryFromCache") == [{"exchange": "binance", "symbol": SYMBOL, "timeframe": TF,
                                                  "count": 150, "key": cache.key(7, "BTCUSDT", TF)}]

        async def consume() -> None:
            async for candle in feed.closed_candles(SYMBOL, TF, after_ms=history[-1].ts):
                got.append(candle)

        task = asyncio.create_task(consume())
        await asyncio.to_thread(sim.wait_for_streams, "btcusdt@kline_1h", timeout=10)
        for _ in range(6):  # three candles close, half a candle at a time; the writer keeps the cache current
            await asyncio.to_thread(sim.advance_ms, HOUR // 2)
            await asyncio.to_thread(lambda: writer.put(SYMBOL, TF, closed(sim)[-2:]))
            await asyncio.sleep(0.1)
        want = [c for c in await asyncio.to_thread(closed, sim) if c.ts > history[-1].ts]
        deadline = asyncio.get_running_loop().time() + 8
        while len(got) < len(want) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await feed.close()
    await asyncio.wait_for(task, 5)
    assert got == want and len(want) == 3
    assert await asyncio.to_thread(reader_klines, sim) == 0  # history and the connect backfill: all from Redis
    assert events.problems == []


async def test_a_stale_cache_is_not_trusted_and_the_exchange_answers(sim: SimulatorHandle,
                                                                     cache: RedisCandleCache) -> None:
    writer = ExchangeCache(cache, 7, {SYMBOL: "BTCUSDT"}, by="test writer")
    writer.put(SYMBOL, TF, closed(sim)[:-5])  # the instance stopped five candles ago...
    cache.client.hset(cache.key(7, "BTCUSDT", TF) + ":meta", "updated", cache.now_ms() - 90_000)  # ...90 s ago
    events = Events()
    feed = reader_feed(sim, cache, events)
    try:
        history = list(await feed.history(SYMBOL, TF, 100))
    finally:
        await feed.close()
    assert history == closed(sim)[-100:]  # the exchange's, up to the newest closed candle
    [miss] = events.of("HistoryCacheMiss")
    assert "last updated 90 s ago (limit 60 s)" in miss["reason"]
    assert events.of("HistoryFromCache") == []
    assert await asyncio.to_thread(reader_klines, sim) >= 1
    assert events.problems == []
