"""The payloads of a paper, shadow or live session's own lifecycle (category ``session``): heartbeats,
warm-up and catch-up, resuming after a restart, reconciliations that passed, were suspect or skipped, the
daily summary, equity samples per candle, and parameter reloads and re-optimizations.

Written without ``from __future__ import annotations`` (see :mod:`tradewarden.domain.event_payloads`):
``TypedDict`` reads ``NotRequired`` from evaluated annotations only.
"""

from typing import NotRequired, TypedDict

from tradewarden.domain.payload_fields import Amount, Json


class Heartbeat(TypedDict):
    loop_stall_max_ms: float             # the event loop's longest stall so far
    candles_received: int                # from the feed, counted on the loop while the worker may be busy
    feed_healthy: bool
    worker_jobs: int                     # jobs queued or running on the trading worker
    rss_mb: NotRequired[float]           # the process's resident memory (where the platform tells it)


class WarmUpDone(TypedDict):
    candles: int
    last: int | None


class CaughtUp(TypedDict):
    history_only: int
    first: int | None
    last: int | None
    trading_from: int


class SessionResumed(TypedDict):
    last_candle: int | None
    open_orders: int
    fills: int
    after_crash: NotRequired[bool]       # the previous process did not stop gracefully
    symbols: NotRequired[list[str]]      # a portfolio session


class ReconcileOk(TypedDict):
    open_orders: int
    balances: NotRequired[dict[str, str]]


class ReconcileSuspect(TypedDict):
    differences: list[str]


class ReconcileSkipped(TypedDict):
    error: str


class DailySummary(TypedDict):
    candles: int
    trades: int
    position: Amount
    equity: Amount
    fees: Amount


class EquitySample(TypedDict):
    """Once per closed candle (the node emits it after the candle's orders): what the bot is worth."""
    candle_ts: int                       # open time of the candle just closed
    equity: Amount                       # cash plus every position at its mark, in the quote asset
    pnl: Amount                          # equity minus the starting capital
    marks: Json                          # symbol -> the close it was marked at
    balances: NotRequired[Json]          # asset -> amount held


class ParamsReloaded(TypedDict):
    file: str
    params: Json


class ParamsReloadFailed(TypedDict):
    file: str
    error: str


class ParamsReoptimized(TypedDict):
    outcome: str                         # applied | kept | failed
    reason: str
    file: str                            # the parameter file (replaced when applied)
    margin: float
    data: str                            # where the candles came from
    current_sharpe: NotRequired[float]   # holdout Sharpe of the live parameters
    new_sharpe: NotRequired[float]       # ... and of the optimizer's
    required: NotRequired[float]         # the smallest new Sharpe that is applied
    current_params: NotRequired[Json]
    new_params: NotRequired[Json]
    study: NotRequired[str]
    report: NotRequired[str]             # the optimizer's output folder
