"""The shared Redis candle cache, against the real server (db 15, a unique key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tradewarden.data.cache import CacheError, RedisCandleCache, cache_key, warm_up
from tradewarden.data.store_arrow import ArrowCandleStore
from tradewarden.domain.candles import Candle, CandleSeries

REDIS_URL = "redis://127.0.0.1:6379/15"
pytestmark = pytest.mark.redis


@pytest.fixture
def cache() -> Iterator[RedisCandleCache]:
    prefix = f"test-{uuid.uuid4().hex[:10]}:candles"
    c = RedisCandleCache(REDIS_URL, size=50, prefix=prefix)
    try:
        c.client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    yield c
    for key in c.client.scan_iter(f"{prefix}:*"):
        c.client.delete(key)
    c.close()


def test_key_scheme() -> None:
    assert cache_key("binance", "BTC/USDT", "1m") == "candles:binance:BTC/USDT:1m"


def test_keeps_latest_n_in_order_and_replaces_same_time(
    cache: RedisCandleCache, mk: Callable[..., CandleSeries]
) -> None:
    s = mk(80)
    cache.put_series("binance", s)
    got = cache.latest("binance", "BTC/USDT", "1m")
    assert [c.ts for c in got] == s.ts[-50:].tolist()
    assert got[-1] == s.candle(79)
    revised = Candle(int(s.ts[-1]), 1.0, 2.0, 0.5, 1.5, 3.0)
    cache.put("binance", "BTC/USDT", "1m", [revised])
    got = cache.latest("binance", "BTC/USDT", "1m", limit=2)
    assert got == [s.candle(78), revised]
    assert cache.client.zcard(cache.key("binance", "BTC/USDT", "1m")) == 50


def test_second_instance_reads_what_the_first_wrote(
    cache: RedisCandleCache, mk: Callable[..., CandleSeries]
) -> None:
    cache.put_series("binance", mk(5))
    other = RedisCandleCache(REDIS_URL, size=50, prefix=cache.prefix)
    assert len(other.latest("binance", "BTC/USDT", "1m")) == 5
    other.close()


def test_warm_up_from_store_then_rest(
    cache: RedisCandleCache, tmp_path: Path, mk: Callable[..., CandleSeries]
) -> None:
    store = ArrowCandleStore(tmp_path)
    s = mk(60)
    store.write("binance", s[:40])
    calls: list[tuple[str, str, int]] = []

    def fetch(symbol: str, timeframe: str, limit: int) -> list[Candle]:
        calls.append((symbol, timeframe, limit))
        return [s.candle(i) for i in range(30, 60)]

    assert warm_up(cache, "binance", "BTC/USDT", "1m", store=store, fetch=fetch) == 50
    assert calls == [("BTC/USDT", "1m", 50)]
    assert [c.ts for c in cache.latest("binance", "BTC/USDT", "1m")] == s.ts[10:].tolist()
    assert warm_up(cache, "binance", "BTC/USDT", "1m", store=store, fetch=fetch) == 50
    assert len(calls) == 1  # already full: no REST call


def test_garbage_member_is_reported_with_key(cache: RedisCandleCache) -> None:
    key = cache.key("binance", "BTC/USDT", "1m")
    cache.client.zadd(key, {b"nonsense": 1})
    with pytest.raises(CacheError, match=f"Redis key {key} holds a member that is not a candle"):
        cache.latest("binance", "BTC/USDT", "1m")


def test_unreachable_redis_names_host_not_password() -> None:
    c = RedisCandleCache("redis://:hunter2@127.0.0.1:1/0")
    with pytest.raises(CacheError) as err:
        c.put("binance", "BTC/USDT", "1m", [Candle(0, 1, 1, 1, 1, 1)])
    assert "127.0.0.1:1/0" in str(err.value) and "hunter2" not in str(err.value)
