"""Instruments and their exchange filters, with exact rounding of prices and quantities.

Money is exact: a price that reaches an order is a whole number of ticks and a quantity a whole number
of steps. The fast engine works on those integers directly (``to_ticks``/``to_steps``); everything that
leaves it is turned back into :class:`~decimal.Decimal` with ``from_ticks``/``from_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, DecimalTuple
from enum import StrEnum
from functools import lru_cache


class Rounding(StrEnum):
    """Which way to round onto the grid. Orders round against the trader when in doubt."""

    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"


_MODES = {Rounding.DOWN: ROUND_FLOOR, Rounding.UP: ROUND_CEILING, Rounding.NEAREST: ROUND_HALF_EVEN}


def _on_grid(value: Decimal, grid: Decimal, rounding: Rounding) -> Decimal:
    units = (value / grid).to_integral_value(rounding=_MODES[rounding])
    return (units * grid).quantize(grid)


def _places(grid: Decimal) -> int | None:
    """k when ``grid`` is 10^-k (the usual exchange tick and step), else None."""
    # Cached on the digits, not the Decimal: Decimal("0.01") == Decimal("0.010"), but the second one's
    # texts have three places, and must not depend on which grid was seen first.
    return _places_of(grid.as_tuple())


@lru_cache(maxsize=64)
def _places_of(t: DecimalTuple) -> int | None:
    if t.digits != (1,) or not isinstance(t.exponent, int) or t.exponent > 0:
        return None
    return -t.exponent


def _fixed_text(units: int, grid: Decimal) -> str:
    places = _places(grid)
    if places is None:
        return format((Decimal(int(units)) * grid).quantize(grid), "f")
    if places == 0:
        return str(int(units))
    digits = str(abs(int(units))).rjust(places + 1, "0")
    sign = "-" if units < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


class FilterViolation(ValueError):
    """An order that an exchange would reject for one of its filters (Binance code -1013)."""

    def __init__(self, filter_name: str, message: str) -> None:
        super().__init__(f"{filter_name}: {message}")
        self.filter_name = filter_name


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable pair with the exchange's filters (Binance PRICE_FILTER, LOT_SIZE, NOTIONAL)."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal = Decimal(0)
    max_qty: Decimal = Decimal(0)  # 0 = no limit
    min_notional: Decimal = Decimal(0)
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)  # 0 = no limit

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.step_size <= 0:
            raise ValueError(f"{self.symbol}: tick size and step size must be positive")

    @classmethod
    def default_spot(cls, symbol: str = "BTC/USDT") -> Instrument:
        """Binance spot filters for the major pairs (BTC/USDT: tick 0.01, step 0.00001, min notional 5)."""
        base, quote = symbol.split("/")
        return cls(symbol, base, quote, Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
                   Decimal("9000"), Decimal("5"))

    # -- rounding ------------------------------------------------------------------------------
    def round_price(self, price: Decimal | float | str, rounding: Rounding = Rounding.NEAREST) -> Decimal:
        return _on_grid(Decimal(str(price)), self.tick_size, rounding)

    def round_qty(self, qty: Decimal | float | str, rounding: Rounding = Rounding.DOWN) -> Decimal:
        return _on_grid(Decimal(str(qty)), self.step_size, rounding)

    def to_ticks(self, price: Decimal | float | str, rounding: Rounding = Rounding.NEAREST) -> int:
        return int((Decimal(str(price)) / self.tick_size).to_integral_value(rounding=_MODES[rounding]))

    def to_steps(self, qty: Decimal | float | str, rounding: Rounding = Rounding.DOWN) -> int:
        return int((Decimal(str(qty)) / self.step_size).to_integral_value(rounding=_MODES[rounding]))

    def from_ticks(self, ticks: int) -> Decimal:
        return (Decimal(int(ticks)) * self.tick_size).quantize(self.tick_size)

    def from_steps(self, steps: int) -> Decimal:
        return (Decimal(int(steps)) * self.step_size).quantize(self.step_size)

    @property
    def atom(self) -> Decimal:
        """Smallest unit of quote money the engine books: one tick times one step."""
        return self.tick_size * self.step_size

    def from_atoms(self, atoms: int) -> Decimal:
        return (Decimal(int(atoms)) * self.atom).quantize(self.atom)

    def to_atoms(self, amount: Decimal | float | str) -> int:
        return int((Decimal(str(amount)) / self.atom).to_integral_value(rounding=ROUND_FLOOR))

    # -- fast exact text (event logs of long backtests) --------------------------------------------
    def ticks_text(self, ticks: int) -> str:
        """``str(self.from_ticks(ticks))`` without building a Decimal (for powers-of-ten ticks)."""
        return _fixed_text(ticks, self.tick_size)

    def steps_text(self, steps: int) -> str:
        return _fixed_text(steps, self.step_size)

    def atoms_text(self, atoms: int) -> str:
        return _fixed_text(atoms, self.atom)

    # -- filters -------------------------------------------------------------------------------
    def check(self, qty: Decimal, price: Decimal | None) -> None:
        """Raise :class:`FilterViolation` naming the filter an order of ``qty`` at ``price`` breaks."""
        if price is not None:
            if price <= 0:
                raise FilterViolation("PRICE_FILTER", f"price {price} must be positive")
            if price % self.tick_size != 0:
                raise FilterViolation("PRICE_FILTER", f"price {price} is not a multiple of tick {self.tick_size}")
            if self.min_price and price < self.min_price:
                raise FilterViolation("PRICE_FILTER", f"price {price} below minimum {self.min_price}")
            if self.max_price and price > self.max_price:
                raise FilterViolation("PRICE_FILTER", f"price {price} above maximum {self.max_price}")
        if qty <= 0:
            raise FilterViolation("LOT_SIZE", f"quantity {qty} must be positive")
        if qty % self.step_size != 0:
            raise FilterViolation("LOT_SIZE", f"quantity {qty} is not a multiple of step {self.step_size}")
        if self.min_qty and qty < self.min_qty:
            raise FilterViolation("LOT_SIZE", f"quantity {qty} below minimum {self.min_qty}")
        if self.max_qty and qty > self.max_qty:
            raise FilterViolation("LOT_SIZE", f"quantity {qty} above maximum {self.max_qty}")
        if price is not None and self.min_notional and qty * price < self.min_notional:
            raise FilterViolation("NOTIONAL", f"notional {qty * price} below minimum {self.min_notional}")
