"""The seams between the engine and the outside world.

The engine sees only these protocols, so it cannot tell a backtest from live trading: candles come from
a :class:`MarketDataFeed` (a file, a live stream, a recording), orders go to a :class:`Venue` (the
simulated fill model, the shadow log, an exchange through ccxt) after a :class:`PreTradeCheck` (the
risk gate) has approved them, and everything worth knowing is written to an :class:`EventSink`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.orders import Order
from tradewarden.domain.portfolio import Fill


class EventSink(Protocol):
    """Where events go (the journal, the bus). ``fields`` are the payload ``PAYLOADS[type_]`` declares."""

    def emit(self, type_: EventType, ts: int, **fields: Any) -> object: ...


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """What a venue reports about an order: a status change, possibly with a fill."""

    client_id: str
    status: str
    fill: Fill | None = None
    reason: str = ""


@runtime_checkable
class Venue(Protocol):
    """Where orders go. ``on_candle`` lets simulated venues match working orders against a new bar;
    real venues report fills asynchronously and return them from ``poll``."""

    def submit(self, order: Order) -> None: ...

    def cancel(self, client_id: str) -> None: ...

    def on_candle(self, candle: Candle) -> Sequence[OrderUpdate]: ...

    def poll(self) -> Sequence[OrderUpdate]: ...


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a pre-trade check may look at besides the order itself."""

    ts: int
    last_price: Decimal
    equity: Decimal
    cash: Decimal
    position_qty: Decimal
    open_positions: int
    # Σ |marked position| over the portfolio, this order's symbol at last_price; None: this symbol's only
    exposure: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    approved: bool
    reason_code: str = ""
    message: str = ""
    order: Order | None = None  # possibly resized/rounded by the check


class PreTradeCheck(Protocol):
    """The one gate every order passes (the risk layer implements it)."""

    def check(self, order: Order, context: CheckContext) -> CheckResult: ...


class MarketDataFeed(Protocol):
    """History plus a stream of closed candles, the same for every mode."""

    async def history(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]: ...

    def closed_candles(self, symbol: str, timeframe: str) -> AsyncIterator[Candle]: ...

    async def ticker(self, symbol: str) -> Mapping[str, Any]: ...
