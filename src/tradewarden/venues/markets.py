"""An instrument's filters as the exchange publishes them (ccxt ``load_markets``), and how they compare.

The exchange, not the config, knows a symbol's tick size, step size, quantity limits and minimum order value:
a pair traded with another pair's filters gets its orders rejected (Binance ``-1013``). Where the market
carries Binance's raw ``exchangeInfo`` filters (``info.filters``), their decimal strings are read, so the
numbers are exact; otherwise ccxt's unified ``precision`` and ``limits`` are used (floats, read through their
shortest text, which is the exchange's number for every tick and step an exchange publishes).

Everything here is pure: the session loads the markets and decides what a difference means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tradewarden.domain.instrument import Instrument

#: ccxt's precision modes (ccxt.base.decimal_to_precision): how ``market["precision"]`` is to be read
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4

#: the filters an instrument carries, in the order messages and records list them
FILTER_FIELDS = ("tick_size", "step_size", "min_qty", "max_qty", "min_notional")


class MarketFiltersError(ValueError):
    """The exchange has no usable market for a symbol: unknown, not trading, or without tick or step."""


@dataclass(frozen=True, slots=True)
class FilterDifference:
    """One filter on which two sources disagree (the config or the stored session against the exchange)."""

    symbol: str
    field: str
    ours: Decimal
    exchange: Decimal

    def as_dict(self) -> dict[str, str]:
        return {"symbol": self.symbol, "field": self.field, "ours": plain(self.ours),
                "exchange": plain(self.exchange)}


def plain(value: Decimal) -> str:
    """``0.01000000`` as ``0.01`` and ``9000.00000000`` as ``9000``: never exponent notation."""
    return format(value.normalize(), "f")


def _number(value: object, where: str) -> Decimal | None:
    """A Decimal from an exchange's string, int or float (None when absent); bad text is an error naming it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MarketFiltersError(f"{where}: {value!r} is not a number")
    try:
        number = Decimal(value if isinstance(value, (str, int)) else repr(value))
    except InvalidOperation:
        raise MarketFiltersError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise MarketFiltersError(f"{where}: {value!r} is not a finite number >= 0")
    # exact value, plain exponent: Decimal("0.01000000") prints and rounds as 0.01, Decimal("9E+3") as 9000
    normal = number.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def _raw_filters(symbol: str, market: Mapping[str, object]) -> dict[str, Decimal | None] | None:
    """Binance's own filter strings, when the market carries them (``info.filters``)."""
    info = market.get("info")
    filters = info.get("filters") if isinstance(info, Mapping) else None
    if not isinstance(filters, list):
        return None
    by_type = {f.get("filterType"): f for f in filters if isinstance(f, Mapping)}
    price, lot = by_type.get("PRICE_FILTER"), by_type.get("LOT_SIZE")
    # NOTIONAL replaced MIN_NOTIONAL on Binance spot in 2023; either may be present
    notional = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL")
    if price is None or lot is None:
        return None
    where = f"market {symbol}: info.filters"
    return {
        "tick_size": _number(price.get("tickSize"), f"{where} PRICE_FILTER tickSize"),
        "min_price": _number(price.get("minPrice"), f"{where} PRICE_FILTER minPrice"),
        "max_price": _number(price.get("maxPrice"), f"{where} PRICE_FILTER maxPrice"),
        "step_size": _number(lot.get("stepSize"), f"{where} LOT_SIZE stepSize"),
        "min_qty": _number(lot.get("minQty"), f"{where} LOT_SIZE minQty"),
        "max_qty": _number(lot.get("maxQty"), f"{where} LOT_SIZE maxQty"),
        "min_notional": (None if notional is None else
                         _number(notional.get("minNotional"), f"{where} NOTIONAL minNotional")),
    }


