"""Exact money helpers: parsing request numbers and formatting Decimals the way Binance prints them."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

from tradewarden.simulator.errors import illegal

EIGHT = Decimal("0.00000001")
_NUMBER = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")


def fmt(value: Decimal) -> str:
    """Binance prints every decimal with eight places: ``"50000.01000000"``."""
    return f"{value:.8f}"


def parse_decimal(name: str, raw: str) -> Decimal:
    """A request number; anything that is not a plain non-negative decimal gives Binance's -1100."""
    if not _NUMBER.match(raw):
        raise illegal(name)
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        raise illegal(name) from None


def to_grid(value: Decimal, grid: Decimal, mode: str = "nearest") -> Decimal:
    rounding = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}[mode]
    return ((value / grid).to_integral_value(rounding=rounding) * grid).quantize(grid)


def commission(received: Decimal, rate: Decimal) -> Decimal:
    """The fee on ``received``, booked to eight places so balances stay exact."""
    return (received * rate).quantize(EIGHT, rounding=ROUND_HALF_EVEN)


def from_float(value: float) -> Decimal:
    """A float from a candle file as the Decimal it was written as (shortest round-trip form)."""
    return Decimal(repr(float(value)))
