"""The market-data instance's work against the simulator (through ccxt, as the registry points at it) and the real
Redis: the warm-up fills every series with the right counts and reports progress, klines keep the newest candle
current, the store gets the candles too, and each setup problem is one line naming what and where."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.conftest import REDIS_TEST_URL

from tradewarden.config import AppConfig, load_config
from tradewarden.data.cache import RedisCandleCache
from tradewarden.data.sample import sample_1m_path
from tradewarden.data.store_arrow import ArrowCandleStore
from tradewarden.domain.candles import Candle
from tradewarden.domain.instances import InstanceRole, InstanceState
from tradewarden.errors import BadInput
from tradewarden.fleet.market_data import MarketDataError, market_data_work
from tradewarden.persistence import Database
from tradewarden.persistence.fleet_repo import ExchangeView, InstanceView, WarmupProgress, add_exchange
from tradewarden.persistence.instance_repo import get_instance, register_instance
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REDIS = REDIS_TEST_URL
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


class Hooks:
    """What the runner would be told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.activated = asyncio.Event()

    def warming(self, reason: str) -> None:
        self.calls.append(("warming", reason))

    def progress(self, progress: WarmupProgress) -> None:
        self.calls.append(("progress", progress))

    def active(self, reason: str) -> None:
        self.calls.append(("active", reason))
        self.activated.set()

    def progress_reports(self) -> list[WarmupProgress]:
        return [p for kind, p in self.calls if kind == "progress"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), symbols=SYMBOLS, seed=4, start_index=1100) as handle:
        yield handle


@pytest.fixture
def prefix(cache_prefix: str) -> str:
    return cache_prefix


def config(tmp_path: Path, prefix: str, **more: str) -> AppConfig:
    return load_config(None, {"data_dir": str(tmp_path / "data"), "redis.url": REDIS, "redis.prefix": prefix, **more})


def registry(tmp_path: Path, sim: SimulatorHandle, *, symbols: list[str], timeframes: list[str],
             ccxt_id: str = "binance", ws_url: str | None = None) -> tuple[InstanceView, ExchangeView]:
    with Database.open(None, tmp_path / "data") as db:
        exchange = add_exchange(db, "simx", ccxt_id, rest_url=sim.base_url,
                                ws_url=ws_url or sim.base_url.replace("http://", "ws://") + "/stream/ws")
        instance = register_instance(db, "simx", InstanceRole.MARKET_DATA, f"test-{uuid.uuid4().hex[:6]}",
                                     symbols=symbols, timeframes=timeframes)
    return instance, exchange


def sim_closed(sim: SimulatorHandle, symbol: str) -> list[Candle]:
    return [Candle(*c.ohlcv()) for c in sim.closed_candles(symbol)]


def closed_5m(sim: SimulatorHandle, symbol: str) -> int:
    """How many closed 5m candles the simulator serves (the newest row of a kline answer is still forming)."""
    rows = ccxt.binance(sim.ccxt_config()).fetch_ohlcv(symbol, "5m", None, 1000)
    return len(rows) - 1


async def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_warm_up_fills_every_series_then_klines_keep_the_newest_current(
        sim: SimulatorHandle, prefix: str, tmp_path: Path) -> None:
    instance, exchange = registry(tmp_path, sim, symbols=SYMBOLS, timeframes=["1m", "5m"])
    cfg = config(tmp_path, prefix)
    cache = RedisCandleCache(REDIS, prefix=prefix)
    hooks, stop = Hooks(), asyncio.Event()
    frozen_before = gc.get_freeze_count()
    work = asyncio.create_task(market_data_work(cfg)(instance, exchange, hooks, stop))
    try:
        await asyncio.wait_for(hooks.activated.wait(), 60)
        # what the start made is out of the collector's full collections while the instance streams
        assert gc.get_freeze_count() > frozen_before
        five = {s: await asyncio.to_thread(closed_5m, sim, s) for s in SYMBOLS}
        for symbol, market in (("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")):
            # 1,000 candles each, exactly the exchange's newest closed ones, under candles:{id}:{market}:{tf}
            assert cache.latest(exchange.id, market, "1m") == sim_closed(sim, symbol)[-1000:]
            assert cache.status(exchange.id, market, "5m").count == five[symbol]
        assert {r.series.key for r in cache.scan(exchange.id)} == {
            f"{prefix}:{exchange.id}:{m}:{tf}" for m in ("BTCUSDT", "ETHUSDT") for tf in ("1m", "5m")}
        # warming, then progress that only grows and ends complete (the 5m series are shorter than asked), active
        kinds = [kind for kind, _ in hooks.calls]
        assert kinds[0] == "warming" and kinds[-1] == "active" and set(kinds[1:-1]) == {"progress"}
        reports = hooks.progress_reports()
        total = 2 * 1000 + sum(five.values())
        assert reports[0] == WarmupProgress(0, 2, 0, 4000)
        assert reports[-1] == WarmupProgress(2, 2, total, total)
        assert all(a.candles_done <= b.candles_done and a.symbols_done <= b.symbols_done
                   for a, b in itertools.pairwise(reports))
        warmed_at = cache.status(exchange.id, "BTCUSDT", "1m").updated_ms or 0

        # klines: three candles close; each lands in Redis, the series stays 1,000 long
        await asyncio.to_thread(sim.wait_for_streams, "btcusdt@kline_1m", "ethusdt@kline_1m", timeout=10)
        for _ in range(6):
            await asyncio.to_thread(sim.advance_ms, 30_000)
            await asyncio.sleep(0.05)
        newest = sim_closed(sim, "BTC/USDT")[-1]
        await wait_until(lambda: cache.latest(exchange.id, "BTCUSDT", "1m", 1) == [newest])
        assert cache.latest(exchange.id, "BTCUSDT", "1m") == sim_closed(sim, "BTC/USDT")[-1000:]
        await wait_until(lambda: cache.latest(exchange.id, "ETHUSDT", "1m", 1) == sim_closed(sim, "ETH/USDT")[-1:])
        # and the instance confirms its series current with its heartbeat
        await wait_until(lambda: (cache.status(exchange.id, "ETHUSDT", "5m").updated_ms or 0) > warmed_at)
    finally:
        stop.set()
        await asyncio.wait_for(work, 15)  # returns when told to stop
        cache.close()
    assert gc.get_freeze_count() == frozen_before  # given back when the instance stops
    stored = ArrowCandleStore(tmp_path / "data" / "candles").load("simx", "BTC/USDT", "1m")
    assert len(stored) == 1003 and int(stored.ts[-1]) == newest.ts  # the store got the warm-up and the stream