def _grid(value: object, mode: int, where: str) -> Decimal | None:
    """A tick or step from ccxt's unified ``precision``: the size itself, or a number of decimal places."""
    number = _number(value, where)
    if number is None:
        return None
    if mode == TICK_SIZE:
        return number
    if mode == DECIMAL_PLACES:
        if number != number.to_integral_value():
            raise MarketFiltersError(f"{where}: {value!r} is not a whole number of decimal places")
        return Decimal(1).scaleb(-int(number))
    # significant digits give no fixed grid: a price's tick would depend on the price
    raise MarketFiltersError(f"{where}: the exchange states precision in significant digits, which gives no "
                             "fixed tick or step")


def _unified_filters(symbol: str, market: Mapping[str, object], mode: int) -> dict[str, Decimal | None]:
    def part(name: str) -> Mapping[str, object]:
        value = market.get(name)
        return value if isinstance(value, Mapping) else {}

    def limit(kind: str, bound: str) -> Decimal | None:
        section = part("limits").get(kind)
        value = section.get(bound) if isinstance(section, Mapping) else None
        return _number(value, f"market {symbol}: limits.{kind}.{bound}")

    precision = part("precision")
    return {
        "tick_size": _grid(precision.get("price"), mode, f"market {symbol}: precision.price"),
        "step_size": _grid(precision.get("amount"), mode, f"market {symbol}: precision.amount"),
        "min_qty": limit("amount", "min"), "max_qty": limit("amount", "max"),
        "min_notional": limit("cost", "min"),
        "min_price": limit("price", "min"), "max_price": limit("price", "max"),
    }


def instrument_from_market(symbol: str, markets: Mapping[str, Mapping[str, object]],
                           precision_mode: int = TICK_SIZE) -> Instrument:
    """The instrument ``symbol`` as the exchange's markets (ccxt ``load_markets()``) describe it."""
    market = markets.get(symbol)
    if market is None:
        raise MarketFiltersError(f"the exchange has no market {symbol} (check market.symbol)")
    if market.get("active") is False:
        raise MarketFiltersError(f"market {symbol} is not trading on the exchange now")
    base, quote = market.get("base"), market.get("quote")
    if not isinstance(base, str) or not isinstance(quote, str) or not base or not quote:
        raise MarketFiltersError(f"market {symbol}: no base or quote currency")
    values = _raw_filters(symbol, market) or _unified_filters(symbol, market, precision_mode)
    tick, step = values["tick_size"], values["step_size"]
    for name, grid in (("tick size", tick), ("step size", step)):
        if not grid:  # None or zero: orders could not be put on a grid
            raise MarketFiltersError(f"market {symbol}: the exchange gives no {name}")
    assert tick is not None and step is not None

    def opt(name: str) -> Decimal:
        return values[name] or Decimal(0)  # absent: no limit (Instrument's 0)

    return Instrument(symbol, base, quote, tick, step, opt("min_qty"), opt("max_qty"), opt("min_notional"),
                      opt("min_price"), opt("max_price"))


def filters_record(instrument: Instrument) -> dict[str, str]:
    """The filters as plain decimal strings: what BOOT_SEAL records and the session stores."""
    return {name: plain(getattr(instrument, name)) for name in FILTER_FIELDS}


def filter_differences(symbol: str, ours: Mapping[str, Decimal], exchange: Instrument) -> list[FilterDifference]:
    """The filters in ``ours`` (any subset of :data:`FILTER_FIELDS`) whose value is not the exchange's."""
    return [FilterDifference(symbol, name, ours[name], getattr(exchange, name))
            for name in FILTER_FIELDS if name in ours and ours[name] != getattr(exchange, name)]


def describe(differences: list[FilterDifference], ours_label: str) -> str:
    """One line per difference, e.g. ``ETH/USDT step_size: config 0.00001, exchange 0.0001``."""
    return "; ".join(f"{d.symbol} {d.field}: {ours_label} {plain(d.ours)}, exchange {plain(d.exchange)}"
                     for d in differences)
