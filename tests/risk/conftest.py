"""Helpers for the risk tests: orders, contexts, configs, an in-memory event sink and database URLs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradewarden.domain.events import EventType, payload_problems
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderType
from tradewarden.domain.ports import CheckContext
from tradewarden.risk import RiskConfig

SYMBOL = "BTC/USDT"
INSTRUMENT = Instrument(
    SYMBOL, "BTC", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("100"), Decimal("5")
)

#: every optional rule off, so a test switches on exactly the one it is about
NEUTRAL: dict[str, Any] = {
    "max_price_deviation_pct": None,
    "max_orders_per_second": None,
    "max_orders_per_minute": None,
    "check_balance": False,
}


def dec(x: str | int) -> Decimal:
    return Decimal(str(x))


def make_config(**overrides: Any) -> RiskConfig:
    return RiskConfig.model_validate({**NEUTRAL, **overrides})


def make_order(
    side: str = "buy",
    qty: str = "1",
    type_: str = "market",
    price: str | None = None,
    stop_loss: str | None = None,
    reduce_only: bool = False,
    symbol: str = SYMBOL,
    cid: str = "o1",
    stop_price: str | None = None,
    ts: int = 0,
) -> Order:
    return Order(
        cid,
        symbol,
        OrderSide(side),
        OrderType(type_),
        dec(qty),
        price=None if price is None else dec(price),
        stop_price=None if stop_price is None else dec(stop_price),
        stop_loss=None if stop_loss is None else dec(stop_loss),
        reduce_only=reduce_only,
        created_ts=ts,
    )


def make_ctx(
    ts: int = 0,
    last: str = "100",
    equity: str = "10000",
    cash: str = "10000",
    pos: str = "0",
    open_positions: int = 0,
) -> CheckContext:
    return CheckContext(ts, dec(last), dec(equity), dec(cash), dec(pos), open_positions)


class MemoryEvents:
    """An EventSink that keeps (type, ts, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        problems = payload_problems(type_, fields)
        assert not problems, problems  # every event carries exactly its payload type's fields
        self.events.append((type_, ts, fields))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [f for t, _, f in self.events if t == type_]

    def types(self) -> list[str]:
        return [t for t, _, _ in self.events]


@pytest.fixture
def events() -> MemoryEvents:
    return MemoryEvents()


