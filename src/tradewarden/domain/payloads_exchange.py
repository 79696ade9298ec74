"""The payloads of the exchange venue's plumbing and of market data (categories ``venue`` and
``market_data``): ambiguous, resolved, resent and acknowledged orders, exchange fills, clock resyncs and venue
errors; the feed's connection and staleness, backfills, the shared candle cache, bars missing or late, and the
exchange retry policy's retries and give-ups.

Written without ``from __future__ import annotations`` (see :mod:`tradewarden.domain.event_payloads`):
``TypedDict`` reads ``NotRequired`` from evaluated annotations only.
"""

from typing import TypedDict

from tradewarden.domain.payload_fields import Amount


class OrderAmbiguous(TypedDict):
    client_id: str
    symbol: str
    error: str
    message: str


class OrderAcknowledged(TypedDict):
    client_id: str
    symbol: str
    exchange_id: str
    decided_ts: int                      # the close of the candle the order was decided on (its OrderPlaced ts)


class OrderResolved(TypedDict):
    client_id: str
    symbol: str
    exchange_id: str
    status: str


class OrderResent(TypedDict):
    client_id: str
    symbol: str
    attempt: int


class ExchangeFill(TypedDict):
    client_id: str
    exchange_id: str
    trade_id: str
    qty: Amount
    price: Amount
    fee: Amount
    fee_asset: str
    fee_quote: Amount


class ClockResynced(TypedDict):
    exchange: str | None
    offset_ms: int | float


class VenueError(TypedDict):
    client_id: str
    symbol: str
    call: str
    error: str
    message: str


class FeedUp(TypedDict):
    """FeedConnected, FeedReconnected, FeedRecovered: data flows (again) after ``attempts`` failures."""

    exchange: str
    attempts: int
    waited_s: float


class FeedStale(TypedDict):
    exchange: str
    silence_s: float
    mode: str
    had_data: bool


class FeedFallbackRest(TypedDict):
    exchange: str
    failures: int


class CandleBackfilled(TypedDict):
    exchange: str
    symbol: str
    timeframe: str
    count: int
    first_ts: int
    last_ts: int


class HistoryFromCache(TypedDict):
    exchange: str
    symbol: str
    timeframe: str
    count: int
    key: str


class HistoryCacheMiss(TypedDict):
    exchange: str
    symbol: str
    timeframe: str
    reason: str


class BarsMissing(TypedDict):
    timeframe: str
    bar_ts: int                          # the step's open time
    symbols: list[str]                   # without a bar there when the grace deadline passed
    present: int                         # symbols that had one


class BarLate(TypedDict):
    symbol: str
    timeframe: str
    bar_ts: int                          # the dropped candle's open time
    emitted_through: int                 # the newest step already emitted (or bar already delivered)


class ExchangeRetry(TypedDict):
    exchange: str | None
    call: str
    attempt: int
    wait_s: float
    error: str
    message: str


class ExchangeGaveUp(TypedDict):
    exchange: str | None
    call: str
    attempts: int
    error: str
    message: str
    retryable: bool
