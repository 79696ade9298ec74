"""The filters the simulator serves per symbol: Binance spot's own for the pairs it knows, BTC/USDT's otherwise.

A bot must take each symbol's filters from the exchange (a pair traded with another's step gets ``-1013``), so
the simulator serves distinct, real ones: Binance spot ``exchangeInfo`` (PRICE_FILTER tickSize, LOT_SIZE
stepSize/minQty/maxQty, NOTIONAL minNotional) as published for these pairs in 2024.
"""

from __future__ import annotations

from decimal import Decimal

from tradewarden.domain.instrument import Instrument

#: symbol: (tick size, step size, min qty, max qty, min notional)
BINANCE_SPOT_FILTERS: dict[str, tuple[str, str, str, str, str]] = {
    "BTC/USDT": ("0.01", "0.00001", "0.00001", "9000", "5"),
    "ETH/USDT": ("0.01", "0.0001", "0.0001", "9000", "5"),
    "SOL/USDT": ("0.01", "0.001", "0.001", "9000", "5"),
    "XRP/USDT": ("0.0001", "0.1", "0.1", "9222449", "5"),
    "DOGE/USDT": ("0.00001", "1", "1", "9000000", "1"),
}


def spot_instrument(symbol: str) -> Instrument:
    """``symbol`` with Binance's filters where known, else with BTC/USDT's (:meth:`Instrument.default_spot`)."""
    known = BINANCE_SPOT_FILTERS.get(symbol)
    if known is None:
        return Instrument.default_spot(symbol)
    base, quote = symbol.split("/")
    tick, step, min_qty, max_qty, min_notional = (Decimal(v) for v in known)
    return Instrument(symbol, base, quote, tick, step, min_qty, max_qty, min_notional)
