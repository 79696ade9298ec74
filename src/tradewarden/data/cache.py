"""The shared candle cache in Redis: the latest N closed candles per exchange, symbol and timeframe.

Key ``candles:{exchange}:{symbol}:{timeframe}`` is a sorted set scored by open time; each member is the
candle as compact JSON ``[ts, o, h, l, c, v]``. The instance that streams a market writes each closed
candle (replacing any older value at the same time and trimming to N in one transaction); other instances
read the tail. :func:`warm_up` fills an empty or short cache from the store or from REST.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from tradewarden.data.store import CandleStore
from tradewarden.domain.candles import Candle, CandleSeries

DEFAULT_SIZE = 1000


class CacheError(RuntimeError):
    """Redis unreachable or holding something that is not a candle; the message names the key or URL."""


def cache_key(exchange: str, symbol: str, timeframe: str, prefix: str = "candles") -> str:
    return f"{prefix}:{exchange}:{symbol}:{timeframe}"


class RedisCandleCache:
    """Latest ``size`` candles per key in Redis (``redis://host:port/db``)."""

    def __init__(
        self, url: str, size: int = DEFAULT_SIZE, prefix: str = "candles", client: Any = None
    ) -> None:
        import redis

        if size < 1:
            raise ValueError(f"cache size must be at least 1, got {size}")
        self.size = size
        self.prefix = prefix
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        try:
            self.client = client or redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        except ValueError as exc:
            raise CacheError(f"invalid Redis URL: {exc}") from None
        self._where = url.split("@")[-1]  # never echo credentials from the URL

    def key(self, exchange: str, symbol: str, timeframe: str) -> str:
        return cache_key(exchange, symbol, timeframe, self.prefix)

    def put(self, exchange: str, symbol: str, timeframe: str, candles: Iterable[Candle]) -> int:
        key = self.key(exchange, symbol, timeframe)
        items = list(candles)
        if not items:
            return 0
        try:
            pipe = self.client.pipeline(transaction=True)
            for c in items:
                pipe.zremrangebyscore(key, c.ts, c.ts)
                pipe.zadd(key, {orjson.dumps([c.ts, c.open, c.high, c.low, c.close, c.volume]): c.ts})
            pipe.zremrangebyrank(key, 0, -self.size - 1)
            pipe.execute()
        except self._redis_errors as exc:
            raise CacheError(f"Redis at {self._where}: cannot write {key}: {exc}") from None
        return len(items)

    def put_series(self, exchange: str, series: CandleSeries) -> int:
        tail = series[-self.size :]
        return self.put(exchange, series.symbol, series.timeframe, (tail.candle(i) for i in range(len(tail))))

    def latest(self, exchange: str, symbol: str, timeframe: str, limit: int | None = None) -> list[Candle]:
        key = self.key(exchange, symbol, timeframe)
        n = min(limit or self.size, self.size)
        try:
            raw: Sequence[Any] = self.client.zrange(key, -n, -1)
        except self._redis_errors as exc:
            raise CacheError(f"Redis at {self._where}: cannot read {key}: {exc}") from None
        out: list[Candle] = []
        for member in raw:
            try:
                ts, o, h, lo, c, v = orjson.loads(member)
                out.append(Candle(int(ts), float(o), float(h), float(lo), float(c), float(v)))
            except (orjson.JSONDecodeError, ValueError, TypeError):
                raise CacheError(
                    f"Redis key {key} holds a member that is not a candle: {member[:60]!r}"
                ) from None
        return out

    def clear(self, exchange: str, symbol: str, timeframe: str) -> None:
        self.client.delete(self.key(exchange, symbol, timeframe))

    def close(self) -> None:
        self.client.close()


def warm_up(
    cache: RedisCandleCache,
    exchange: str,
    symbol: str,
    timeframe: str,
    *,
    store: CandleStore | None = None,
    fetch: Callable[[str, str, int], Sequence[Candle]] | None = None,
) -> int:
    """Fill the cache to its size from the store, then from ``fetch(symbol, timeframe, limit)`` (REST).

    Returns how many candles the cache holds afterwards. The newest source wins: REST candles are written
    after store candles, so a stale store never overwrites fresher exchange data.
    """
    have = cache.latest(exchange, symbol, timeframe)
    if len(have) >= cache.size:
        return len(have)
    if store is not None:
        cache.put_series(exchange, store.load(exchange, symbol, timeframe)[-cache.size :])
    if fetch is not None:
        cache.put(exchange, symbol, timeframe, fetch(symbol, timeframe, cache.size))
    return len(cache.latest(exchange, symbol, timeframe))
