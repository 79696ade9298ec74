"""Orders and their state machine, written as an explicit transition table.

Any transition not in :data:`TRANSITIONS` raises :class:`InvalidTransition`; there is no other way to
change an order's status. Quantities and prices are :class:`~decimal.Decimal` on the instrument's grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

S = OrderStatus
#: Every allowed (from, to) pair. NEW orders exist only in our process; SUBMITTED ones were sent and
#: have no answer yet (the ambiguous state a crash or timeout leaves behind).
TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset({
    (S.NEW, S.SUBMITTED),
    (S.NEW, S.REJECTED),          # denied before sending (risk gate, filters)
    (S.NEW, S.CANCELLED),         # withdrawn before sending
    (S.SUBMITTED, S.ACCEPTED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.PARTIALLY_FILLED),  # a fill report can overtake the acceptance
    (S.SUBMITTED, S.FILLED),
    (S.SUBMITTED, S.EXPIRED),
    (S.SUBMITTED, S.CANCELLED),
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.CANCELLED),
    (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELLED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
})
del S


#: client id suffixes of the orders that protect a position (stop-loss, take-profit, trailing stop)
PROTECTIVE_SUFFIX = {"stop_loss": "sl", "take_profit": "tp", "trailing_stop": "ts"}
_REASON_OF_SUFFIX = {f"-{v}": k for k, v in PROTECTIVE_SUFFIX.items()}


def protective_reason(client_id: str) -> str:
    """Why an order with this client id trades: ``stop_loss``/``take_profit``/``trailing_stop``, else ``order``."""
    return _REASON_OF_SUFFIX.get(client_id[-3:], "order")


class InvalidTransition(RuntimeError):
    """An attempt to move an order along a transition the table does not allow."""


@dataclass
class Order:
    """An order from intent to final state. ``client_id`` is ours and unique; ``exchange_id`` theirs."""

    client_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None = None        # limit price (LIMIT, STOP_LIMIT)
    stop_price: Decimal | None = None   # trigger (STOP_MARKET, STOP_LIMIT)
    stop_loss: Decimal | None = None    # protective exit attached to the position this order opens
    take_profit: Decimal | None = None
    reduce_only: bool = False
    created_ts: int = 0
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = Decimal(0)
    exchange_id: str | None = None
    reason: str = ""
    history: list[tuple[OrderStatus, OrderStatus]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.price is None:
            raise ValueError(f"{self.type.value} order {self.client_id} needs a limit price")
        if self.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise ValueError(f"{self.type.value} order {self.client_id} needs a stop price")

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    def transition(self, to: OrderStatus, reason: str = "") -> None:
        if (self.status, to) not in TRANSITIONS:
            raise InvalidTransition(f"order {self.client_id}: {self.status.value} -> {to.value} is not allowed")
        self.history.append((self.status, to))
        self.status = to
        if reason:
            self.reason = reason

    def record_fill(self, qty: Decimal) -> None:
        """Book a fill of ``qty`` and move to PARTIALLY_FILLED or FILLED accordingly."""
        if qty <= 0 or self.filled_qty + qty > self.qty:
            raise ValueError(f"order {self.client_id}: fill of {qty} exceeds remaining {self.remaining}")
        self.filled_qty += qty
        self.transition(OrderStatus.FILLED if self.filled_qty == self.qty else OrderStatus.PARTIALLY_FILLED)
