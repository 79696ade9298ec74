"""The connection test harness for operators setting up a new exchange.

Three tests, each PASS or FAIL with a one-line reason: load markets (the symbol exists), REST candles
(fetch recent candles, then store and cache them when a store/cache is configured) and WebSocket (at
least one kline message for the symbol within a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from tradewarden.data.cache import RedisCandleCache, market_key
from tradewarden.data.exchange import ExchangeSettings, make_exchange
from tradewarden.data.messages import RejectedMessageError, row_to_candle
from tradewarden.data.store import CandleStore
from tradewarden.domain.candles import CandleSeries, timeframe_ms


@dataclass(frozen=True, slots=True)
class HarnessResult:
    name: str
    passed: bool
    detail: str


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


async def run_harness(
    settings: ExchangeSettings,
    symbol: str,
    timeframe: str,
    ws_deadline_s: float = 30.0,
    *,
    store: CandleStore | None = None,
    cache: RedisCandleCache | None = None,
    limit: int = 100,
) -> list[HarnessResult]:
    step = timeframe_ms(timeframe)
    results: list[HarnessResult] = []
    try:
        exchange = make_exchange(settings, "pro")
    except Exception as exc:
        return [HarnessResult("setup", False, _err(exc))]
    try:
        try:
            t0 = time.monotonic()
            await exchange.load_markets()
            if symbol not in exchange.markets:
                results.append(HarnessResult("markets", False, f"{settings.id} has no market {symbol}"))
                return results
            results.append(
                HarnessResult(
                    "markets", True, f"{len(exchange.markets)} markets in {time.monotonic() - t0:.2f}s"
                )
            )
        except Exception as exc:
            results.append(HarnessResult("markets", False, _err(exc)))
            return results
        results.append(await _rest_test(exchange, settings.id, symbol, timeframe, step, limit, store, cache))
        results.append(await _ws_test(exchange, symbol, timeframe, step, ws_deadline_s))
    finally:
        with contextlib.suppress(Exception):
            await exchange.close()
    return results


async def _rest_test(
    exchange: Any,
    name: str,
    symbol: str,
    timeframe: str,
    step: int,
    limit: int,
    store: CandleStore | None,
    cache: RedisCandleCache | None,
) -> HarnessResult:
    try:
        t0 = time.monotonic()
        rows = await exchange.fetch_ohlcv(symbol, timeframe, None, limit)
        elapsed = time.monotonic() - t0
        candles = [row_to_candle(r, step) for r in rows[:-1]]  # the last row is the forming candle
    except RejectedMessageError as exc:
        return HarnessResult("rest", False, f"malformed candle: {exc.reason}")
    except Exception as exc:
        return HarnessResult("rest", False, _err(exc))
    if not candles:
        return HarnessResult("rest", False, "no closed candles returned")
    detail = f"{len(candles)} candles in {elapsed:.2f}s"
    try:
        if store is not None:
            store.write(name, CandleSeries.from_candles(candles, symbol, timeframe))
            detail += ", stored"
        if cache is not None:
            cache.put(name, market_key(symbol), timeframe, candles)
            detail += ", cached"
    except Exception as exc:
        return HarnessResult("rest", False, f"{detail}, but saving failed: {_err(exc)}")
    return HarnessResult("rest", True, detail)


async def _ws_test(exchange: Any, symbol: str, timeframe: str, step: int, deadline_s: float) -> HarnessResult:
    t0 = time.monotonic()
    try:
        rows = await asyncio.wait_for(exchange.watch_ohlcv(symbol, timeframe), timeout=deadline_s)
        row_to_candle(rows[-1], step)
    except TimeoutError:
        return HarnessResult("websocket", False, f"no kline message within {deadline_s:g}s")
    except RejectedMessageError as exc:
        return HarnessResult("websocket", False, f"malformed kline: {exc.reason}")
    except Exception as exc:
        return HarnessResult("websocket", False, _err(exc))
    return HarnessResult("websocket", True, f"kline after {time.monotonic() - t0:.2f}s")
