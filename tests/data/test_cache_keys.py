"""``tradewarden cache keys``: the cached series found with SCAN, with count, newest candle, age and freshness,
named by the registry's exchange; Redis and the registry found through the config."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import REDIS_TEST_URL
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.data.cache import RedisCandleCache
from tradewarden.domain.candles import CandleSeries

pytestmark = pytest.mark.redis

REDIS = REDIS_TEST_URL


@pytest.fixture
def cache(cache_prefix: str) -> Iterator[RedisCandleCache]:
    c = RedisCandleCache(REDIS, prefix=cache_prefix)
    yield c
    c.close()


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cache_keys_lists_each_series_with_its_exchange_count_newest_and_freshness(
        cache: RedisCandleCache, tmp_path: Path, mk: Callable[..., CandleSeries]) -> None:
    config = tmp_path / "tradewarden.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"),
                                      "redis": {"url": REDIS, "prefix": cache.prefix}}))
    btc, eth = mk(30), mk(12, timeframe="1h", symbol="ETH/USDT")
    cache.put_series(1, "BTCUSDT", btc, by="instance 4")      # 1, 2: the seeded binance and binance_us
    cache.put_series(2, "ETHUSDT", eth, by="instance 5")
    cache.client.hset(cache.key(2, "ETHUSDT", "1h") + ":meta", "updated", cache.now_ms() - 120_000)

    result = invoke("cache", "keys", "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(r["key"], r["exchange"], r["count"], r["newest_ts"], r["by"], r["fresh"]) for r in listed] == [
        (f"{cache.prefix}:1:BTCUSDT:1m", "binance", 30, int(btc.ts[-1]), "instance 4", True),
        (f"{cache.prefix}:2:ETHUSDT:1h", "binance_us", 12, int(eth.ts[-1]), "instance 5", False)]
    assert 119 < listed[1]["age_s"] < 180

    only = invoke("cache", "keys", "--config", str(config), "--exchange", "binance_us", "--json")
    assert [r["key"] for r in json.loads(only.stdout)] == [f"{cache.prefix}:2:ETHUSDT:1h"]

    table = invoke("cache", "keys", "--config", str(config))
    assert table.exit_code == 0, table.output
    line = next(x for x in table.output.splitlines() if "BTCUSDT" in x)
    cells = [c.strip() for c in line.split("│")][1:-1]
    assert cells[:4] == [f"{cache.prefix}:1:BTCUSDT:1m", "binance", "30", "2024-01-01 00:29"]
    assert cells[5] == "yes"
    assert next(x for x in table.output.splitlines() if "ETHUSDT" in x).split("│")[-2].strip() == "no"


def test_cache_keys_with_nothing_cached_and_without_redis(cache: RedisCandleCache, tmp_path: Path) -> None:
    config = tmp_path / "tradewarden.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"),
                                      "redis": {"url": REDIS, "prefix": cache.prefix}}))
    empty = invoke("cache", "keys", "--config", str(config))
    assert empty.exit_code == 0 and "No cached series" in empty.output
    unknown = invoke("cache", "keys", "--config", str(config), "--exchange", "nope")
    assert unknown.exit_code == 2 and "exchange 'nope' not found" in unknown.output
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    result = invoke("cache", "keys", "--config", str(bare))
    assert result.exit_code == 2 and "cache keys needs redis.url" in result.output
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "redis": {"url": "redis://127.0.0.1:1/0"}}))
    result = invoke("cache", "keys", "--config", str(down))
    assert result.exit_code == 1 and "Redis at 127.0.0.1:1/0" in result.output
