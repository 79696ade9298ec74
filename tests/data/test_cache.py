"""The shared Redis candle cache, against the real server (db 15, a unique key prefix per test)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tradewarden.data.cache import (
    CacheError,
    ExchangeCache,
    RedisCandleCache,
    SeriesKey,
    cache_key,
    market_key,
    warm_up,
)
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
    # the registry's exchange id and the exchange's market id: candles:3:BTCUSDT:1d
    assert cache_key(3, "BTCUSDT", "1d") == "candles:3:BTCUSDT:1d"
    assert market_key("BTC/USDT") == "BTCUSDT"
    assert SeriesKey.parse("candles:3:BTCUSDT:1d", "candles") == SeriesKey("candles:3:BTCUSDT:1d", "3", "BTCUSDT",
                                                                           "1d")
    assert SeriesKey.parse("candles:3:BTCUSDT:1d:meta", "candles") is None
    assert SeriesKey.parse("other:3:BTCUSDT:1d", "candles") is None


def test_keeps_latest_n_in_order_and_replaces_same_time(
    cache: RedisCandleCache, mk: Callable[..., CandleSeries]
) -> None:
    s = mk(80)
    cache.put_series(3, "BTCUSDT", s)
    got = cache.latest(3, "BTCUSDT", "1m")
    assert [c.ts for c in got] == s.ts[-50:].tolist()
    assert got[-1] == s.candle(79)
    revised = Candle(int(s.ts[-1]), 1.0, 2.0, 0.5, 1.5, 3.0)
    cache.put(3, "BTCUSDT", "1m", [revised])
    got = cache.latest(3, "BTCUSDT", "1m", limit=2)
    assert got == [s.candle(78), revised]
    assert cache.client.zcard(cache.key(3, "BTCUSDT", "1m")) == 50
    assert cache.between(3, "BTCUSDT", "1m", int(s.ts[70]), int(s.ts[75])) == [s.candle(i) for i in range(70, 75)]
    assert cache.oldest_ts(3, "BTCUSDT", "1m") == int(s.ts[30])


def test_second_instance_reads_what_the_first_wrote(
    cache: RedisCandleCache, mk: Callable[..., CandleSeries]
) -> None:
    cache.put_series(3, "BTCUSDT", mk(5))
    other = RedisCandleCache(REDIS_URL, size=50, prefix=cache.prefix)
    assert len(other.latest(3, "BTCUSDT", "1m")) == 5
    other.close()


def test_scan_lists_series_with_count_newest_and_meta(cache: RedisCandleCache,
                                                      mk: Callable[..., CandleSeries]) -> None:
    a, b = mk(10), mk(7, timeframe="1h", symbol="ETH/USDT")
    cache.put_series(3, "BTCUSDT", a, by="md-1")
    cache.put_series(4, "ETHUSDT", b, by="md-2")
    before = cache.now_ms()
    rows = list(cache.scan())
    assert [(r.series.exchange, r.series.market, r.series.timeframe, r.count, r.newest_ts, r.by) for r in rows] == [
        ("3", "BTCUSDT", "1m", 10, int(a.ts[-1]), "md-1"), ("4", "ETHUSDT", "1h", 7, int(b.ts[-1]), "md-2")]
    assert all(r.updated_ms is not None and abs(before - r.updated_ms) < 5_000 for r in rows)
    assert [r.series.key for r in cache.scan(4)] == [cache.key(4, "ETHUSDT", "1h")]  # meta hashes are no series


def test_exchange_cache_serves_fresh_complete_history_only(cache: RedisCandleCache,
                                                           mk: Callable[..., CandleSeries]) -> None:
    s = mk(40)
    writer = ExchangeCache(cache, 3, {"BTC/USDT": "BTCUSDT"}, by="md")
    reader = ExchangeCache(cache, 3, {"BTC/USDT": "BTCUSDT"}, max_age_ms=60_000)
    assert reader.history("BTC/USDT", "1m", 10) is None and "not cached" in reader.last_miss
    writer.put("BTC/USDT", "1m", s.candle_list())
    assert cache.latest(3, "BTCUSDT", "1m") == s.candle_list()  # keyed by the market id
    assert reader.history("BTC/USDT", "1m", 30) == s.candle_list()[-30:]
    assert reader.history("BTC/USDT", "1m", 41) is None and "holds 40 candles, 41 wanted" in reader.last_miss
    # the backfill's questions: from a time the cache reaches back to, up to the candle before `until`
    ts = s.ts.tolist()
    assert reader.closed("BTC/USDT", "1m", ts[35]) == s.candle_list()[35:]
    assert reader.closed("BTC/USDT", "1m", ts[35], until=ts[38]) == s.candle_list()[35:38]
    assert reader.closed("BTC/USDT", "1m", ts[0] - 60_000) is None and "reach back" in reader.last_miss
    assert reader.closed("BTC/USDT", "1m", ts[35], until=ts[-1] + 120_000) is None  # the newest is not there yet
    assert "reach up" in reader.last_miss
    # stale: last updated longer ago than the reader's limit
    cache.client.hset(cache.key(3, "BTCUSDT", "1m") + ":meta", "updated", cache.now_ms() - 61_000)
    assert reader.history("BTC/USDT", "1m", 10) is None and "last updated 61 s ago" in reader.last_miss
    writer.touch([("BTC/USDT", "1m")])  # the writer confirms the series current again
    assert reader.history("BTC/USDT", "1m", 10) == s.candle_list()[-10:]


def test_unreachable_redis_is_a_miss_for_readers_not_an_error() -> None:
    reader = ExchangeCache(RedisCandleCache("redis://127.0.0.1:1/0"), 3)
    assert reader.history("BTC/USDT", "1m", 10) is None
    assert "Redis at 127.0.0.1:1/0" in reader.last_miss


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

    assert warm_up(cache, 3, "BTC/USDT", "1m", store=store, store_name="binance", fetch=fetch) == 50
    assert calls == [("BTC/USDT", "1m", 50)]
    assert [c.ts for c in cache.latest(3, "BTCUSDT", "1m")] == s.ts[10:].tolist()
    assert warm_up(cache, 3, "BTC/USDT", "1m", store=store, store_name="binance", fetch=fetch) == 50
    assert len(calls) == 1  # already full: no REST call


def test_garbage_member_is_reported_with_key(cache: RedisCandleCache) -> None:
    key = cache.key(3, "BTCUSDT", "1m")
    cache.client.zadd(key, {b"nonsense": 1})
    with pytest.raises(CacheError, match=f"Redis key {key} holds a member that is not a candle"):
        cache.latest(3, "BTCUSDT", "1m")


def test_unreachable_redis_names_host_not_password() -> None:
    password = "canary-" + secrets.token_hex(8)
    c = RedisCandleCache(f"redis://:{password}@127.0.0.1:1/0")
    with pytest.raises(CacheError) as err:
        c.put(3, "BTCUSDT", "1m", [Candle(0, 1, 1, 1, 1, 1)])
    assert "127.0.0.1:1/0" in str(err.value) and password not in str(err.value)
    with pytest.raises(CacheError, match=r"Redis at 127\.0\.0\.1:1/0 is unreachable"):
        c.ping()
