"""``tradewarden harness --exchange SLUG`` on the registry: PASS against two simulators standing in for the seeded
``binance`` and ``binance_us`` (ccxt ids binance and binanceus), each result stored; FAIL naming the test when
the WebSocket URL is wrong; one clear line for bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.data.cache import RedisCandleCache
from tradewarden.data.sample import sample_1m_path
from tradewarden.persistence import Database
from tradewarden.persistence.fleet_repo import get_exchange, update_exchange
from tradewarden.persistence.instance_repo import harness_results
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REDIS = "redis://127.0.0.1:6379/15"
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, SimulatorHandle]]:
    # running clocks (60x): kline messages flow without the test stepping anything
    with start_simulator(data=sample_1m_path(), symbols=SYMBOLS, speed=60, seed=6, start_index=1100) as a, \
            start_simulator(data=sample_1m_path(), symbols=SYMBOLS, speed=60, seed=7, start_index=1100) as b:
        yield {"binance": a, "binance_us": b}


@pytest.fixture
def home(tmp_path: Path, sims: dict[str, SimulatorHandle]) -> Iterator[tuple[Path, str]]:
    """A config (data directory, Redis with a prefix of its own) whose registry points both exchanges at the
    simulators."""
    prefix = f"test-{uuid.uuid4().hex[:10]}:candles"
    cache = RedisCandleCache(REDIS, prefix=prefix)
    try:
        cache.ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    config = tmp_path / "tradewarden.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "redis": {"url": REDIS, "prefix": prefix},
                                      "market": {"symbols": SYMBOLS, "timeframe": "1m"}}))
    with Database.open(None, tmp_path / "data") as db:
        for slug, sim in sims.items():
            update_exchange(db, slug, rest_url=sim.base_url,
                            ws_url=sim.base_url.replace("http://", "ws://") + "/stream/ws")
    yield config, prefix
    for key in cache.client.scan_iter(f"{prefix}:*"):
        cache.client.delete(key)
    cache.close()


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "240"})


def rows(output: str) -> dict[str, str]:
    """test name -> PASS/FAIL from the printed table."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[1] in ("redis", "markets", "rest", "websocket"):
            out[cells[1]] = cells[2]
    return out


@pytest.mark.parametrize("slug", ["binance", "binance_us"])
def test_harness_passes_against_the_simulator_and_stores_each_result(home: tuple[Path, str], slug: str,
                                                                     tmp_path: Path) -> None:
    config, prefix = home
    result = invoke("harness", "--exchange", slug, "--config", str(config))
    assert result.exit_code == 0, result.output
    assert rows(result.output) == {"redis": "PASS", "markets": "PASS", "rest": "PASS", "websocket": "PASS"}
    assert f"{slug}: PASS, 4 of 4 tests passed" in " ".join(result.output.split())
    with Database.open(None, tmp_path / "data") as db:
        exchange = get_exchange(db, slug)
        stored = harness_results(db, exchange=slug)
    assert [(s, o.test, o.passed) for s, _ts, _run, o in reversed(stored)] == [
        (slug, "redis", True), (slug, "markets", True), (slug, "rest", True), (slug, "websocket", True)]
    rest = next(o for *_, o in stored if o.test == "rest")
    assert rest.counts == {"symbols": 2, "fetched": 2000, "cached": 2000}
    assert len({run for _s, _ts, run, _o in stored}) == 1  # one run id for the four
    cache = RedisCandleCache(REDIS, prefix=prefix)
    try:  # the REST warm-up is in Redis, under the registry's id and the exchange's market ids
        assert cache.status(exchange.id, "BTCUSDT", "1m").count == 1000
        assert cache.status(exchange.id, "ETHUSDT", "1m").count == 1000
    finally:
        cache.close()


def test_a_wrong_websocket_url_fails_the_websocket_test_by_name(home: tuple[Path, str], tmp_path: Path,
                                                                sims: dict[str, SimulatorHandle]) -> None:
    config, _prefix = home
    with Database.open(None, tmp_path / "data") as db:
        update_exchange(db, "binance", ws_url="ws://127.0.0.1:9/stream/ws")  # nothing listens there
    result = invoke("harness", "--exchange", "binance", "--config", str(config), "--symbols", "BTC/USDT",
                    "--candles", "50", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [(t["test"], t["passed"]) for t in report["tests"]] == [
        ("redis", True), ("markets", True), ("rest", True), ("websocket", False)]
    websocket = report["tests"][3]
    assert websocket["detail"].startswith("BTC/USDT: NetworkError") and websocket["counts"]["received"] == 0
    with Database.open(None, tmp_path / "data") as db:
        [(_slug, _ts, run, outcome)] = [r for r in harness_results(db, exchange="binance")
                                        if r[3].test == "websocket"]
    assert run == report["run_id"] and not outcome.passed
    table = invoke("harness", "--exchange", "binance", "--config", str(config), "--symbols", "BTC/USDT",
                   "--candles", "50")
    assert table.exit_code == 1 and rows(table.output)["websocket"] == "FAIL"
    assert "binance: FAIL (websocket), 3 of 4 tests passed" in " ".join(table.output.split())


def test_bad_input_is_one_line_and_exit_2(home: tuple[Path, str], tmp_path: Path) -> None:
    config, _prefix = home
    result = invoke("harness", "--exchange", "nope", "--config", str(config))
    assert result.exit_code == 2
    assert "exchange 'nope' not found in the registry (known: binance, binance_us)" in " ".join(result.output.split())
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    result = invoke("harness", "--exchange", "binance", "--config", str(bare))
    assert result.exit_code == 2 and "harness needs redis.url" in result.output
    result = invoke("harness", "--config", str(config), "--timeframe", "7m")
    assert result.exit_code == 2 and "unknown timeframe '7m'" in result.output
