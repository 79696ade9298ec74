"""The market-data instance's work: warm the shared candle cache up over REST, then keep it current from
WebSocket klines until told to stop.

``market_data_work(config)`` is what ``tradewarden instance run --role market_data`` awaits (the contract in
:mod:`tradewarden.fleet.work`). For the registry's instance and exchange it:

1. checks what it needs before touching the exchange: ``redis.url`` set and Redis answering, the exchange
   reachable through ccxt.pro with a WebSocket URL (the registry's ``ws_url`` or ccxt's own), every symbol
   listed by the exchange; each failure is one line naming what and where;
2. ``warming``: fetches ``market_data.warmup_candles`` closed candles of every symbol × timeframe over REST
   (:mod:`tradewarden.fleet.warmup`, several at once under ccxt's rate limiter) into Redis under
   ``candles:{exchange id}:{market id}:{tf}`` and into the candle store, reporting progress;
3. ``active``: follows every series with the live feed (:class:`~tradewarden.data.feed_ccxt.CcxtFeed`, with its
   watchdog, backfill and REST fallback); each closed candle is written to Redis as the feed delivers it and
   to the store a moment later (batched, off the event loop); every heartbeat, while the feed is healthy, the
   instance confirms its series current (the cache's meta ``updated``, which readers call fresh);
4. returns when ``stop`` is set, after closing the feed and writing what the store still lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from tradewarden.config.models import AppConfig
from tradewarden.data.cache import CacheError, ExchangeCache, RedisCandleCache
from tradewarden.data.feed_ccxt import CcxtFeed, FeedSettings
from tradewarden.domain.candles import timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.errors import BadInput
from tradewarden.fleet.connection import ExchangeSetupError, connect, market_ids
from tradewarden.fleet.warmup import SeriesWarmed, StoreWriter, WarmUp
from tradewarden.fleet.work import InstanceHooks, InstanceWork
from tradewarden.persistence.fleet_repo import HEARTBEAT_MS, ExchangeView, InstanceView

log = logging.getLogger(__name__)

#: how often buffered candles go to the store while streaming
STORE_FLUSH_S = 2.0


class MarketDataError(RuntimeError):
    """What stops a market-data instance, in one line naming what and where (the runner records it)."""


class MarketDataSetupError(MarketDataError, BadInput):
    """A setup problem a retry cannot cure (``redis.url`` unset, a timeframe or a symbol the exchange does
    not have, an exchange with no usable WebSocket URL): bad input, so ``instance run`` exits 2 ("fix the
    registry or the config"). An exchange or a Redis that does not answer stays a :class:`MarketDataError`
    (exit 1)."""


class _LogSink:
    """The feed's events (reconnects, backfills, fallbacks) into this process's log."""

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        level = logging.WARNING if type_ in (EventType.FEED_STALE, EventType.FEED_FALLBACK_REST) else logging.INFO
        log.log(level, "%s %s", type_, fields)


@dataclass(frozen=True)
class Plan:
    """What an instance serves: the registry's symbols and timeframes, else the config's."""

    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    candles: int
    concurrency: int

    @classmethod
    def of(cls, config: AppConfig, instance: InstanceView) -> Plan:
        symbols = tuple(instance.symbols) or tuple(config.market.traded_symbols)
        timeframes = tuple(instance.timeframes) or (config.market.timeframe,)
        for tf in timeframes:
            try:
                timeframe_ms(tf)
            except ValueError as exc:
                raise MarketDataSetupError(f"instance {instance.id}: {exc}") from None
        return cls(symbols, timeframes, config.market_data.warmup_candles, config.market_data.warmup_concurrency)


def market_data_work(config: AppConfig, *, feed_settings: FeedSettings | None = None) -> InstanceWork:
    """The work of a market-data instance under ``config``; refuses at once when ``redis.url`` is unset."""
    if not config.redis.url:
        raise MarketDataSetupError("instance run needs redis.url (the shared candle cache): set [redis] url in the "
                              "config or TRADEWARDEN_REDIS__URL, e.g. redis://127.0.0.1:6379/0")

    async def work(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                   stop: asyncio.Event) -> None:
        await MarketDataInstance(config, instance, exchange, hooks, feed_settings).run(stop)

    return work


def open_cache(config: AppConfig) -> RedisCandleCache:
    """The shared cache of ``config``, checked to answer; :class:`MarketDataError` naming the server if not."""
    if not config.redis.url:
        raise MarketDataSetupError("redis.url is not set (the shared candle cache)")
    try:
        cache = RedisCandleCache(config.redis.url, size=config.market_data.warmup_candles,
                                 prefix=config.redis.prefix)
        cache.ping()
    except CacheError as exc:
        raise MarketDataError(str(exc)) from None
    return cache


def open_candle_store(config: AppConfig) -> Any:
    """The candle store the data commands use: the PostgreSQL database when configured, else Arrow files."""
    from tradewarden.data.store import StoreError, open_store

    url = config.database.url or ""
    try:
        return open_store(url if url.startswith("postgresql") else None, config.data_dir)
    except StoreError as exc:
        raise MarketDataError(f"candle store: {exc}") from None


class MarketDataInstance:
    def __init__(self, config: AppConfig, instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                 feed_settings: FeedSettings | None = None) -> None:
        self.config = config
        self.instance = instance
        self.exchange = exchange
        self.hooks = hooks
        self.plan = Plan.of(config, instance)
        self.feed_settings = feed_settings
        self.by = f"instance {instance.id} on {instance.host} (pid {os.getpid()})"
        self.warmed: list[SeriesWarmed] = []

    async def run(self, stop: asyncio.Event) -> None:
        cache = open_cache(self.config)
        try:
            store = StoreWriter(open_candle_store(self.config), self.exchange.slug)
        except MarketDataError:
            cache.close()
            raise
        try:
            ex = connect(self.exchange, user_agent=f"tradewarden-market-data/{self.instance.id}")
        except ExchangeSetupError as exc:
            store.store.close()
            cache.close()
            raise MarketDataSetupError(str(exc)) from None
        feed = CcxtFeed(ex, sink=_LogSink(), settings=self.feed_settings, name=self.exchange.slug)
        tasks: list[asyncio.Task[None]] = []
        try:
            if not await _until_stop(self._prepare(feed, ex, cache), stop):
                return
            self.hooks.warming(f"{len(self.plan.symbols)} symbols × {', '.join(self.plan.timeframes)}, "
                               f"{self.plan.candles} candles each")
            assert feed.cache is not None
            warm = WarmUp(feed, feed.cache, self.plan.symbols, self.plan.timeframes, candles=self.plan.candles,
                          concurrency=self.plan.concurrency, store=store, progress=self.hooks.progress)
            warmed = await _until_stop(warm.run(), stop)
            if warmed is None:
                return
            self.warmed = warmed
            tasks = self._stream(feed, store, warmed)
            self.hooks.active(f"warmed {warm.progress.candles_done} candles of {len(warmed)} series; "
                              f"streaming klines")
            # what the start made (ccxt's modules and markets, SQLAlchemy's, the warm-up's) lives as long as the
            # instance: frozen out of the collector, a full collection no longer walks it while holding the GIL
            # (a 100 ms stall of every stream; the trading node does the same: node.components)
            gc.freeze()
            try:
                await _serve(tasks, stop)
            finally:
                gc.unfreeze()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await feed.close()
            with contextlib.suppress(Exception):
                await store.flush()
            await asyncio.to_thread(store.store.close)
            cache.close()

    async def _prepare(self, feed: CcxtFeed, ex: Any, cache: RedisCandleCache) -> bool:
        """Markets loaded and every symbol listed; the feed then writes to the cache under market ids."""
        try:
            await feed.retry.acall(ex.load_markets, label="load_markets")
            ids = market_ids(ex, list(self.plan.symbols))
        except ExchangeSetupError as exc:
            where = f"exchange {self.exchange.slug!r}: "
            raise MarketDataSetupError(str(exc) if str(exc).startswith(where) else where + str(exc)) from None
        except Exception as exc:  # ccxt's errors: unreachable host, refused, malformed answer
            raise MarketDataError(f"exchange {self.exchange.slug!r} at {_rest_where(ex)}: cannot load markets: "
                                  f"{type(exc).__name__}: {str(exc)[:200]}") from None
        feed.cache = ExchangeCache(cache, self.exchange.id, ids, by=self.by)
        return True

    def _stream(self, feed: CcxtFeed, store: StoreWriter, warmed: list[SeriesWarmed]) -> list[asyncio.Task[None]]:
        assert feed.cache is not None
        series = [(w.symbol, w.timeframe) for w in warmed]

        async def follow(w: SeriesWarmed) -> None:
            async for candle in feed.closed_candles(w.symbol, w.timeframe, after_ms=w.last_ts):
                store.add(w.symbol, w.timeframe, [candle])  # Redis has it already (the feed's cache)

        async def confirm(xcache: ExchangeCache) -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_MS / 1000)
                if feed.healthy and feed.mode in ("ws", "rest"):
                    try:
                        await asyncio.to_thread(xcache.touch, series)
                    except CacheError as exc:  # readers will see the series go stale: that is the signal
                        log.warning("%s", exc)

        tasks = [asyncio.create_task(follow(w), name=f"md-{w.symbol}-{w.timeframe}") for w in warmed]
        tasks.append(asyncio.create_task(confirm(feed.cache), name="md-confirm"))
        tasks.append(asyncio.create_task(store.run(STORE_FLUSH_S), name="md-store"))
        return tasks


def _rest_where(ex: Any) -> str:
    api = ex.urls.get("api")
    url = api.get("public") if isinstance(api, dict) else api
    return str(url or ex.id)


T = TypeVar("T")


async def _until_stop(job: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``job``'s result, or None when ``stop`` is set first (the job is then cancelled)."""
    task = asyncio.ensure_future(job)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def _serve(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Until ``stop``; a stream that ends with an error (a permanent feed failure) stops the instance with it."""
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            raise MarketDataError(f"{task.get_name()}: {type(exc).__name__}: {str(exc)[:200]}")
        if task is not stopper and not stop.is_set():
            raise MarketDataError(f"{task.get_name()} ended unexpectedly")


