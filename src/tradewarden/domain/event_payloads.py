"""The payload of every event type: the fields after the envelope (``ts``, ``time``, ``type``), as emitted.

One ``TypedDict`` per payload; :data:`tradewarden.domain.events.PAYLOADS` maps each ``EventType`` to its own.
Written without ``from __future__ import annotations``: ``TypedDict`` reads ``NotRequired`` from evaluated
annotations only, and the checker in ``events.py`` reads the types at run time.
"""

from decimal import Decimal
from typing import Any, NotRequired, TypedDict

# Money and quantities: a Decimal, or its exact text (the batch backtest writes text directly); both are the
# same decimal string in events.jsonl.
Amount = Decimal | str
Json = dict[str, Any]


class RunStarted(TypedDict):
    mode: str
    version: str
    config_hash: str | None
    strategy: NotRequired[Json]          # {name, params}
    symbol: NotRequired[str]
    symbols: NotRequired[list[str]]      # a portfolio run
    timeframe: NotRequired[str]
    data: NotRequired[str]
    first_candle: NotRequired[str]
    last_candle: NotRequired[str]
    bars: NotRequired[int]
    engine_path: NotRequired[str]        # batch | per_candle
    settings: NotRequired[Json]
    run_dir: NotRequired[str]


class RunFinished(TypedDict):
    trades: int
    final_equity: float | None           # the summary's metric (a number), not an exact amount
    run_dir: str
    open_position: NotRequired[bool]
    seconds: NotRequired[float]
    mode: NotRequired[str]               # sessions: mode, why they stopped, candles seen
    reason: NotRequired[str]
    candles: NotRequired[int]
    loop_stall_max_ms: NotRequired[float]  # sessions: the event loop's longest stall


class Heartbeat(TypedDict):
    loop_stall_max_ms: float             # the event loop's longest stall so far
    candles_received: int                # from the feed, counted on the loop while the worker may be busy
    feed_healthy: bool
    worker_jobs: int                     # jobs queued or running on the trading worker
    rss_mb: NotRequired[float]           # the process's resident memory (where the platform tells it)


class DataGap(TypedDict):
    symbol: str
    after: str
    before: str
    missing_candles: int


class OrderPlaced(TypedDict):
    client_id: str
    symbol: str
    side: str
    order_type: str
    qty: Amount
    price: Amount | None
    stop_price: Amount | None
    stop_loss: Amount | None
    take_profit: Amount | None
    reduce_only: bool


class OrderDenied(TypedDict):
    client_id: str
    symbol: str
    side: str
    qty: Amount
    reason_code: str
    message: str


class OrderEnded(TypedDict):
    """OrderRejected (the venue refused it) and OrderCancelled."""

    client_id: str
    symbol: str
    reason: str


class FillPayload(TypedDict):
    client_id: str
    symbol: str
    side: str
    qty: Amount
    price: Amount
    fee: Amount
    liquidity: str
    reason: str
    fee_base: NotRequired[Amount]        # only when the exchange withheld the fee in base


class PositionOpened(TypedDict):
    symbol: str
    side: str
    qty: Amount
    price: Amount


class PositionClosed(TypedDict):
    symbol: str
    side: str
    qty: Amount
    entry_price: Amount
    exit_price: Amount
    pnl: Amount
    fees: Amount
    reason: str


class OrderAdopted(TypedDict):
    client_id: str
    symbol: str
    side: str
    order_type: str
    qty: Amount
    price: Amount | None
    filled: Amount


class PositionAdopted(TypedDict):
    symbol: str
    before: Amount
    after: Amount
    dust: Amount
    mark_price: Amount


class MessageRejected(TypedDict):
    source: str                          # venue | feed
    reason: str
    exchange: NotRequired[str]
    symbol: NotRequired[str | None]
    rejected_total: NotRequired[int]


TradingStateChanged = TypedDict("TradingStateChanged", {"scope": str, "from": str, "to": str, "reason": str})


class CircuitBreakerTripped(TypedDict):
    breaker: str
    scope: str
    action: str
    reason: str
    reset: str
    reset_after_ts: int | None


class CircuitBreakerReset(TypedDict):
    breaker: str
    scope: str
    by: str


class KillSwitchDeactivated(TypedDict):
    reason: str
    actor: str
    set_ts: int


class KillSwitchActivated(KillSwitchDeactivated):
    close_positions: bool


class BootSeal(TypedDict):
    version: str
    mode: str
    config_hash: str
    stage: str | None
    strategy: str
    params: Json
    symbol: str                          # the first symbol
    symbols: list[str]                   # every symbol the session trades, in order
    timeframe: str
    exchange: str
    exchange_simulated: bool
    filters: NotRequired[Json]           # per symbol: tick_size, step_size, min_qty, max_qty, min_notional


class ShadowSafetyOk(TypedDict):
    clock_offset_ms: int | None
    keys_present: bool
    kill_switch: bool
    trading_state: str
    stage: str | None
    clock_error: NotRequired[str]        # the exchange did not answer at boot
    # live only: the key's permissions and the account's funding
    key_can_withdraw: NotRequired[bool | str]
    key_permissions: NotRequired[str]
    withdrawal_keys_allowed: NotRequired[bool]
    quote: NotRequired[str]
    free_quote: NotRequired[str]
    base_held: NotRequired[str]
    price: NotRequired[str]
    min_order_qty: NotRequired[str]
    min_order_quote: NotRequired[str]


class SafetyChecks(ShadowSafetyOk):
    mode: str


class LiveArmFailed(TypedDict):
    mode: str
    reason: str
    message: str
    config_hash: str


class StateMigrated(TypedDict):
    from_revision: str | None
    to_revision: str | None


class AuditTrailRefused(TypedDict):
    account: str
    message: str


class InstanceRefused(TypedDict):
    mode: str
    reason: str                          # ACCOUNT_LOCKED
    holder: Json | None                  # {host, pid, since, bot} of the bot holding the account, if known
    message: str
    lock: NotRequired[str]               # the lock file that refused
    database: NotRequired[str]           # or the database whose lease refused


class LeaseTakenOver(TypedDict):
    previous: Json                       # the holder whose lease expired or whose process is gone
    why: str


class LeaseLost(TypedDict):
    message: str


class ForeignWriter(TypedDict):
    orders: list[Json]                   # {kind, subject, ours, exchange, suggestion}


class FiltersRefused(TypedDict):
    message: str
    differences: list[Json]              # {symbol, field, ours, exchange}


class ReconcileMismatch(TypedDict):
    adopted: bool
    mismatches: list[Json]               # {kind, subject, ours, exchange, suggestion}


class HaltedOps(TypedDict):
    reason: str
    what_to_do: str


class ShadowOrder(TypedDict):
    symbol: str
    client_id: str
    would_send: Json                     # the exact ccxt create_order arguments, or {"cancel": client_id}
    reduce_only: NotRequired[bool]
    stop_loss: NotRequired[Amount | None]
    take_profit: NotRequired[Amount | None]


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
