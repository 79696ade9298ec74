"""Each pre-trade rule at and around its boundary, on the pure functional core (no manager, no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewarden.domain.ports import CheckContext
from tradewarden.risk import GateView, ReasonCode, TradingState, Verdict, evaluate
from tradewarden.risk.rules import is_reducing

from .conftest import INSTRUMENT, dec, make_config, make_ctx, make_order


def denied(verdict: Verdict) -> str | None:
    d = verdict.denial
    return None if d is None else d.code.value


# -- sizing from risk per trade ----------------------------------------------------------------------
def test_size_from_risk_per_trade() -> None:
    cfg = make_config(risk_per_trade_pct=1)
    v = evaluate(make_order(qty="0.5", stop_loss="98"), make_ctx(), cfg, GateView(), INSTRUMENT)
    assert v.approved and v.order is not None
    assert v.order.qty == dec("50.000")  # 10000 * 1% / (100 - 98)
    assert v.adjustments == ("qty 0.5 -> 50.000",)


def test_size_rounds_down_to_step() -> None:
    cfg = make_config(risk_per_trade_pct=1)
    v = evaluate(make_order(stop_loss="97"), make_ctx(), cfg, GateView(), INSTRUMENT)
    assert v.order is not None and v.order.qty == dec("33.333")  # 33.3333... cut, never rounded up


def test_size_uses_limit_price_as_entry() -> None:
    cfg = make_config(risk_per_trade_pct=1)
    v = evaluate(
        make_order(type_="limit", price="99", stop_loss="98"), make_ctx(), cfg, GateView(), INSTRUMENT
    )
    assert v.order is not None and v.order.qty == dec("100.000")


def test_without_stop_loss_the_order_keeps_its_size() -> None:
    cfg = make_config(risk_per_trade_pct=1)
    v = evaluate(make_order(qty="0.25"), make_ctx(), cfg, GateView(), INSTRUMENT)
    assert v.order is not None and v.order.qty == dec("0.250")


def test_input_order_is_never_changed() -> None:
    order = make_order(qty="0.5", stop_loss="98")
    v = evaluate(order, make_ctx(), make_config(risk_per_trade_pct=1), GateView(), INSTRUMENT)
    assert order.qty == dec("0.5") and v.order is not order


@given(
    equity=st.decimals("100", "1000000", places=2),
    pct=st.decimals("0.01", "5", places=2),
    stop_gap=st.decimals("0.01", "50", places=2),
)
def test_sized_position_never_risks_more_than_the_budget(
    equity: Decimal, pct: Decimal, stop_gap: Decimal
) -> None:
    cfg = make_config(risk_per_trade_pct=pct)
    ctx = make_ctx(equity=str(equity))
    v = evaluate(make_order(stop_loss=str(dec(100) - stop_gap)), ctx, cfg, GateView(), None)
    if v.order is None:  # sized to nothing: nothing is risked
        return
    risked = v.order.qty * stop_gap
    assert risked <= equity * pct / 100
    assert equity * pct / 100 - risked < stop_gap * dec("0.00000001") + dec(
        "1e-20"
    )  # cut by at most one unit


# -- maximum position notional ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("qty", "pos", "expected"),
    [
        ("20", "0", "20.000"),  # exactly at the cap: unchanged
        ("20.001", "0", "20.000"),  # just over: cut
        ("30", "5", "15.000"),  # adds to a position: the position counts
    ],
)
def test_position_notional_cap(qty: str, pos: str, expected: str) -> None:
    cfg = make_config(max_position_notional=2000)
    v = evaluate(make_order(qty=qty), make_ctx(pos=pos), cfg, GateView(), INSTRUMENT)
    assert v.order is not None and v.order.qty == dec(expected)


def test_position_notional_cap_applies_after_sizing() -> None:
    cfg = make_config(risk_per_trade_pct=1, max_position_notional=2000)
    v = evaluate(make_order(stop_loss="98"), make_ctx(), cfg, GateView(), INSTRUMENT)
    assert v.order is not None and v.order.qty == dec("20.000")


def test_position_at_the_cap_denies_more() -> None:
    cfg = make_config(max_position_notional=2000)
    v = evaluate(make_order(qty="1"), make_ctx(pos="20"), cfg, GateView(), INSTRUMENT)
    assert denied(v) == "MAX_POSITION_NOTIONAL"


# -- maximum loss per trade ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("qty", "stop", "code"),
    [
        ("50", "98", None),  # 50 x 2 = 100 = 1% of 10000: at the limit, allowed
        ("50.001", "98", "MAX_LOSS_PER_TRADE"),  # just over
        ("1", None, None),  # no stop: whole notional at risk, 100
        ("1.001", None, "MAX_LOSS_PER_TRADE"),
    ],
)
def test_max_loss_per_trade(qty: str, stop: str | None, code: str | None) -> None:
    cfg = make_config(max_loss_per_trade_pct=1)
    v = evaluate(make_order(qty=qty, stop_loss=stop), make_ctx(), cfg, GateView(), INSTRUMENT)
    assert denied(v) == code


def test_short_without_stop_has_unbounded_loss() -> None:
    cfg = make_config(max_loss_per_trade_pct=1)
    v = evaluate(make_order(side="sell", qty="0.1"), make_ctx(), cfg, GateView(), INSTRUMENT)
    assert denied(v) == "MAX_LOSS_PER_TRADE"


# -- daily loss ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("equity", "code"), [("9800.01", None), ("9800", "MAX_DAILY_LOSS"), ("9700", "MAX_DAILY_LOSS")]
)
def test_daily_loss_limit(equity: str, code: str | None) -> None:
    cfg = make_config(max_daily_loss_pct=2)
    view = GateView(day_start_equity=dec(10000))
    assert denied(evaluate(make_order(), make_ctx(equity=equity), cfg, view, INSTRUMENT)) == code


def test_daily_loss_lets_reducing_orders_through() -> None:
    cfg = make_config(max_daily_loss_pct=2)
    view = GateView(day_start_equity=dec(10000))
    v = evaluate(make_order(side="sell", qty="1"), make_ctx(equity="9000", pos="2"), cfg, view, INSTRUMENT)
    assert v.approved


# -- open positions, cool-down, trades per day --------------------------------------------------------
@pytest.mark.parametrize(
    ("open_positions", "pos", "code"),
    [
        (1, "0", None),
        (2, "0", "MAX_OPEN_POSITIONS"),
        (2, "1", None),  # adding to an open one is fine
    ],
)
def test_max_open_positions(open_positions: int, pos: str, code: str | None) -> None:
    cfg = make_config(max_open_positions=2)
    v = evaluate(make_order(), make_ctx(pos=pos, open_positions=open_positions), cfg, GateView(), INSTRUMENT)
    assert denied(v) == code


@pytest.mark.parametrize(("ts", "code"), [(999, "COOLDOWN"), (1000, None)])
def test_cooldown_boundary(ts: int, code: str | None) -> None:
    v = evaluate(make_order(), make_ctx(ts=ts), make_config(), GateView(cooldown_until=1000), INSTRUMENT)
    assert denied(v) == code


def test_cooldown_allows_exits() -> None:
    v = evaluate(
        make_order(side="sell"),
        make_ctx(ts=0, pos="1"),
        make_config(),
        GateView(cooldown_until=1000),
        INSTRUMENT,
    )
    assert v.approved


@pytest.mark.parametrize(("done", "code"), [(0, None), (1, "MAX_TRADES_PER_DAY")])
def test_max_trades_per_day(done: int, code: str | None) -> None:
    cfg = make_config(max_trades_per_day=1)
    assert denied(evaluate(make_order(), make_ctx(), cfg, GateView(trades_today=done), INSTRUMENT)) == code


# -- stop-loss requirements ---------------------------------------------------------------------------
def test_stop_loss_required() -> None:
    cfg = make_config(require_stop_loss=True)
    assert denied(evaluate(make_order(), make_ctx(), cfg, GateView(), INSTRUMENT)) == "STOP_LOSS_REQUIRED"
    assert evaluate(make_order(stop_loss="99.99"), make_ctx(), cfg, GateView(), INSTRUMENT).approved


@pytest.mark.parametrize(("side", "stop"), [("buy", "100"), ("buy", "101"), ("sell", "100"), ("sell", "99")])
def test_stop_on_the_wrong_side_is_denied(side: str, stop: str) -> None:
    v = evaluate(make_order(side=side, stop_loss=stop), make_ctx(), make_config(), GateView(), INSTRUMENT)
    assert denied(v) == "INVALID_STOP_LOSS"


# -- exchange filters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        ("buy", "100.017", "100.01"),  # a buy never pays more than asked
        ("sell", "100.011", "100.02"),  # a sell never accepts less
        ("buy", "100.01", "100.01"),
    ],
)
def test_limit_price_rounded_to_tick(side: str, price: str, expected: str) -> None:
    cfg = make_config()
    v = evaluate(
        make_order(side=side, type_="limit", price=price, qty="1"),
        make_ctx(pos="5"),
        cfg,
        GateView(),
        INSTRUMENT,
    )
    assert v.order is not None and v.order.price == dec(expected)


@pytest.mark.parametrize(
    ("qty", "code", "expected"),
    [
        ("0.0019", None, "0.001"),  # cut to the step
        ("0.0009", "FILTER_LOT_SIZE", None),  # cut to zero
        ("100", None, "100.000"),  # max qty, at the limit
        ("100.001", "FILTER_LOT_SIZE", None),  # above max qty
    ],
)
def test_quantity_filters(qty: str, code: str | None, expected: str | None) -> None:
    v = evaluate(make_order(qty=qty), make_ctx(last="5000"), make_config(), GateView(), INSTRUMENT)
    assert denied(v) == code
    if expected is not None:
        assert v.order is not None and v.order.qty == dec(expected)


@pytest.mark.parametrize(("qty", "code"), [("0.05", None), ("0.049", "FILTER_MIN_NOTIONAL")])
def test_min_notional_for_market_orders_uses_last_price(qty: str, code: str | None) -> None:
    v = evaluate(make_order(qty=qty), make_ctx(last="100"), make_config(), GateView(), INSTRUMENT)
    assert denied(v) == code


@pytest.mark.parametrize(("qty", "code"), [("0.05", None), ("0.049", "FILTER_MIN_NOTIONAL")])
def test_min_notional_for_limit_orders_uses_limit_price(qty: str, code: str | None) -> None:
    v = evaluate(
        make_order(qty=qty, type_="limit", price="100"),
        make_ctx(last="1000"),
        make_config(),
        GateView(),
        INSTRUMENT,
    )
    assert denied(v) == code


def test_price_that_rounds_to_zero_is_denied() -> None:
    v = evaluate(
        make_order(type_="limit", price="0.004", qty="5000"),
        make_ctx(last="0.004"),
        make_config(),
        GateView(),
        INSTRUMENT,
    )
    assert denied(v) == "FILTER_PRICE"


def test_unknown_symbol_when_instruments_are_known() -> None:
    v = evaluate(
        make_order(symbol="ETH/USDT"), make_ctx(), make_config(), GateView(), None, require_instrument=True
    )
    assert denied(v) == "UNKNOWN_SYMBOL"


# -- fat finger ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("price", "code"), [("105", None), ("105.01", "FAT_FINGER"), ("95", None), ("94.99", "FAT_FINGER")]
)
def test_fat_finger(price: str, code: str | None) -> None:
    cfg = make_config(max_price_deviation_pct=5)
    v = evaluate(
        make_order(type_="limit", price=price, qty="1", side="buy"), make_ctx(), cfg, GateView(), INSTRUMENT
    )
    assert denied(v) == code


def test_fat_finger_default_is_on() -> None:
    from tradewarden.risk import RiskConfig

    v = evaluate(
        make_order(type_="limit", price="111", qty="1"), make_ctx(), RiskConfig(), GateView(), INSTRUMENT
    )
    assert denied(v) == "FAT_FINGER"


# -- balance ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("qty", "buffer", "code"),
    [
        ("10", 0, None),
        ("10.001", 0, "INSUFFICIENT_BALANCE"),
        ("10", 1, "INSUFFICIENT_BALANCE"),
        ("9.9", 1, None),
    ],
)
def test_cash_checked_before_buying(qty: str, buffer: int, code: str | None) -> None:
    cfg = make_config(check_balance=True, balance_buffer_pct=buffer)
    v = evaluate(make_order(qty=qty), make_ctx(cash="1000"), cfg, GateView(), INSTRUMENT)
    assert denied(v) == code


def test_spot_cannot_sell_what_it_does_not_hold() -> None:
    cfg = make_config(check_balance=True, allow_short=False)
    assert (
        denied(evaluate(make_order(side="sell", qty="2.001"), make_ctx(pos="2"), cfg, GateView(), INSTRUMENT))
        == "INSUFFICIENT_BALANCE"
    )
    assert evaluate(make_order(side="sell", qty="2"), make_ctx(pos="2"), cfg, GateView(), INSTRUMENT).approved


# -- rate limit ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_s", "last_m", "code"), [(1, 1, None), (2, 2, "RATE_LIMIT"), (0, 9, None), (0, 10, "RATE_LIMIT")]
)
def test_rate_limits(last_s: int, last_m: int, code: str | None) -> None:
    cfg = make_config(max_orders_per_second=2, max_orders_per_minute=10)
    view = GateView(orders_last_second=last_s, orders_last_minute=last_m)
    assert denied(evaluate(make_order(), make_ctx(), cfg, view, INSTRUMENT)) == code


# -- trading state ------------------------------------------------------------------------------------
HALTED = GateView(state=TradingState.HALTED, state_cause=ReasonCode.MAX_DRAWDOWN)
REDUCING = GateView(state=TradingState.REDUCING, state_cause=ReasonCode.CONSECUTIVE_LOSSES)


@pytest.mark.parametrize(
    ("view", "side", "qty", "reduce_only", "code"),
    [
        (HALTED, "buy", "1", False, "MAX_DRAWDOWN"),  # new entry
        (HALTED, "sell", "1", False, "MAX_DRAWDOWN"),  # a plain sell is not a protective exit
        (HALTED, "sell", "1", True, None),  # reduce-only exit: allowed
        (REDUCING, "buy", "1", False, "CONSECUTIVE_LOSSES"),
        (REDUCING, "sell", "1", False, None),  # shrinks the long
        (REDUCING, "sell", "2", False, None),  # to flat
        (REDUCING, "sell", "2.001", False, "CONSECUTIVE_LOSSES"),  # would flip short
    ],
)
def test_trading_states(view: GateView, side: str, qty: str, reduce_only: bool, code: str | None) -> None:
    v = evaluate(
        make_order(side=side, qty=qty, reduce_only=reduce_only),
        make_ctx(pos="2"),
        make_config(),
        view,
        INSTRUMENT,
    )
    assert denied(v) == code


def test_reduce_only_that_would_not_reduce_is_denied() -> None:
    v = evaluate(
        make_order(side="buy", reduce_only=True), make_ctx(pos="2"), make_config(), GateView(), INSTRUMENT
    )
    assert denied(v) == "REDUCE_ONLY_INVALID"


def test_no_price_denied() -> None:
    assert (
        denied(evaluate(make_order(), make_ctx(last="0"), make_config(), GateView(), INSTRUMENT))
        == "NO_PRICE"
    )


def test_first_broken_rule_is_reported() -> None:
    # both the trade count and the balance are exceeded; the earlier rule names the denial
    cfg = make_config(max_trades_per_day=1, check_balance=True)
    v = evaluate(make_order(qty="1000"), make_ctx(cash="1"), cfg, GateView(trades_today=1), INSTRUMENT)
    assert denied(v) == "MAX_TRADES_PER_DAY"


@pytest.mark.parametrize(
    ("side", "qty", "pos", "expected"),
    [
        ("sell", "1", "2", True),
        ("sell", "2", "2", True),
        ("sell", "2.5", "2", False),
        ("buy", "1", "2", False),
        ("buy", "1", "-1", True),
        ("buy", "1", "0", False),
    ],
)
def test_is_reducing(side: str, qty: str, pos: str, expected: bool) -> None:
    assert is_reducing(make_order(side=side, qty=qty), dec(pos)) is expected


# -- a portfolio: exposure caps across and per symbol --------------------------------------------------
def _exposure_ctx(pos: str = "0", exposure: str = "0", equity: str = "10000") -> CheckContext:
    return CheckContext(0, dec("100"), dec(equity), dec(equity), dec(pos), 0, dec(exposure))


@pytest.mark.parametrize(
    ("exposure", "qty", "want_qty", "code"),
    [
        ("0", "10", "10", None),            # 1000 of 5000 allowed
        ("4000", "20", "10.000", None),     # room for 1000: cut to 10
        ("5000", "1", None, "MAX_TOTAL_EXPOSURE"),
        ("4999.95", "1", None, "MAX_TOTAL_EXPOSURE"),  # room for 0.0005 < one step
    ],
)
def test_total_exposure_cap_cuts_then_denies(exposure: str, qty: str, want_qty: str | None,
                                             code: str | None) -> None:
    cfg = make_config(max_total_exposure_pct=50)
    v = evaluate(make_order(qty=qty), _exposure_ctx(exposure=exposure), cfg, GateView(), INSTRUMENT)
    assert denied(v) == code
    if want_qty is not None:
        assert v.order is not None and v.order.qty == dec(want_qty)


def test_total_exposure_cap_lets_exits_through() -> None:
    cfg = make_config(max_total_exposure_pct=10)
    v = evaluate(make_order(side="sell", qty="5"), _exposure_ctx(pos="5", exposure="9000"), cfg, GateView(),
                 INSTRUMENT)
    assert v.approved


def test_symbol_exposure_cap_counts_this_symbols_position_only() -> None:
    cfg = make_config(max_symbol_exposure_pct=20)  # 2000 of 10000
    # other symbols' 7000 do not count; this symbol holds 15 × 100 = 1500: room for 5
    v = evaluate(make_order(qty="8"), _exposure_ctx(pos="15", exposure="8500"), cfg, GateView(), INSTRUMENT)
    assert v.order is not None and v.order.qty == dec("5.000")
    v = evaluate(make_order(qty="1"), _exposure_ctx(pos="20", exposure="2000"), cfg, GateView(), INSTRUMENT)
    assert denied(v) == "MAX_SYMBOL_EXPOSURE"


def test_without_a_portfolio_exposure_is_the_symbols_own_position() -> None:
    cfg = make_config(max_total_exposure_pct=20)
    ctx = CheckContext(0, dec("100"), dec("10000"), dec("10000"), dec("19"), 0)  # exposure None: 1900
    v = evaluate(make_order(qty="5"), ctx, cfg, GateView(), INSTRUMENT)
    assert v.order is not None and v.order.qty == dec("1.000")
