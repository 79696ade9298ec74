"""Instruments from the exchange's markets: Binance ``exchangeInfo`` entries parsed by ccxt's own binance class."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tradewarden.domain.instrument import Instrument
from tradewarden.venues.markets import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    MarketFiltersError,
    filter_differences,
    filters_record,
    instrument_from_market,
)


def binance_entry(symbol: str, base: str, quote: str, tick: str, step: str, min_qty: str, max_qty: str,
                  min_notional: str, min_price: str, max_price: str, notional: str = "NOTIONAL",
                  status: str = "TRADING") -> dict[str, Any]:
    """One ``symbols`` entry of Binance's ``GET /api/v3/exchangeInfo``, numbers as the eight-place strings it
    sends."""
    def eight(text: str) -> str:
        return f"{Decimal(text):.8f}"

    return {
        "symbol": symbol, "status": status, "baseAsset": base, "baseAssetPrecision": 8, "quoteAsset": quote,
        "quotePrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "permissions": [],
        "permissionSets": [["SPOT"]],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": eight(min_price), "maxPrice": eight(max_price),
             "tickSize": eight(tick)},
            {"filterType": "LOT_SIZE", "minQty": eight(min_qty), "maxQty": eight(max_qty),
             "stepSize": eight(step)},
            {"filterType": notional, "minNotional": eight(min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
    }


ENTRIES = [
    binance_entry("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "0.00001", "9000", "5", "0.01", "1000000"),
    binance_entry("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "0.0001", "9000", "5", "0.01", "1000000"),
    binance_entry("DOGEUSDT", "DOGE", "USDT", "0.00001", "1", "1", "9000000", "1", "0.00001", "1000"),
    binance_entry("SHIBUSDT", "SHIB", "USDT", "0.00000001", "1", "1", "46116860414", "5", "0.00000001", "1",
                  notional="MIN_NOTIONAL"),
    binance_entry("LUNAUSDT", "LUNA", "USDT", "0.0001", "0.01", "0.01", "900000", "5", "0.0001", "1000",
                  status="BREAK"),
]


def binance_markets() -> dict[str, Any]:
    """What ``ccxt.binance().load_markets()`` returns for those entries (its own parser, offline)."""
    exchange = ccxt.binance()
    exchange.options["crossMarginPairsData"] = []
    exchange.options["isolatedMarginPairsData"] = []
    exchange.set_markets([exchange.parse_market(entry) for entry in ENTRIES])
    return dict(exchange.markets)


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("BTC/USDT", Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
                                Decimal(9000), Decimal(5), Decimal("0.01"), Decimal(1_000_000))),
        ("ETH/USDT", Instrument("ETH/USDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"),
                                Decimal(9000), Decimal(5), Decimal("0.01"), Decimal(1_000_000))),
        ("DOGE/USDT", Instrument("DOGE/USDT", "DOGE", "USDT", Decimal("0.00001"), Decimal(1), Decimal(1),
                                 Decimal(9_000_000), Decimal(1), Decimal("0.00001"), Decimal(1000))),
        # the older MIN_NOTIONAL filter, and a max quantity far beyond a float's exact integers
        ("SHIB/USDT", Instrument("SHIB/USDT", "SHIB", "USDT", Decimal("1E-8"), Decimal(1), Decimal(1),
                                 Decimal(46116860414), Decimal(5), Decimal("1E-8"), Decimal(1))),
    ],
)
def test_binance_markets_give_each_symbol_its_own_filters(symbol: str, expected: Instrument) -> None:
    inst = instrument_from_market(symbol, binance_markets())
    assert inst == expected
    # plain grids: prices and quantities print without trailing zeros or exponents
    assert str(inst.round_price("0.123456789")) == str(expected.round_price("0.123456789"))
    assert "E" not in str(inst.step_size) and str(inst.max_qty) == str(expected.max_qty.normalize().quantize(1))


def test_the_raw_filter_strings_win_over_ccxt_floats() -> None:
    markets = binance_markets()
    eth = dict(markets["ETH/USDT"])
    eth["precision"] = {"price": 0.1, "amount": 0.1}  # what a float round trip might have made of them
    assert instrument_from_market("ETH/USDT", {"ETH/USDT": eth}).step_size == Decimal("0.0001")


def test_unified_markets_without_binance_filters() -> None:
    market = {"symbol": "ADA/EUR", "base": "ADA", "quote": "EUR", "active": True,
              "precision": {"price": 6, "amount": 8},
              "limits": {"amount": {"min": 4.5, "max": None}, "cost": {"min": 0.5}, "price": {}}}
    inst = instrument_from_market("ADA/EUR", {"ADA/EUR": market}, DECIMAL_PLACES)
    assert (inst.tick_size, inst.step_size) == (Decimal("0.000001"), Decimal("0.00000001"))
    assert (inst.min_qty, inst.max_qty, inst.min_notional) == (Decimal("4.5"), Decimal(0), Decimal("0.5"))
    tick_mode = dict(market, precision={"price": 0.0001, "amount": 0.1})
    inst = instrument_from_market("ADA/EUR", {"ADA/EUR": tick_mode})
    assert (inst.tick_size, inst.step_size) == (Decimal("0.0001"), Decimal("0.1"))
    with pytest.raises(MarketFiltersError, match="significant digits"):
        instrument_from_market("ADA/EUR", {"ADA/EUR": market}, SIGNIFICANT_DIGITS)


@pytest.mark.parametrize(
    ("symbol", "change", "message"),
    [
        ("XRP/USDT", None, "no market XRP/USDT"),
        ("LUNA/USDT", None, "LUNA/USDT is not trading"),
        ("ETH/USDT", {"info": {}, "precision": {"price": None, "amount": 0.0001}}, "ETH/USDT: the exchange gives no "
                                                                                    "tick size"),
        ("ETH/USDT", {"info": {}, "precision": {"price": "abc", "amount": 0.0001}}, "precision.price: 'abc'"),
    ],
)
def test_unusable_markets_are_named(symbol: str, change: dict[str, Any] | None, message: str) -> None:
    markets = binance_markets()
    if change is not None:
        markets[symbol] = {**markets[symbol], **change}
    with pytest.raises(MarketFiltersError, match=message):
        instrument_from_market(symbol, markets)


def test_differences_name_only_the_filters_given_and_compare_values_not_text() -> None:
    eth = instrument_from_market("ETH/USDT", binance_markets())
    assert filter_differences("ETH/USDT", {"tick_size": Decimal("0.010"), "min_notional": Decimal("5.0")}, eth) == []
    [diff] = filter_differences("ETH/USDT", {"tick_size": Decimal("0.01"), "step_size": Decimal("0.00001")}, eth)
    assert diff.as_dict() == {"symbol": "ETH/USDT", "field": "step_size", "ours": "0.00001", "exchange": "0.0001"}
    assert filters_record(eth) == {"tick_size": "0.01", "step_size": "0.0001", "min_qty": "0.0001",
                                   "max_qty": "9000", "min_notional": "5"}
