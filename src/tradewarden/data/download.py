"""History download over REST: paginated, resumable, rate-limit aware.

Only closed candles are stored (those that opened before the exchange's newest, still-forming candle), and
only what the store lacks is fetched: the wanted range minus the stored candles minus the ranges the
exchange is already known to have no candles for. Pages are validated and written to the store every
``flush_every`` candles (and on interruption), so a download that dies resumes where it stopped. Ranges the
exchange answers with no candles (before listing, maintenance windows) are recorded in the store as
exchange gaps, reported, and not asked for again. Every call goes through the :class:`RetryPolicy`
(429/418 with Retry-After, 5xx, timeouts); ccxt's own rate limiter paces the requests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tradewarden.data.messages import RejectedMessageError, row_to_candle
from tradewarden.data.retry import RetryPolicy
from tradewarden.data.store import CandleStore, missing_ranges
from tradewarden.data.validation import Gap, find_gaps
from tradewarden.domain.candles import Candle, CandleSeries, timeframe_ms

Progress = Callable[[int, int], None]  # (candles done, candles wanted)


@dataclass
class DownloadReport:
    exchange: str
    symbol: str
    timeframe: str
    fetched: int = 0
    requests: int = 0
    rejected: int = 0
    stored: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    gaps: list[Gap] = field(default_factory=list)  # holes in the stored series
    exchange_gaps: list[tuple[int, int]] = field(default_factory=list)  # [start, end) the exchange lacks


def download(
    exchange: Any,
    store: CandleStore,
    exchange_name: str,
    symbol: str,
    timeframe: str,
    start_ms: int,
    end_ms: int | None = None,
    *,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
    page_limit: int = 1000,
    flush_every: int = 20_000,
) -> DownloadReport:
    """Fetch the closed candles of ``[start_ms, end_ms)`` (default: up to now) the store does not have."""
    policy = retry or RetryPolicy(exchange=exchange)
    step = timeframe_ms(timeframe)
    report = DownloadReport(exchange_name, symbol, timeframe)
    # the newest kline is the one still forming: everything that opened before it has closed. (Asking
    # /time instead would trust a clock the market may not follow; the simulator's does not.)
    newest = policy.call(exchange.fetch_ohlcv, symbol, timeframe, None, 1, label="fetch_ohlcv")
    report.requests += 1
    if not newest:
        raise ValueError(f"{exchange_name} returns no candles for {symbol} {timeframe}")
    forming = int(newest[-1][0])
    end = min(end_ms, forming) if end_ms is not None else forming
    stored = store.load(exchange_name, symbol, timeframe, start_ms, end)
    holes = missing_ranges(
        stored.ts, start_ms, end, step, store.exchange_gaps(exchange_name, symbol, timeframe)
    )
    wanted = sum((b - a) // step for a, b in holes)
    done = 0
    buffer: list[Candle] = []

    def flush() -> None:
        if buffer:
            store.write(exchange_name, CandleSeries.from_candles(buffer, symbol, timeframe))
            buffer.clear()

    def gap(a: int, b: int) -> None:
        store.add_exchange_gap(exchange_name, symbol, timeframe, a, b)

    if progress:
        progress(0, wanted)
    try:
        for a, b in holes:
            cursor = a
            while cursor < b:
                rows = policy.call(
                    exchange.fetch_ohlcv,
                    symbol,
                    timeframe,
                    cursor,
                    page_limit,
                    {"until": b - 1},
                    label="fetch_ohlcv",
                )
                report.requests += 1
                page: list[Candle] = []
                for row in rows:
                    try:
                        c = row_to_candle(row, step)
                    except RejectedMessageError:
                        report.rejected += 1
                        continue
                    if cursor <= c.ts < b and (not page or c.ts > page[-1].ts):
                        page.append(c)
                if not page:
                    gap(cursor, b)  # nothing from here to the end of the hole
                    done += (b - cursor) // step
                    break
                if page[0].ts > cursor:
                    gap(cursor, page[0].ts)
                for prev, nxt in itertools.pairwise(page):
                    if nxt.ts - prev.ts > step:
                        gap(prev.ts + step, nxt.ts)
                buffer.extend(page)
                report.fetched += len(page)
                done += (page[-1].ts + step - cursor) // step
                cursor = page[-1].ts + step
                if len(buffer) >= flush_every:
                    flush()
                if progress:
                    progress(min(done, wanted), wanted)
    finally:
        flush()  # keep what arrived, so an interrupted download resumes after it
    whole = store.load(exchange_name, symbol, timeframe)
    report.stored = len(whole)
    if len(whole):
        report.first_ts, report.last_ts = int(whole.ts[0]), int(whole.ts[-1])
        report.gaps = find_gaps(whole.ts, step)
    report.exchange_gaps = store.exchange_gaps(exchange_name, symbol, timeframe)
    return report
