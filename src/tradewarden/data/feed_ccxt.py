"""The live :class:`~tradewarden.domain.ports.MarketDataFeed` over ccxt.pro WebSockets, with REST as backup.

Guarantee: each closed candle is yielded exactly once, in open-time order, whatever the connection does.

* **When is a candle closed?** ccxt.pro's ``watch_ohlcv`` returns candles including the one still forming
  and drops the exchange's "final" flag (Binance ``k.x``). So a candle counts as closed once a candle with a
  later open time has been seen on the same connection: exchanges send the last update of a bar before the
  first update of the next, so the value we hold is final. Over REST the last row of a kline answer is the
  forming bar and is held back for the same reason. The cost: a bar is delivered when the next bar's first
  update arrives (Binance sends it at the boundary), not a timer tick earlier.
* **Heartbeat watchdog**: no WebSocket message for ``heartbeat_s`` (default 10 s) → ``FeedStale``, the
  connections are dropped and reopened with exponential backoff and jitter.
* **Backfill**: after every (re)connect, and whenever a candle arrives that does not follow the last one
  delivered, the missing closed candles are fetched over REST and delivered first (``CandleBackfilled``).
  Candles still forming when a connection died are discarded and re-read, never trusted.
* **REST fallback**: after ``failures_before_fallback`` failed connections in a row the feed polls REST
  (``FeedFallbackRest``) and probes WebSockets every ``ws_probe_s``; the first probe that gets data switches
  back (``FeedRecovered``).
* **Validation**: every raw kline frame and every OHLCV row is checked (:mod:`tradewarden.data.messages`);
  malformed ones are counted (``rejected``), logged and skipped (``MessageRejected``); the frame guards are in
  :mod:`tradewarden.data.feed_guards`.
* **Health**: ``healthy`` turns false when no data (WebSocket or REST) arrived for ``stale_limit_s``, so the
  runtime can stop opening positions.
* **Shared cache**: with ``cache`` every closed candle is written to Redis as it is delivered (the market-data
  instance); with ``history_cache`` the history and every backfill are read from Redis when the cache holds
  them fresh and complete, and from REST otherwise (a trading bot beside a market-data instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ccxt

from tradewarden.data.cache import ExchangeCache
from tradewarden.data.feed_guards import FrameGuards, Subscription, wall_ms
from tradewarden.data.messages import RejectedMessageError, row_to_candle
from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.candles import Candle, timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink

log = logging.getLogger(__name__)

_END = object()  # queue sentinel: the feed was closed


@dataclass(frozen=True)
class FeedSettings:
    heartbeat_s: float = 10.0
    stale_limit_s: float = 60.0
    reconnect_base_s: float = 0.5
    reconnect_cap_s: float = 15.0
    failures_before_fallback: int = 3
    rest_poll_s: float = 5.0
    ws_probe_s: float = 30.0
    page_limit: int = 1000
    #: candles ccxt.pro keeps per stream (its ``OHLCVLimit``, 1000 by default: ~250 kB a symbol after a few
    #: days). The feed reads only the updates of each message (ccxt's ``newUpdates``) and backfills over
    #: REST, so a short tail is all it needs
    ws_bars_kept: int = 50


class _StaleError(Exception):
    pass


def _newest_open(rows: Sequence[Any], step: int) -> int | None:
    """The newest open time among the valid rows of a ``watch_ohlcv`` answer (None if none is valid; a bad row
    is counted where the rows are delivered, not here)."""
    newest: int | None = None
    for row in rows:
        try:
            ts = row_to_candle(row, step).ts
        except RejectedMessageError:
            continue
        newest = ts if newest is None else max(newest, ts)
    return newest


class CcxtFeed(FrameGuards):
    """Closed candles from a ``ccxt.pro`` exchange object (which also serves the REST calls)."""

    def __init__(
        self,
        exchange: Any,
        *,
        sink: EventSink | None = None,
        settings: FeedSettings | None = None,
        retry: RetryPolicy | None = None,
        cache: ExchangeCache | None = None,
        history_cache: ExchangeCache | None = None,
        name: str | None = None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.exchange = exchange
        self.name = name or str(getattr(exchange, "id", "exchange"))
        self.sink = sink
        self.settings = settings or FeedSettings()
        exchange.options["OHLCVLimit"] = self.settings.ws_bars_kept
        self.retry = retry or RetryPolicy(
            sink=sink, exchange=exchange, max_total_s=30.0, async_sleep=asyncio.sleep
        )
        self.cache = cache
        self.history_cache = history_cache
        self.clock_ms = clock_ms
        self.rejected = 0
        self.mode = "idle"  # idle | ws | rest
        self._subs: dict[tuple[str, str], Subscription] = {}
        self._runner: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._last_data = time.monotonic()
        self._closing = False
        # the exchange clock as the latest kline event time ``E`` (kline frames only: other streams may be
        # stamped by another clock); a bar whose close time it has passed is closed
        self._kline_clock = 0
        self._session_got = False
        self._session_last = time.monotonic()
        self._rng = random.Random()
        self._pongs: set[asyncio.Future[None]] = set()
        self._install_guards()

    # -- the MarketDataFeed interface ---------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return not self._closing and time.monotonic() - self._last_data <= self.settings.stale_limit_s

    async def history(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        """The latest ``limit`` closed candles: from the shared cache when it holds them fresh, else over REST
        (the forming one is left out)."""
        if self.history_cache is not None:
            cached = self.history_cache.history(symbol, timeframe, limit)
            if cached is not None:
                self._emit(EventType.HISTORY_FROM_CACHE, symbol=symbol, timeframe=timeframe, count=len(cached),
                           key=self.history_cache.key(symbol, timeframe))
                return cached
            self._emit(EventType.HISTORY_CACHE_MISS, symbol=symbol, timeframe=timeframe,
                       reason=self.history_cache.last_miss)
        step = timeframe_ms(timeframe)
        sub = Subscription(symbol, timeframe, step, None)
        page = self.settings.page_limit
        rows = await self._fetch(symbol, timeframe, None, min(limit + 1, page))
        candles = self._candles(sub, rows)[:-1]  # the newest row is the candle still forming
        while candles and len(candles) < limit and len(rows) == min(limit + 1, page):
            first = candles[0].ts
            want = min(limit - len(candles), page)
            rows = await self._fetch(symbol, timeframe, first - want * step, want)
            older = [c for c in self._candles(sub, rows) if c.ts < first]
            if not older:
                break
            candles = older + candles
        return candles[-limit:]

    async def ticker(self, symbol: str) -> Mapping[str, Any]:
        result: Mapping[str, Any] = await self.retry.acall(
            self.exchange.fetch_ticker, symbol, label="fetch_ticker"
        )
        return result

    async def closed_candles(
        self, symbol: str, timeframe: str, after_ms: int | None = None
    ) -> AsyncIterator[Candle]:
        """Closed candles in order. With ``after_ms`` the first is the one after that open time (backfilled
        if needed); without, the first is the next one to close."""
        key = (symbol, timeframe)
        if key in self._subs:
            raise ValueError(f"{symbol} {timeframe} is already being streamed by this feed")
        sub = Subscription(symbol, timeframe, timeframe_ms(timeframe), after_ms)
        self._subs[key] = sub
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=f"feed-{self.name}")
        try:
            while True:
                item = await sub.queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._subs.pop(key, None)

    async def close(self) -> None:
        """Stop in order: the REST poller and the connection loop (its streams, then its WebSocket clients),
        then any pong still in flight, then the consumers, then the exchange's HTTP session."""
        self._closing = True
        for task in (self._poller, self._runner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for pong in list(self._pongs):
            pong.cancel()
        await asyncio.gather(*self._pongs, return_exceptions=True)
        for sub in self._subs.values():
            sub.queue.put_nowait(_END)
        with contextlib.suppress(Exception):
            await self.exchange.close()

    # -- delivery -------------------------------------------------------------------------------------
    def _put(self, sub: Subscription, candle: Candle) -> None:
        sub.last_ts = candle.ts
        sub.delivered += 1
        sub.queue.put_nowait(candle)
        if self.cache is not None:
            try:
                self.cache.put(sub.symbol, sub.timeframe, [candle])
            except Exception as exc:  # the cache is an optimisation: never let it stop the feed
                log.warning("%s: cannot write candle cache: %s", self.name, exc)

    async def _deliver(self, sub: Subscription, closed: list[Candle], source: str) -> None:
        async with sub.lock:
            for candle in closed:
                if sub.last_ts is not None and candle.ts <= sub.last_ts:
                    continue  # already delivered (REST and WebSocket overlap): never twice
                if sub.last_ts is not None and candle.ts > sub.last_ts + sub.step and source == "ws":
                    await self._backfill_locked(sub, until=candle.ts)
                    if candle.ts <= (sub.last_ts or 0):
                        continue
                self._put(sub, candle)

    async def _backfill(self, sub: Subscription, before: int | None = None) -> None:
        async with sub.lock:
            await self._backfill_locked(sub, until=before)

    async def _backfill_locked(self, sub: Subscription, until: int | None, announce: bool = True) -> None:
        """Deliver closed candles after ``sub.last_ts`` (before ``until`` if given) from REST."""
        if sub.last_ts is None:  # first start: begin after the newest closed candle, deliver nothing
            recent = await self._fetch_closed(sub.symbol, sub.timeframe, None)
            sub.last_ts = recent[-1].ts if recent else None
            return
        candles = await self._fetch_closed(sub.symbol, sub.timeframe, sub.last_ts + sub.step, until)
        fresh = [c for c in candles if c.ts > sub.last_ts and (until is None or c.ts < until)]
        for c in fresh:
            self._put(sub, c)
        if fresh and announce:
            self._emit(
                EventType.CANDLE_BACKFILLED,
                symbol=sub.symbol,
                timeframe=sub.timeframe,
                count=len(fresh),
                first_ts=fresh[0].ts,
                last_ts=fresh[-1].ts,
            )

    async def _fetch(self, symbol: str, timeframe: str, since: int | None, limit: int) -> list[Any]:
        rows: list[Any] = await self.retry.acall(
            self.exchange.fetch_ohlcv, symbol, timeframe, since, limit, label="fetch_ohlcv"
        )
        self._last_data = time.monotonic()
        return rows

    async def _fetch_closed(
        self, symbol: str, timeframe: str, since: int | None, known_closed_before: int | None = None
    ) -> list[Candle]:
        """Closed candles from ``since`` (paginated; the latest ones when ``None``), validated.

        The exchange's newest row is the candle still forming and is left out, unless it opened before
        ``known_closed_before`` (the stream already showed it closed). We do not compare with the
        exchange clock: ``/time`` may follow a different clock than the market (it does on the simulator).
        """
        if self.history_cache is not None:  # served whole by the shared cache, or not at all
            cached = self.history_cache.closed(symbol, timeframe, since, known_closed_before, self.settings.page_limit)
            if cached is not None:
                self._last_data = time.monotonic()
                return cached
        step = timeframe_ms(timeframe)
        sub = self._subs.get((symbol, timeframe)) or Subscription(symbol, timeframe, step, None)
        # ask for no more rows than needed: a page of 1,000 costs the exchange (and its rate limit) far more
        # than the few candles a reconnect usually misses
        want = self.settings.page_limit
        if since is None:
            want = 2  # the newest closed candle and the forming one
        elif known_closed_before is not None:
            want = max(1, min(want, (known_closed_before - since) // step + 1))
        out: list[Candle] = []
        cursor = since
        while True:
            rows = await self._fetch(symbol, timeframe, cursor, want)
            page = self._candles(sub, rows)
            if not page:
                break
            out.extend(page)
            if len(rows) < want or cursor is None:
                break
            if known_closed_before is not None and page[-1].ts >= known_closed_before - step:
                break
            cursor = page[-1].ts + step
        if out and (known_closed_before is None or out[-1].ts >= known_closed_before):
            out.pop()  # the forming bar
        return out

    # -- the connection state machine ---------------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        connected_before = False
        try:
            while not self._closing:
                if failures >= self.settings.failures_before_fallback:
                    self._emit(EventType.FEED_FALLBACK_REST, failures=failures)
                    got = await self._rest_mode()
                else:
                    event = EventType.FEED_RECONNECTED if connected_before else EventType.FEED_CONNECTED
                    got = await self._ws_session(event, failures)
                connected_before = connected_before or got
                failures = 1 if got else failures + 1
                if failures < self.settings.failures_before_fallback:
                    await asyncio.sleep(self._backoff(failures))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a permanent error (bad symbol, auth): hand it to every consumer
            log.error("%s: market-data feed stopped: %s", self.name, exc)
            for sub in self._subs.values():
                sub.queue.put_nowait(exc)

    def _backoff(self, failures: int) -> float:
        cap = min(self.settings.reconnect_cap_s, self.settings.reconnect_base_s * 2 ** (failures - 1))
        return self._rng.uniform(cap / 2, cap)

    async def _ws_session(self, first_event: EventType, failures: int) -> bool:
        """One WebSocket connection's life; returns whether it delivered any data.

        Each stream has its own ``watch_ohlcv`` loop (ccxt multiplexes them on one connection and gives each
        its own future, so no update of one symbol waits behind another's); a watchdog ends the session
        when no message at all arrived for ``heartbeat_s``, and any stream's network error ends it too.
        """
        loop = asyncio.get_running_loop()
        self._session_got = False
        self._session_last = time.monotonic()
        started = self._session_last
        failed: asyncio.Future[BaseException | None] = loop.create_future()
        tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        for sub in self._subs.values():
            sub.fresh = True

        def finished(task: asyncio.Task[None]) -> None:
            if not failed.done() and not task.cancelled():
                failed.set_result(task.exception())

        try:
            while not self._closing:
                for key, sub in list(self._subs.items()):
                    if key not in tasks:
                        task = asyncio.create_task(self._watch_stream(sub, first_event, failures, started))
                        task.add_done_callback(finished)
                        tasks[key] = task
                for key in [k for k in tasks if k not in self._subs]:
                    tasks.pop(key).cancel()
                if time.monotonic() - self._session_last > self.settings.heartbeat_s:
                    raise _StaleError
                await asyncio.wait([failed], timeout=min(0.05, self.settings.heartbeat_s / 4))
                if failed.done():
                    error = failed.result()
                    if error is not None:
                        raise error
        except _StaleError:
            self._emit(
                EventType.FEED_STALE, silence_s=self.settings.heartbeat_s, mode="ws", had_data=self._session_got
            )
        except ccxt.NetworkError as exc:
            log.warning("%s: WebSocket failed: %s", self.name, exc)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.exchange.close_ws_clients()
        return self._session_got

    async def _watch_stream(self, sub: Subscription, first_event: EventType, failures: int, started: float) -> None:
        while True:
            rows = await self.exchange.watch_ohlcv(sub.symbol, sub.timeframe)
            self._session_last = self._last_data = time.monotonic()
            if not self._session_got:
                self._session_got = True
                if first_event is EventType.FEED_RECOVERED and self._poller is not None:
                    self._poller.cancel()
                self.mode = "ws"
                self._emit(first_event, attempts=failures, waited_s=round(time.monotonic() - started, 3))
            if sub.fresh:  # first update of this stream on this connection: catch up over REST first
                sub.fresh = False
                sub.pending.clear()  # bars seen on a dead connection may be incomplete
                # up to the bar this update is about: the stream delivers that one and later ones
                await self._backfill(sub, before=_newest_open(rows, sub.step))
            await self._on_rows(sub, rows)

    async def _on_rows(self, sub: Subscription, rows: Sequence[Any]) -> None:
        for candle in self._candles(sub, rows):
            if sub.last_ts is None or candle.ts > sub.last_ts:
                sub.pending[candle.ts] = candle
        if not sub.pending:
            return
        newest = max(sub.pending)
        clock = self._kline_clock
        closed = [sub.pending.pop(t) for t in sorted(sub.pending) if t < newest or t + sub.step <= clock]
        if closed and sub.suspect:
            sub.suspect = False
            async with sub.lock:
                await self._backfill_locked(sub, until=closed[-1].ts + sub.step)
        if closed:
            await self._deliver(sub, closed, "ws")

    async def _rest_mode(self) -> bool:
        """Poll REST until a WebSocket probe gets data; returns whether it did (it always does, or is
        cancelled)."""
        self.mode = "rest"
        self._poller = asyncio.create_task(self._poll_forever())
        try:
            while not self._closing:
                await asyncio.sleep(self.settings.ws_probe_s)
                if await self._ws_session(EventType.FEED_RECOVERED, 0):
                    return True
                self.mode = "rest"
            return False
        finally:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None

    async def _poll_forever(self) -> None:
        while True:
            for sub in list(self._subs.values()):
                try:
                    async with sub.lock:
                        await self._backfill_locked(sub, until=None, announce=False)
                except ccxt.NetworkError as exc:
                    log.warning("%s: REST poll failed: %s", self.name, exc)
            await asyncio.sleep(self.settings.rest_poll_s)
