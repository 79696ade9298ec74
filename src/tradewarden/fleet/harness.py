"""The subscription test harness on the registry: can a market-data instance serve this exchange?

``tradewarden harness --exchange SLUG`` runs four tests against the registry's exchange (its ccxt id, its REST
and WebSocket URLs) and the configured Redis, each PASS or FAIL with one line of detail and counts:

* ``redis``: the shared cache answers (``redis.url``);
* ``markets``: the exchange's markets load and list every symbol asked;
* ``rest``: the REST warm-up into Redis, as an instance does it (:mod:`tradewarden.fleet.warmup`): candles
  fetched and cached per symbol, counted;
* ``websocket``: a kline message for every symbol within the deadline (2 s by default).

A test that cannot run because an earlier one failed is a FAIL saying so. The outcomes are stored in the
registry (``harness_results``) for the dashboard's Network page.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from tradewarden.config.models import AppConfig
from tradewarden.data.cache import CacheError, ExchangeCache, RedisCandleCache
from tradewarden.data.feed_ccxt import CcxtFeed
from tradewarden.data.messages import RejectedMessageError, row_to_candle
from tradewarden.domain.candles import timeframe_ms
from tradewarden.fleet.connection import ExchangeSetupError, connect, market_ids
from tradewarden.fleet.warmup import WarmUp
from tradewarden.persistence.fleet_repo import ExchangeView, HarnessOutcome

TESTS = ("redis", "markets", "rest", "websocket")


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _not_run(test: str, because: str) -> HarnessOutcome:
    return HarnessOutcome(test, False, f"not run: {because} failed", {})


async def run_harness(config: AppConfig, exchange: ExchangeView, symbols: Sequence[str], timeframe: str, *,
                      deadline_s: float = 2.0, candles: int | None = None) -> list[HarnessOutcome]:
    """The four tests in order (see the module docstring); never raises for what it tests."""
    wanted = candles or config.market_data.warmup_candles
    out: list[HarnessOutcome] = []
    cache: RedisCandleCache | None = None
    try:
        cache = RedisCandleCache(config.redis.url or "", size=wanted, prefix=config.redis.prefix)
        t0 = time.monotonic()
        cache.ping()
        out.append(HarnessOutcome("redis", True, f"Redis at {cache.where} answers in "
                                                  f"{(time.monotonic() - t0) * 1000:.0f} ms", {}))
    except CacheError as exc:
        out.append(HarnessOutcome("redis", False, str(exc), {}))
    try:
        ex = connect(exchange, user_agent="tradewarden-harness")
    except ExchangeSetupError as exc:
        out.append(HarnessOutcome("markets", False, str(exc), {}))
        return [*out, _not_run("rest", "markets"), _not_run("websocket", "markets")]
    feed = CcxtFeed(ex, name=exchange.slug)
    try:
        markets = await _markets(feed, ex, exchange, symbols)
        out.append(markets)
        if not markets.passed:
            return [*out, _not_run("rest", "markets"), _not_run("websocket", "markets")]
        if cache is not None and out[0].passed:
            xcache = ExchangeCache(cache, exchange.id, market_ids(ex, list(symbols)), by="harness")
            out.append(await _rest(feed, xcache, symbols, timeframe, wanted, config.market_data.warmup_concurrency))
        else:
            out.append(_not_run("rest", "redis"))
        out.append(await _websocket(ex, symbols, timeframe, deadline_s))
        return out
    finally:
        await feed.close()
        if cache is not None:
            cache.close()


async def _markets(feed: CcxtFeed, ex: Any, exchange: ExchangeView, symbols: Sequence[str]) -> HarnessOutcome:
    t0 = time.monotonic()
    try:
        await feed.retry.acall(ex.load_markets, label="load_markets")
    except Exception as exc:  # ccxt's errors: unreachable, refused, a malformed answer
        return HarnessOutcome("markets", False, f"{exchange.slug} at {ex.urls['api'].get('public', '?')}: "
                                                f"{_err(exc)}", {})
    missing = [s for s in symbols if s not in ex.markets]
    counts = {"markets": len(ex.markets), "symbols": len(symbols), "missing": len(missing)}
    if missing:
        return HarnessOutcome("markets", False, f"{exchange.slug} has no market {', '.join(missing)}", counts)
    return HarnessOutcome("markets", True, f"{len(ex.markets)} markets in {time.monotonic() - t0:.2f} s, "
                                           f"{len(symbols)} symbols listed", counts)


async def _rest(feed: CcxtFeed, cache: ExchangeCache, symbols: Sequence[str], timeframe: str, candles: int,
                concurrency: int) -> HarnessOutcome:
    t0 = time.monotonic()
    try:
        warmed = await WarmUp(feed, cache, symbols, [timeframe], candles=candles, concurrency=concurrency).run()
    except CacheError as exc:
        return HarnessOutcome("rest", False, str(exc), {})
    except Exception as exc:  # the exchange's errors after the retry policy gave up
        return HarnessOutcome("rest", False, _err(exc), {})
    fetched = sum(w.fetched for w in warmed)
    cached = sum(min(w.cached, w.fetched) for w in warmed)
    counts = {"symbols": len(warmed), "fetched": fetched, "cached": cached}
    empty = [w.symbol for w in warmed if w.fetched == 0]
    short = [w.symbol for w in warmed if w.cached < w.fetched]
    where = cache.key(symbols[0], timeframe).rsplit(":", 2)[0] + ":..."
    detail = f"{fetched} candles fetched, {cached} cached under {where} in {time.monotonic() - t0:.2f} s"
    if empty:
        return HarnessOutcome("rest", False, f"no closed candles for {', '.join(empty)}; {detail}", counts)
    if short:
        return HarnessOutcome("rest", False, f"the cache holds fewer than fetched for {', '.join(short)}; "
                                             f"{detail}", counts)
    return HarnessOutcome("rest", True, detail, counts)


async def _websocket(ex: Any, symbols: Sequence[str], timeframe: str, deadline_s: float) -> HarnessOutcome:
    step = timeframe_ms(timeframe)
    t0 = time.monotonic()

    async def first(symbol: str) -> float:
        rows = await ex.watch_ohlcv(symbol, timeframe)
        row_to_candle(rows[-1], step)
        return time.monotonic() - t0

    tasks = {s: asyncio.create_task(first(s)) for s in symbols}
    done, pending = await asyncio.wait(tasks.values(), timeout=deadline_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    with contextlib.suppress(Exception):
        await ex.close_ws_clients()
    got = {s: t.result() for s, t in tasks.items() if t in done and t.exception() is None}
    failed = {s: exc for s, t in tasks.items() if t in done and (exc := t.exception()) is not None}
    late = [s for s, t in tasks.items() if t in pending]
    counts = {"symbols": len(symbols), "received": len(got)}
    if failed:
        s, exc = next(iter(failed.items()))
        reason = f"malformed kline: {exc.reason}" if isinstance(exc, RejectedMessageError) else _err(exc)
        return HarnessOutcome("websocket", False, f"{s}: {reason}", counts)
    if late:
        return HarnessOutcome("websocket", False, f"no kline message within {deadline_s:g} s for "
                                                  f"{', '.join(late)} ({len(got)} of {len(symbols)} received)",
                              counts)
    return HarnessOutcome("websocket", True, f"a kline for each of {len(symbols)} symbols within "
                                             f"{max(got.values()):.2f} s (deadline {deadline_s:g} s)", counts)
