"""Metrics against values worked out by hand on tiny equity curves, and every edge case."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tradewarden.backtest.metrics import (
    Trade,
    bars_per_year,
    compute_metrics,
    drawdown_pct,
    per_bar_returns,
    trade_returns_pct,
)

# An overflow inside a metric is a bug (it became Sortino = inf once): any RuntimeWarning fails the test.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

DAY = 86_400_000
T0 = 1_609_459_200_000  # 2021-01-01T00:00:00Z


def days(n: int) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * DAY


def trade(pnl: str, entry: str = "100", qty: str = "1", side: str = "long",
          symbol: str = "BTC/USDT") -> Trade:
    return Trade(symbol, side, T0, T0 + DAY, Decimal(entry), Decimal(entry) + Decimal(pnl), Decimal(qty),
                 Decimal(pnl), Decimal("0.1"), "signal")


def metrics_of(equity: list[float], trades: list[Trade] | None = None, initial: str = "100",
               exposure: int = 0, timeframe: int = DAY, **kw: Any) -> dict[str, dict[str, object]]:
    eq = np.array(equity, dtype=np.float64)
    ts = T0 + np.arange(eq.size, dtype=np.int64) * timeframe
    return compute_metrics(ts, eq, trades or [], Decimal("0"), exposure, timeframe, Decimal(initial), **kw)


def value(m: dict[str, dict[str, object]], name: str) -> object:
    return m[name]["value"]


def test_total_return_and_cagr_over_exactly_one_year() -> None:
    # 365 daily bars span exactly 365 days: first open to last close.
    eq = np.linspace(100.0, 121.0, 365)
    m = compute_metrics(days(365), eq, [], Decimal(0), 0, DAY, Decimal(100))
    assert value(m, "total_return") == pytest.approx(21.0)
    assert value(m, "cagr") == pytest.approx(21.0)
    assert "note" not in m["cagr"]
    assert m["total_return"]["unit"] == "%"


def test_cagr_over_two_years_is_the_geometric_annual_rate() -> None:
    eq = np.full(730, 121.0)
    m = compute_metrics(days(730), eq, [], Decimal(0), 0, DAY, Decimal(100))
    assert value(m, "total_return") == pytest.approx(21.0)
    assert value(m, "cagr") == pytest.approx(10.0)   # 1.1 ** 2 == 1.21


def test_cagr_of_a_short_span_is_extrapolated_and_says_so() -> None:
    m = metrics_of([101.0] * 73)                     # 73 days = a fifth of a year
    assert value(m, "cagr") == pytest.approx((1.01**5 - 1) * 100)
    assert "extrapolated" in str(m["cagr"]["note"])


def test_cagr_too_large_for_a_float_is_none_with_a_note() -> None:
    m = metrics_of([1e6], timeframe=60_000)          # x10,000 in one minute
    assert value(m, "cagr") is None
    assert "too large" in str(m["cagr"]["note"])


def test_ruin_gives_cagr_minus_100() -> None:
    m = metrics_of([50.0, 0.0, -5.0])
    assert value(m, "cagr") == -100.0
    assert value(m, "total_return") == pytest.approx(-105.0)


def test_sharpe_and_sortino_by_hand() -> None:
    equity = [110.0, 99.0, 108.9, 119.79, 113.8005]
    # The returns, computed by hand from the initial cash 100 onwards.
    prev = [100.0, *equity[:-1]]
    r = [e / p - 1 for e, p in zip(equity, prev, strict=True)]
    assert r == pytest.approx([0.1, -0.1, 0.1, 0.1, -0.05])
    n = len(r)
    mean = sum(r) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n)
    annual = math.sqrt(365)                          # daily bars, 365 trading days
    m = metrics_of(equity)
    assert value(m, "sharpe") == pytest.approx(mean / std * annual, abs=1e-6)
    assert value(m, "sortino") == pytest.approx(mean / downside * annual, abs=1e-6)
    assert m["sharpe"]["unit"] == "ratio (annualised)"


def test_sharpe_annualises_with_the_bars_of_a_365_day_year() -> None:
    assert bars_per_year(60_000) == 525_600
    assert bars_per_year(3_600_000) == 8_760
    hourly = metrics_of([101.0, 100.0, 102.0], timeframe=3_600_000)
    daily = metrics_of([101.0, 100.0, 102.0], timeframe=DAY)
    ratio = value(hourly, "sharpe") / value(daily, "sharpe")  # type: ignore[operator]
    assert ratio == pytest.approx(math.sqrt(24), rel=1e-5)


def test_max_drawdown_from_the_running_peak() -> None:
    m = metrics_of([120.0, 90.0, 130.0, 117.0])
    assert value(m, "max_drawdown") == pytest.approx(25.0)  # 120 -> 90
    # Below the 120 peak from the close of day 1 to the close of day 2: one day.
    assert value(m, "max_drawdown_duration") == pytest.approx(1.0)


def test_drawdown_counts_a_loss_on_the_first_bar_against_the_initial_cash() -> None:
    m = metrics_of([95.0, 96.0, 97.0])
    assert value(m, "max_drawdown") == pytest.approx(5.0)
    assert value(m, "max_drawdown_duration") == pytest.approx(3.0)  # never recovered: whole span


def test_drawdown_pct_series() -> None:
    dd = drawdown_pct(np.array([100.0, 120.0, 90.0, 130.0]))
    assert dd.tolist() == pytest.approx([0.0, 0.0, -25.0, 0.0])
    with_start = drawdown_pct(np.array([80.0, 100.0]), initial=100.0)
    assert with_start.tolist() == pytest.approx([-20.0, 0.0])
    assert drawdown_pct(np.array([0.0, -1.0])).tolist() == [0.0, 0.0]  # no positive peak: defined as 0
    assert drawdown_pct(np.array([], dtype=np.float64)).size == 0


def test_equity_within_a_hair_of_zero_still_gives_strict_json() -> None:
    m = metrics_of([2.2e-308, -1.0])   # the second return, -1 / 2.2e-308, overflows a float
    json.dumps(m, allow_nan=False)
    assert value(m, "sharpe") is None
    assert "not finite" in str(m["sharpe"]["note"])
    assert value(m, "max_drawdown") == pytest.approx(101.0)   # -1 against the initial 100


def test_a_ratio_past_the_largest_float_is_none_not_infinity() -> None:
    # Returns -1, 6.1e305, -1: the mean and the downside deviation are finite, the Sortino (1.8e308) is not.
    eq = np.array([9e-299, 5.5e7, 9e-299])
    m = compute_metrics(T0 + np.arange(3, dtype=np.int64) * 60_000, eq, [], Decimal(0), 0, 60_000,
                        Decimal(1000))
    json.dumps(m, allow_nan=False)
    for name in ("sharpe", "sortino"):
        assert value(m, name) is None, name
        assert "not finite" in str(m[name]["note"])


def test_a_return_past_the_largest_float_is_inf_without_a_warning() -> None:
    r = per_bar_returns(np.array([1e-300, 1e10]), 100.0)
    assert r[0] == pytest.approx(-1.0)
    assert r[1] == math.inf


def test_per_bar_returns_start_from_initial_cash_and_stop_at_ruin() -> None:
    r = per_bar_returns(np.array([110.0, 0.0, 5.0]), 100.0)
    assert r.tolist() == pytest.approx([0.1, -1.0, 0.0])


def test_trade_metrics_by_hand() -> None:
    trades = [trade("30"), trade("-10"), trade("20"), trade("0"), trade("-10")]
    m = metrics_of([100.0] * 12, trades, exposure=3)
    assert value(m, "trade_count") == 5
    assert value(m, "win_rate") == pytest.approx(40.0)       # 2 of 5; the zero trade is not a win
    assert value(m, "profit_factor") == pytest.approx(2.5)   # 50 / 20
    assert m["gross_profit"]["exact"] == "50"
    assert m["gross_loss"]["exact"] == "20"
    # Every trade cost 100, so its return in % equals its pnl.
    assert value(m, "avg_trade_return") == pytest.approx((30 - 10 + 20 + 0 - 10) / 5)
    assert value(m, "exposure") == pytest.approx(25.0)       # 3 of 12 bars
    assert m["exposure"]["unit"] == "% of bars in a position"


def test_trade_returns_match_the_trade_definition() -> None:
    trades = [trade("30"), trade("-7.5", entry="29000.12", qty="0.00123"), trade("0.00000001", qty="3"),
              trade("5", qty="0")]
    got = trade_returns_pct(trades).tolist()
    assert got == pytest.approx([t.return_pct for t in trades], rel=1e-12)
    assert got[3] == 0.0                                  # zero cost: defined as 0, like Trade.return_pct
    assert trade_returns_pct([]).size == 0


def test_no_trades_and_flat_equity_give_zeros_not_nan() -> None:
    m = metrics_of([100.0] * 10)
    for name in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
                 "avg_trade_return", "exposure", "max_drawdown_duration"):
        assert value(m, name) == 0.0, name
    assert value(m, "trade_count") == 0
    json.dumps(m, allow_nan=False)


def test_single_bar() -> None:
    m = metrics_of([101.0])
    assert value(m, "sharpe") == 0.0
    assert "2 bars" in str(m["sharpe"]["note"])
    assert value(m, "bars") == 1


def test_unbounded_ratios_are_none_with_a_note() -> None:
    m = metrics_of([101.0, 102.0, 103.0], [trade("5"), trade("1")])
    assert value(m, "profit_factor") is None
    assert "no losing trade" in str(m["profit_factor"]["note"])
    assert value(m, "sortino") is None
    assert "no bar lost money" in str(m["sortino"]["note"])
    assert value(m, "win_rate") == 100.0
    json.dumps(m, allow_nan=False)


def test_constant_growth_has_unbounded_sharpe() -> None:
    m = metrics_of([200.0, 400.0, 800.0], initial="100")
    assert value(m, "sharpe") is None


def test_money_units_and_exact_fees() -> None:
    eq = np.array([100.0, 100.0])
    m = compute_metrics(days(2), eq, [trade("1", symbol="ETH/BTC")], Decimal("1E-8"), 1, DAY, Decimal("100"))
    assert m["fees_paid"] == {"value": 1e-8, "unit": "BTC", "exact": "0.00000001"}
    assert m["final_equity"]["unit"] == "BTC"
    m2 = compute_metrics(days(2), eq, [], Decimal("0"), 0, DAY, Decimal("100"))
    assert m2["fees_paid"]["unit"] == "quote currency"
    m3 = compute_metrics(days(2), eq, [], Decimal("0"), 0, DAY, Decimal("100"), quote="USDC")
    assert m3["fees_paid"]["unit"] == "USDC"


def test_start_end_and_bars() -> None:
    m = metrics_of([100.0] * 3)
    assert value(m, "start") == "2021-01-01T00:00:00Z"
    assert value(m, "end") == "2021-01-04T00:00:00Z"   # close of the third daily bar
    assert value(m, "bars") == 3


def test_extra_metrics_are_appended_and_clashes_rejected() -> None:
    extra = {"risk_denials": {"value": 3, "unit": "orders", "by_reason": {"max_position": 3}}}
    m = metrics_of([100.0], extra=extra)
    assert m["risk_denials"] == extra["risk_denials"]
    assert list(m)[-1] == "risk_denials"
    with pytest.raises(ValueError, match="sharpe"):
        metrics_of([100.0], extra={"sharpe": {"value": 1}})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ts": days(3), "equity": np.ones(2)}, "3 bar times and 2 equity values"),
    ({"ts": days(0), "equity": np.ones(0)}, "at least one bar"),
    ({"equity": np.array([1.0, np.nan, 1.0])}, "bar 1 .2021-01-02T00:00:00Z. is not a finite number"),
    ({"initial_cash": Decimal(0)}, "initial cash must be positive"),
    ({"exposure_bars": 4}, "exposure_bars=4 is outside 0..3"),
    ({"timeframe_ms": 0}, "timeframe_ms must be positive"),
])
def test_bad_input_is_named(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"ts": days(3), "equity": np.ones(3), "trades": [], "fees_paid": Decimal(0),
                               "exposure_bars": 0, "timeframe_ms": DAY, "initial_cash": Decimal(1)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compute_metrics(**args)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e3, 1e9, allow_nan=False)),
       st.lists(st.decimals(-1000, 1000, places=4, allow_nan=False, allow_infinity=False), max_size=8))
def test_any_curve_gives_strict_json_and_sane_bounds(equity: np.ndarray, pnls: list[Decimal]) -> None:
    trades = [trade(str(p)) for p in pnls]
    m = compute_metrics(T0 + np.arange(equity.size, dtype=np.int64) * 60_000, equity, trades, Decimal(0), 0,
                        60_000, Decimal(1000))
    json.loads(json.dumps(m, allow_nan=False))  # raises on NaN / Infinity
    assert value(m, "max_drawdown") >= 0  # type: ignore[operator]
    assert 0 <= value(m, "win_rate") <= 100  # type: ignore[operator]
    pf = value(m, "profit_factor")
    assert pf is None or pf >= 0  # type: ignore[operator]
    for name in ("sharpe", "sortino"):
        ratio = value(m, name)
        assert ratio is None or math.isfinite(ratio), name  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(1e-308, 1e-290), st.floats(1e6, 1e9)), min_size=2, max_size=12))
def test_curves_through_near_zero_equity_give_finite_or_none_ratios(equity: list[float]) -> None:
    # The generic strategy above reaches these curves only by chance; this one aims at them.
    m = compute_metrics(T0 + np.arange(len(equity), dtype=np.int64) * 60_000, np.array(equity), [],
                        Decimal(0), 0, 60_000, Decimal(1000))
    json.loads(json.dumps(m, allow_nan=False))
    for name in ("sharpe", "sortino", "total_return", "max_drawdown"):
        ratio = value(m, name)
        assert ratio is None or math.isfinite(ratio), name  # type: ignore[arg-type]
