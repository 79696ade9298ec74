"""The simulated fill model, through the venue interface the engine uses."""

from decimal import Decimal

import pytest

from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderType
from tradewarden.domain.ports import OrderUpdate
from tradewarden.venues.fillmodel import S_CASH, S_FEES, S_POS, S_TRAIL_PX
from tradewarden.venues.params import FillSettings
from tradewarden.venues.simulated import SimulatedVenue

INST = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.001"))
D = Decimal
_ts = iter(range(0, 10**12, 3_600_000))


def bar(o: float, h: float, lo: float, c: float, v: float = 1000.0) -> Candle:
    return Candle(next(_ts), o, h, lo, c, v)


def venue(**kw: object) -> SimulatedVenue:
    settings = FillSettings(**{"fee_taker_bps": D(10), "fee_maker_bps": D(2), "slippage_bps": D(0),
                               "volume_fraction": 1.0, **kw})  # type: ignore[arg-type]
    v = SimulatedVenue(INST, settings, D(100_000))
    v.on_candle(bar(100, 100, 100, 100))  # bar 0: orders submitted now work from bar 1
    return v


def order(side: str, typ: OrderType, qty: str, price: str | None = None, stop: str | None = None,
          sl: str | None = None, tp: str | None = None, reduce: bool = False, cid: str = "o1") -> Order:
    return Order(cid, "BTC/USDT", OrderSide(side), typ, D(qty), D(price) if price else None,
                 D(stop) if stop else None, D(sl) if sl else None, D(tp) if tp else None, reduce)


def fills(updates: list[OrderUpdate] | tuple[OrderUpdate, ...]) -> list[tuple[str, Decimal, Decimal, str, str]]:
    return [(u.fill.side.value, u.fill.qty, u.fill.price, u.fill.liquidity, u.fill.reason)
            for u in updates if u.fill is not None]


def test_market_order_fills_at_next_open_with_slippage_and_exact_fee() -> None:
    v = venue(slippage_bps=D(5))
    v.submit(order("buy", OrderType.MARKET, "1.5"))
    upd = list(v.on_candle(bar(200, 210, 190, 205)))
    f = next(u.fill for u in upd if u.fill)
    assert f.price == D("200.10")              # 200 * (1 + 5 bps)
    assert f.qty == D("1.500")
    assert f.fee == D("0.300150")              # 300.15 notional * 10 bps, exact
    assert f.liquidity == "taker"


def test_limit_buy_fills_at_limit_or_better_open_and_not_above() -> None:
    v = venue()
    v.submit(order("buy", OrderType.LIMIT, "1", price="95"))
    assert fills(list(v.on_candle(bar(100, 101, 96, 99)))) == []          # low 96 never reached 95
    assert fills(list(v.on_candle(bar(99, 99, 94, 98)))) == [("buy", D("1.000"), D("95.00"), "maker", "order")]
    v.submit(order("buy", OrderType.LIMIT, "1", price="95", cid="o2"))
    assert fills(list(v.on_candle(bar(90, 92, 89, 91))))[0][2] == D("90.00")  # opened below the limit


def test_stop_market_triggers_at_stop_and_gaps_fill_at_open() -> None:
    v = venue(slippage_bps=D(10))
    v.submit(order("buy", OrderType.STOP_MARKET, "1", stop="105"))
    assert fills(list(v.on_candle(bar(100, 104.99, 99, 104)))) == []
    assert fills(list(v.on_candle(bar(104, 106, 103, 105.5))))[0][2] == D("105.11")  # 105 + 10 bps, rounded up
    v.submit(order("sell", OrderType.STOP_MARKET, "1", stop="100", cid="o2"))
    got = fills(list(v.on_candle(bar(95, 96, 94, 95.5))))                    # gapped below the stop
    assert got[0][2] == D("94.90")                                           # open 95 less 10 bps


def test_stop_limit_fills_at_trigger_within_limit_else_rests() -> None:
    v = venue()
    v.submit(order("buy", OrderType.STOP_LIMIT, "1", price="106", stop="105"))
    assert fills(list(v.on_candle(bar(100, 107, 99, 106)))) == [("buy", D("1.000"), D("105.00"), "taker", "order")]
    v.submit(order("buy", OrderType.STOP_LIMIT, "1", price="109", stop="110", cid="o2"))
    assert fills(list(v.on_candle(bar(112, 115, 111, 114)))) == []   # triggered at 112 > limit 109: rests
    assert fills(list(v.on_candle(bar(111, 112, 108, 109))))[0][2] == D("109.00")


def test_candle_touching_stop_and_take_profit_resolves_to_the_stop() -> None:
    v = venue()
    v.submit(order("buy", OrderType.MARKET, "1", sl="95", tp="110"))
    v.on_candle(bar(100, 101, 99, 100))
    got = fills(list(v.on_candle(bar(100, 111, 94, 105))))
    assert got == [("sell", D("1.000"), D("95.00"), "taker", "stop_loss")]


