"""A paper trading bot beside a market-data instance warms up from the shared cache without a single klines request
of its own (issue 15), against the simulator, the real Redis and a registry that points at the simulator; and the
bot finds the registry's exchange from its own config."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from tests.conftest import REDIS_TEST_URL
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.instances import InstanceRole
from tradewarden.fleet.bot_cache import CacheSetupError, registry_exchange
from tradewarden.fleet.market_data import market_data_work
from tradewarden.persistence import Database
from tradewarden.persistence.fleet_repo import WarmupProgress, add_exchange
from tradewarden.persistence.instance_repo import register_instance
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REDIS = REDIS_TEST_URL


class Instance:
    """The market-data instance's work on its own thread and event loop, as its own process would run it."""

    def __init__(self, work: Any, *args: Any) -> None:
        self.active = threading.Event()
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, args=(work, args), daemon=True)
        self._thread.start()

    def warming(self, reason: str) -> None: ...

    def progress(self, progress: WarmupProgress) -> None: ...

    def active_(self, reason: str) -> None:
        self.active.set()

    def _run(self, work: Any, args: tuple[Any, ...]) -> None:
        hooks = type("Hooks", (), {"warming": self.warming, "progress": self.progress, "active": self.active_})()
        try:
            self._loop.run_until_complete(work(*args, hooks, self._stop))
        except BaseException as exc:  # handed to the test thread by stop()
            self.error = exc
        finally:
            self.active.set()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        if self.error is not None:
            raise self.error


@pytest.fixture
def prefix(cache_prefix: str) -> str:
    return cache_prefix


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), symbols=["BTC/USDT"], speed=60, seed=5, start_index=1100) as handle:
        yield handle


def paper_bot_from_cache(sim: SimulatorHandle, settings: dict[str, Any], tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> tuple[Result, list[dict[str, Any]]]:
    """A paper session of 4 simulated minutes on ``sim``'s BTC/USDT 1m with ``market.warmup_from_cache``, under
    ``settings`` (data_dir, redis, database); its output and its events. The e2e (test_agent_e2e.py) runs it
    beside real instance processes."""
    conf = sim.ccxt_config()
    config = tmp_path / "bot.yaml"  # JSON is YAML
    config.write_text(json.dumps({
        **settings,
        # the bot's own view of the exchange: the same simulator; the registry entry is found by its URL
        "exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]},
        "market": {"symbol": "BTC/USDT", "timeframe": "1m", "warmup_from_cache": True},
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
        "runtime": {"warmup_bars": 30}}))
    for name in ("LIVE_TRADING", "TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "paper"
    result = CliRunner().invoke(app, ["run", "--mode", "paper", "--config", str(config), "--duration", "4m",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return result, events


def assert_warmed_from_cache(sim: SimulatorHandle, events: list[dict[str, Any]], key: str,
                             instance_agents: set[str]) -> None:
    """The session's history came from ``key`` (no miss), and its klines requests to ``sim`` were none: every
    klines request came from the market-data instances (``instance_agents``, their User-Agents)."""
    [from_cache] = [e for e in events if e["type"] == "HistoryFromCache"]
    assert from_cache["count"] == 330 and from_cache["key"] == key
    assert not [e for e in events if e["type"] == "HistoryCacheMiss"]
    [warm] = [e for e in events if e["type"] == "WarmUpDone"]
    assert warm["candles"] == 30
    requests = sim.requests_log()
    klines = [r for r in requests if r["path"] == "/api/v3/klines"]
    assert [r for r in klines if r["agent"] in instance_agents]  # the instance's warm-up: the log tells clients apart
    assert [r for r in klines if r["agent"] not in instance_agents] == []  # the bot: not one klines request
    assert [r for r in requests if r["path"] == "/api/v3/exchangeInfo" and r["agent"] not in instance_agents]


def test_a_paper_bot_warms_up_from_the_cache_without_calling_the_klines_endpoint(
        sim: SimulatorHandle, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    with Database.open(None, data_dir) as db:
        exchange = add_exchange(db, "simx", "binance", rest_url=sim.base_url,
                                ws_url=sim.base_url.replace("http://", "ws://") + "/stream/ws")
        instance = register_instance(db, "simx", InstanceRole.MARKET_DATA, "test-host", symbols=["BTC/USDT"],
                                     timeframes=["1m"])
    settings = {"data_dir": str(data_dir), "redis": {"url": REDIS, "prefix": prefix}}
    md = Instance(market_data_work(load_config(None, {"data_dir": str(data_dir), "redis.url": REDIS,
                                                      "redis.prefix": prefix})), instance, exchange)
    try:
        assert md.active.wait(60) and md.error is None, md.error
        result, events = paper_bot_from_cache(sim, settings, tmp_path, monkeypatch)
    finally:
        md.stop()
    assert "shared candle cache: simx" in result.output
    assert_warmed_from_cache(sim, events, f"{prefix}:{exchange.id}:BTCUSDT:1m",
                             {f"tradewarden-market-data/{instance.id}"})


def test_the_bot_finds_its_registry_exchange_by_slug_or_by_ccxt_id_and_url(tmp_path: Path) -> None:
    with Database.open(None, tmp_path / "data") as db:
        add_exchange(db, "sim_a", "binance", rest_url="http://127.0.0.1:7001")
        add_exchange(db, "sim_b", "binance", rest_url="http://127.0.0.1:7002")
        urls = '{ api = { public = "http://127.0.0.1:7002/api/v3", private = "http://127.0.0.1:7002/api/v3" } }'

        def find(**settings: Any) -> tuple[str | None, str]:
            cfg = load_config(None, {"data_dir": str(tmp_path / "data"), **settings})
            found, why = registry_exchange(cfg, db)
            return (found.slug if found else None), why

        assert find(**{"exchange.id": "binance"}) == ("binance", "")  # the seeded one: no URL override
        assert find(**{"exchange.id": "binance", "exchange.urls": urls}) == ("sim_b", "")
        assert find(**{"exchange.id": "binanceus"}) == ("binance_us", "")
        assert find(**{"exchange.id": "kraken"}) == (None, "no active registry exchange has ccxt id 'kraken'")
        assert find(**{"exchange.id": "binance", "exchange.registry_slug": "sim_a"}) == ("sim_a", "")
        with pytest.raises(CacheSetupError, match=r"exchange.registry_slug: exchange 'nope' not found"):
            find(**{"exchange.id": "binance", "exchange.registry_slug": "nope"})
