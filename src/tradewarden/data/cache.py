"""The shared candle cache in Redis: the latest N closed candles per exchange, market and timeframe.

Layout (docs/DATA.md, "Shared candle cache"):

* ``{prefix}:{exchange}:{market}:{timeframe}``, e.g. ``candles:3:BTCUSDT:1d``: a sorted set scored by open
  time, each member the candle as compact JSON ``[ts, o, h, l, c, v]``, at most N of them. ``exchange`` is
  the fleet registry's exchange id, ``market`` the exchange's own market id (ccxt ``market["id"]``; the
  symbol without its slash when no market list is at hand).
* ``{series key}:meta``: a hash; ``updated`` is when a writer last wrote the series or confirmed it current
  (ms on the Redis server's clock, so readers on other machines agree on its age), ``by`` names the writer.

A writer (the market-data instance) puts each closed candle, replacing any older value at the same time and
trimming to N in one transaction, and touches the meta of every series it keeps current. Readers (trading
bots) take their history from the cache only when it is fresh: ``updated`` no older than their limit.
:class:`ExchangeCache` is the cache as one exchange's processes see it (keys from the registry id and market
ids, the freshness rule); :func:`warm_up` fills an empty or short cache from the store or from REST.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from tradewarden.data.store import CandleStore
from tradewarden.domain.candles import Candle, CandleSeries, timeframe_ms

DEFAULT_SIZE = 1000
DEFAULT_PREFIX = "candles"
META_SUFFIX = ":meta"


class CacheError(RuntimeError):
    """Redis unreachable or holding something that is not a candle; the message names the key or URL."""


def market_key(symbol: str) -> str:
    """The key's market part when the exchange's market id is not known: the symbol without its slash."""
    return symbol.replace("/", "")


def cache_key(exchange: str | int, market: str, timeframe: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}:{exchange}:{market}:{timeframe}"


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A cached series as named by its key (``prefix:exchange:market:timeframe``)."""

    key: str
    exchange: str
    market: str
    timeframe: str

    @classmethod
    def parse(cls, key: str, prefix: str) -> SeriesKey | None:
        """The parts of ``key``, or None when it is not a series key under ``prefix``."""
        if not key.startswith(prefix + ":") or key.endswith(META_SUFFIX):
            return None
        exchange, sep, rest = key[len(prefix) + 1:].partition(":")
        market, sep2, timeframe = rest.rpartition(":")
        if not (sep and sep2 and exchange and market and timeframe):
            return None
        return cls(key, exchange, market, timeframe)


@dataclass(frozen=True, slots=True)
class SeriesStatus:
    """What ``cache keys`` shows of a series: how many candles, the newest, and when it was last updated."""

    series: SeriesKey
    count: int
    newest_ts: int | None
    updated_ms: int | None
    by: str | None


def redis_where(url: str) -> str:
    """``host:port/db`` of a Redis URL: what messages name, never its credentials."""
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] + parts.path if parts.netloc else parts.path or "?"