def test_take_profit_is_a_maker_fill_at_its_level_and_gaps_fill_at_open() -> None:
    v = venue()
    v.submit(order("buy", OrderType.MARKET, "1", sl="95", tp="110"))
    v.on_candle(bar(100, 101, 99, 100))
    got = fills(list(v.on_candle(bar(100, 112, 99, 111))))
    assert got == [("sell", D("1.000"), D("110.00"), "maker", "take_profit")]
    v.submit(order("buy", OrderType.MARKET, "1", sl="95", cid="o2"))
    v.on_candle(bar(100, 101, 99, 100))
    assert fills(list(v.on_candle(bar(90, 91, 89, 90))))[0][2] == D("90.00")  # gap through the stop: the open


def test_trailing_stop_only_moves_in_favour() -> None:
    v = venue(trailing_stop_pct=5.0)
    v.submit(order("buy", OrderType.MARKET, "1"))
    v.on_candle(bar(100, 100, 100, 100))                  # entry at 100: trail 95
    levels = []
    for candle in (bar(100, 120, 100, 118), bar(118, 119, 115, 116), bar(116, 117, 114.5, 115)):
        assert fills(list(v.on_candle(candle))) == []
        levels.append(int(v.state[S_TRAIL_PX]))  # in ticks
    assert levels == [11400, 11400, 11400]                 # 120 * 0.95, never lowered by later lower highs
    got = fills(list(v.on_candle(bar(115, 115, 110, 111))))
    assert got == [("sell", D("1.000"), D("114.00"), "taker", "trailing_stop")]


def test_volume_cap_leaves_the_rest_working_for_later_bars() -> None:
    v = venue(volume_fraction=0.1)
    v.submit(order("buy", OrderType.MARKET, "5"))
    first = list(v.on_candle(bar(100, 101, 99, 100, v=20)))    # cap 2
    assert fills(first)[0][1] == D("2.000")
    assert [u.status for u in first if u.fill] == ["partially_filled"]
    second = list(v.on_candle(bar(100, 101, 99, 100, v=100)))  # cap 10: the remaining 3
    assert fills(second)[0][1] == D("3.000")
    assert [u.status for u in second if u.fill] == ["filled"]
    assert fills(list(v.on_candle(bar(100, 101, 99, 100, v=0)))) == []  # zero volume: nothing trades


def test_short_only_where_enabled() -> None:
    spot = venue()
    spot.submit(order("sell", OrderType.MARKET, "1"))
    upd = list(spot.on_candle(bar(100, 101, 99, 100)))
    assert fills(upd) == []
    assert [(u.status, u.reason) for u in upd if u.status != "accepted"] == [("cancelled", "nothing to reduce")]
    margin = venue(allow_short=True)
    margin.submit(order("sell", OrderType.MARKET, "1"))
    assert fills(list(margin.on_candle(bar(100, 101, 99, 100))))[0][:2] == ("sell", D("1.000"))
    assert margin.state[S_POS] == -1000


def test_buy_beyond_cash_is_clipped_and_nothing_left_is_cancelled() -> None:
    v = venue()
    v.submit(order("buy", OrderType.MARKET, "2000"))
    upd = list(v.on_candle(bar(100, 101, 99, 100)))
    qty = fills(upd)[0][1]
    # what the cash could buy is bought, the rest cancelled at once
    assert [(u.status, u.reason) for u in upd if not u.fill and u.status != "accepted"] == [
        ("cancelled", "insufficient balance")]
    assert qty * D(100) * D("1.001") <= D(100_000)
    assert (qty + D("0.001")) * D(100) * D("1.001") > D(100_000)
    v.submit(order("buy", OrderType.MARKET, "1", cid="o2"))
    upd = list(v.on_candle(bar(100, 101, 99, 100)))
    assert [(u.status, u.reason) for u in upd if not u.fill and u.status != "accepted"] == [
        ("cancelled", "insufficient balance")]


@pytest.mark.parametrize("slip", [D(0), D(50), D(500)])
def test_fill_prices_stay_inside_the_bar(slip: Decimal) -> None:
    v = venue(slippage_bps=slip)
    v.submit(order("buy", OrderType.MARKET, "1"))
    f = fills(list(v.on_candle(bar(100, 100.2, 99, 100))))
    assert D("99") <= f[0][2] <= D("100.2")


def test_cash_and_fees_are_conserved_exactly() -> None:
    v = venue(slippage_bps=D(3))
    start = INST.to_atoms(D(100_000))
    v.submit(order("buy", OrderType.MARKET, "3.333", tp="105"))
    all_fills = []
    for candle in (bar(100.01, 101, 99, 100), bar(100, 106, 99, 104)):
        all_fills += [u.fill for u in v.on_candle(candle) if u.fill]
    cash = D(100_000)
    for f in all_fills:
        cash += (-1 if f.side is OrderSide.BUY else 1) * f.qty * f.price - f.fee
    assert INST.from_atoms(int(v.state[S_CASH])) == cash
    assert INST.from_atoms(int(v.state[S_FEES])) == sum((f.fee for f in all_fills), D(0))
    assert v.state[S_CASH] != start
