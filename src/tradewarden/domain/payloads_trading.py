"""The payloads of a run's lifecycle and its trading flow (categories ``run`` and ``orders``): a run's start
and end, data gaps, orders placed, denied, rejected or cancelled, fills, positions opened and closed, what a
session adopted from the exchange at boot, and messages rejected as malformed.

Written without ``from __future__ import annotations`` (see :mod:`tradewarden.domain.event_payloads`):
``TypedDict`` reads ``NotRequired`` from evaluated annotations only.
"""

from typing import NotRequired, TypedDict

from tradewarden.domain.payload_fields import Amount, Json


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