def _decode(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisCandleCache:
    """Latest ``size`` candles per key in Redis (``redis://host:port/db``)."""

    def __init__(
        self, url: str, size: int = DEFAULT_SIZE, prefix: str = DEFAULT_PREFIX, client: Any = None
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
        self.where = redis_where(url)
        self._offset_ms = 0  # Redis clock minus ours, learnt at each now_ms()

    def key(self, exchange: str | int, market: str, timeframe: str) -> str:
        return cache_key(exchange, market, timeframe, self.prefix)

    def _fail(self, what: str, exc: BaseException) -> CacheError:
        return CacheError(f"Redis at {self.where}: {what}: {exc}")

    # -- clock and health ----------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise :class:`CacheError` naming the server when it does not answer."""
        try:
            self.client.ping()
        except self._redis_errors as exc:
            raise CacheError(f"Redis at {self.where} is unreachable: {exc}") from None

    def now_ms(self) -> int:
        """The Redis server's clock: the one every meta ``updated`` is written on."""
        try:
            seconds, micros = self.client.time()
        except self._redis_errors as exc:
            raise self._fail("cannot read the clock", exc) from None
        now = int(seconds) * 1000 + int(micros) // 1000
        self._offset_ms = now - int(time.time() * 1000)
        return now

    def _stamp(self) -> int:
        return int(time.time() * 1000) + self._offset_ms

    # -- writing -------------------------------------------------------------------------------------
    def put(self, exchange: str | int, market: str, timeframe: str, candles: Iterable[Candle], *,
            by: str = "") -> int:
        """Write ``candles`` (replacing same-time members), trim to ``size`` and mark the series updated."""
        key = self.key(exchange, market, timeframe)
        items = list(candles)
        if not items:
            return 0
        try:
            pipe = self.client.pipeline(transaction=True)
            for c in items:
                pipe.zremrangebyscore(key, c.ts, c.ts)
                pipe.zadd(key, {orjson.dumps([c.ts, c.open, c.high, c.low, c.close, c.volume]): c.ts})
            pipe.zremrangebyrank(key, 0, -self.size - 1)
            pipe.hset(key + META_SUFFIX, mapping={"updated": self._stamp(), "by": by})
            pipe.execute()
        except self._redis_errors as exc:
            raise self._fail(f"cannot write {key}", exc) from None
        return len(items)

    def put_series(self, exchange: str | int, market: str, series: CandleSeries, *, by: str = "") -> int:
        tail = series[-self.size:]
        return self.put(exchange, market, series.timeframe, (tail.candle(i) for i in range(len(tail))), by=by)

    def touch(self, exchange: str | int, series: Iterable[tuple[str, str]], *, by: str = "") -> int:
        """Confirm the ``(market, timeframe)`` series current now (Redis clock); returns the time written."""
        now = self.now_ms()
        try:
            pipe = self.client.pipeline(transaction=False)
            for market, timeframe in series:
                pipe.hset(self.key(exchange, market, timeframe) + META_SUFFIX, mapping={"updated": now, "by": by})
            pipe.execute()
        except self._redis_errors as exc:
            raise self._fail("cannot mark series current", exc) from None
        return now

    # -- reading -------------------------------------------------------------------------------------
    def _candles(self, key: str, raw: Sequence[Any]) -> list[Candle]:
        out: list[Candle] = []
        for member in raw:
            try:
                ts, o, h, lo, c, v = orjson.loads(member)
                out.append(Candle(int(ts), float(o), float(h), float(lo), float(c), float(v)))
            except (orjson.JSONDecodeError, ValueError, TypeError):
                raise CacheError(f"Redis key {key} holds a member that is not a candle: {member[:60]!r}") from None
        return out

    def latest(self, exchange: str | int, market: str, timeframe: str, limit: int | None = None) -> list[Candle]:
        key = self.key(exchange, market, timeframe)
        n = min(limit or self.size, self.size)
        try:
            raw: Sequence[Any] = self.client.zrange(key, -n, -1)
        except self._redis_errors as exc:
            raise self._fail(f"cannot read {key}", exc) from None
        return self._candles(key, raw)

    def between(self, exchange: str | int, market: str, timeframe: str, start_ms: int,
                end_ms: int | None = None) -> list[Candle]:
        """Candles with ``start_ms <= ts`` (and ``ts < end_ms`` when given), oldest first."""
        key = self.key(exchange, market, timeframe)
        try:
            raw: Sequence[Any] = self.client.zrangebyscore(key, start_ms, "+inf" if end_ms is None
                                                           else f"({end_ms}")
        except self._redis_errors as exc:
            raise self._fail(f"cannot read {key}", exc) from None
        return self._candles(key, raw)

    def status(self, exchange: str | int, market: str, timeframe: str) -> SeriesStatus:
        """Count, newest open time and meta of one series, in one round trip."""
        key = self.key(exchange, market, timeframe)
        series = SeriesKey(key, str(exchange), market, timeframe)
        return self._statuses([series])[0]

    def oldest_ts(self, exchange: str | int, market: str, timeframe: str) -> int | None:
        key = self.key(exchange, market, timeframe)
        try:
            first = self.client.zrange(key, 0, 0, withscores=True)
        except self._redis_errors as exc:
            raise self._fail(f"cannot read {key}", exc) from None
        return int(first[0][1]) if first else None

    def _statuses(self, series: Sequence[SeriesKey]) -> list[SeriesStatus]:
        try:
            pipe = self.client.pipeline(transaction=False)
            for s in series:
                pipe.zcard(s.key)
                pipe.zrange(s.key, -1, -1, withscores=True)
                pipe.hmget(s.key + META_SUFFIX, ["updated", "by"])
            replies = pipe.execute()
        except self._redis_errors as exc:
            raise self._fail("cannot read series status", exc) from None
        out: list[SeriesStatus] = []
        for i, s in enumerate(series):
            count, newest, (updated, by) = replies[3 * i: 3 * i + 3]
            up = _decode(updated)
            out.append(SeriesStatus(s, int(count), int(newest[0][1]) if newest else None,
                                    int(up) if up else None, _decode(by) or None))
        return out

    def scan(self, exchange: str | int | None = None) -> Iterator[SeriesStatus]:
        """Every cached series (of one exchange id when given), found with SCAN (never KEYS), sorted by key."""
        pattern = f"{self.prefix}:{exchange}:*" if exchange is not None else f"{self.prefix}:*"
        try:
            keys = sorted({_decode(k) or "" for k in self.client.scan_iter(match=pattern, count=500,
                                                                          _type="zset")})
        except self._redis_errors as exc:
            raise self._fail(f"cannot scan {pattern}", exc) from None
        parsed = [s for s in (SeriesKey.parse(k, self.prefix) for k in keys) if s is not None]
        for start in range(0, len(parsed), 200):
            yield from self._statuses(parsed[start:start + 200])

    def clear(self, exchange: str | int, market: str, timeframe: str) -> None:
        key = self.key(exchange, market, timeframe)
        self.client.delete(key, key + META_SUFFIX)

    def close(self) -> None:
        self.client.close()


class ExchangeCache:
    """The cache as one exchange's processes see it: series named by the exchange's registry id and its market
    ids, and the freshness rule readers apply (``updated`` at most ``max_age_ms`` old).

    Readers ask :meth:`history` (the warm-up) and :meth:`closed` (a feed's backfill); each answers the candles,
    or None with the reason in :attr:`last_miss` when the cache cannot answer completely, so the caller asks
    the exchange instead. A cache that cannot be reached is a miss, never an error: it only saves requests.
    """

    def __init__(self, cache: RedisCandleCache, exchange: str | int, markets: Mapping[str, str] | None = None,
                 *, max_age_ms: int = 30_000, by: str = "") -> None:
        self.cache = cache
        self.exchange = str(exchange)
        self.markets = dict(markets or {})
        self.max_age_ms = max_age_ms
        self.by = by
        self.last_miss = ""

    def market(self, symbol: str) -> str:
        return self.markets.get(symbol) or market_key(symbol)

    def key(self, symbol: str, timeframe: str) -> str:
        return self.cache.key(self.exchange, self.market(symbol), timeframe)

    # -- the writer's side ---------------------------------------------------------------------------
    def put(self, symbol: str, timeframe: str, candles: Iterable[Candle]) -> int:
        return self.cache.put(self.exchange, self.market(symbol), timeframe, candles, by=self.by)

    def touch(self, series: Iterable[tuple[str, str]]) -> int:
        return self.cache.touch(self.exchange, ((self.market(s), tf) for s, tf in series), by=self.by)

    # -- the readers' side ---------------------------------------------------------------------------
    def _miss(self, reason: str) -> None:
        self.last_miss = reason

    def _fresh(self, symbol: str, timeframe: str) -> SeriesStatus | None:
        try:
            status = self.cache.status(self.exchange, self.market(symbol), timeframe)
            now = self.cache.now_ms()
        except CacheError as exc:
            self._miss(str(exc))
            return None
        key = status.series.key
        if status.updated_ms is None or status.count == 0:
            self._miss(f"{key} is not cached")
            return None
        age = now - status.updated_ms
        if age > self.max_age_ms:
            self._miss(f"{key} was last updated {age / 1000:.0f} s ago (limit {self.max_age_ms / 1000:g} s)")
            return None
        return status

    def history(self, symbol: str, timeframe: str, limit: int) -> list[Candle] | None:
        """The latest ``limit`` closed candles when the series is fresh and holds that many, else None."""
        status = self._fresh(symbol, timeframe)
        if status is None:
            return None
        if status.count < limit:
            self._miss(f"{status.series.key} holds {status.count} candles, {limit} wanted")
            return None
        try:
            return self.cache.latest(self.exchange, self.market(symbol), timeframe, limit)
        except CacheError as exc:
            self._miss(str(exc))
            return None

    def closed(self, symbol: str, timeframe: str, since: int | None, until: int | None = None,
               limit: int = DEFAULT_SIZE) -> list[Candle] | None:
        """Closed candles from ``since`` (before ``until`` when given; the latest ``limit`` when ``since`` is
        None), when the cache holds all of them: fresh, reaching back to ``since``, and with ``until`` up to the
        candle before it. Else None."""
        status = self._fresh(symbol, timeframe)
        if status is None:
            return None
        market = self.market(symbol)
        try:
            if since is None:
                return self.cache.latest(self.exchange, market, timeframe, limit)
            oldest = self.cache.oldest_ts(self.exchange, market, timeframe)
            if oldest is None or oldest > since:
                self._miss(f"{status.series.key} does not reach back to {since}")
                return None
            if until is not None and (status.newest_ts or 0) < until - timeframe_ms(timeframe):
                self._miss(f"{status.series.key} does not reach up to {until}")
                return None
            return self.cache.between(self.exchange, market, timeframe, since, until)
        except CacheError as exc:
            self._miss(str(exc))
            return None


def warm_up(
    cache: RedisCandleCache,
    exchange: str | int,
    symbol: str,
    timeframe: str,
    *,
    store: CandleStore | None = None,
    store_name: str | None = None,
    fetch: Callable[[str, str, int], Sequence[Candle]] | None = None,
    market: str | None = None,
) -> int:
    """Fill the cache to its size from the store, then from ``fetch(symbol, timeframe, limit)`` (REST).

    Returns how many candles the cache holds afterwards. The newest source wins: REST candles are written
    after store candles, so a stale store never overwrites fresher exchange data. ``store_name`` is the
    exchange's name in the store (default: ``exchange``), ``market`` the key's market part.
    """
    mk = market or market_key(symbol)
    have = cache.latest(exchange, mk, timeframe)
    if len(have) >= cache.size:
        return len(have)
    if store is not None:
        cache.put_series(exchange, mk, store.load(store_name or str(exchange), symbol, timeframe)[-cache.size:])
    if fetch is not None:
        cache.put(exchange, mk, timeframe, fetch(symbol, timeframe, cache.size))
    return len(cache.latest(exchange, mk, timeframe))