async def test_setup_problems_are_one_line_naming_what_and_where(sim: SimulatorHandle, prefix: str,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match=r"^instance run needs redis.url"):
        market_data_work(load_config(None, {"data_dir": str(tmp_path / "d0")}))

    async def failure(cfg: AppConfig, instance: InstanceView, exchange: ExchangeView, *,
                      setup: bool = True) -> tuple[str, Hooks]:
        hooks = Hooks()
        with pytest.raises(MarketDataError) as err:
            await asyncio.wait_for(market_data_work(cfg)(instance, exchange, hooks, asyncio.Event()), 30)
        assert "\n" not in str(err.value)
        # a setup problem is bad input (exit 2, not restarted); a server that does not answer is not
        assert isinstance(err.value, BadInput) is setup, f"{err.value!r}"
        return str(err.value), hooks

    instance, exchange = registry(tmp_path / "a", sim, symbols=["BTC/USDT", "NOPE/USDT"], timeframes=["1m"])
    message, hooks = await failure(config(tmp_path / "a", prefix), instance, exchange)
    assert message.count("exchange 'simx'") == 1 and "has no market NOPE/USDT" in message
    assert hooks.calls == []  # refused before warming

    message, _ = await failure(config(tmp_path / "a", prefix, **{"redis.url": "redis://127.0.0.1:1/0"}), instance,
                               exchange, setup=False)
    assert message.startswith("Redis at 127.0.0.1:1/0 is unreachable")

    instance, exchange = registry(tmp_path / "b", sim, symbols=["BTC/USDT"], timeframes=["1m"], ccxt_id="bigone")
    message, _ = await failure(config(tmp_path / "b", prefix), instance, exchange)
    assert "exchange 'simx'" in message and "ccxt has no WebSocket client for 'bigone'" in message

    instance, exchange = registry(tmp_path / "c", sim, symbols=["BTC/USDT"], timeframes=["1m"],
                                  ws_url="http://127.0.0.1:1/ws")
    message, _ = await failure(config(tmp_path / "c", prefix), instance, exchange)
    assert "ws_url 'http://127.0.0.1:1/ws' is not a ws or wss URL" in message
    assert "tradewarden exchanges update simx --ws-url URL" in message


def test_instance_run_exits_2_with_one_line_for_a_setup_problem(sim: SimulatorHandle, prefix: str,
                                                                tmp_path: Path) -> None:
    """``redis.url`` unset and a symbol the exchange does not list are the operator's to fix: exit 2 (bad
    input), one line, no traceback; the second is recorded as the instance's error."""
    instance, _ = registry(tmp_path, sim, symbols=["BTC/USDT", "NOPE/USDT"], timeframes=["1m"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env |= {"TRADEWARDEN_DATA_DIR": str(tmp_path / "data"), "TRADEWARDEN_REDIS__PREFIX": prefix}
    run = [sys.executable, "-m", "tradewarden.cli.main", "instance", "run", "--exchange", "simx", "--host",
           instance.host]

    unset = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert unset.returncode == 2, unset.stdout + unset.stderr
    said = " ".join(unset.stderr.split())
    assert said.startswith("error: instance run needs redis.url (the shared candle cache)"), said
    assert "Traceback" not in unset.stdout + unset.stderr

    unknown = subprocess.run(run, env=env | {"TRADEWARDEN_REDIS__URL": REDIS}, capture_output=True, text=True,
                             timeout=60)
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    said = " ".join(unknown.stderr.split())
    assert f"error: instance {instance.id} failed: MarketDataSetupError: exchange 'simx'" in said
    assert said.count("simx") == 1, said  # named once, not once per layer the error passed through
    assert "has no market NOPE/USDT" in said and "Traceback" not in unknown.stdout + unknown.stderr
    with Database.open(None, tmp_path / "data") as db:
        failed = get_instance(db, instance.id)
    assert failed.state is InstanceState.ERROR and failed.last_error is not None
    assert "has no market NOPE/USDT" in failed.last_error
