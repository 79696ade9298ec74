"""The optimizer's objectives agree with the backtest metrics and score segments of one equity curve."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tradewarden.backtest.metrics import compute_metrics
from tradewarden.optimize.objectives import RATIO_CAP, EquityCurve

HOUR = 3_600_000


def _curve(n: int = 3000, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10_000.0 * np.cumprod(1.0 + rng.normal(0.0003, 0.01, n))


def test_whole_curve_matches_backtest_metrics() -> None:
    eq = _curve()
    ts = np.arange(eq.size, dtype=np.int64) * HOUR
    m = compute_metrics(ts, eq, [], Decimal(0), 0, HOUR, Decimal(10_000))
    s = EquityCurve(eq, 10_000.0, HOUR).summary(0, eq.size)
    assert s["sharpe"] == pytest.approx(m["sharpe"]["value"], abs=1e-6)
    assert s["sortino"] == pytest.approx(m["sortino"]["value"], abs=1e-6)
    assert s["profit"] == pytest.approx(m["total_return"]["value"], abs=1e-6)
    assert s["max_drawdown"] == pytest.approx(m["max_drawdown"]["value"], abs=1e-6)
    assert s["calmar"] == pytest.approx(m["cagr"]["value"] / m["max_drawdown"]["value"], rel=1e-6)


def test_segment_is_scored_as_its_own_run_starting_from_the_previous_close() -> None:
    eq = _curve()
    a, b = 1000, 1800
    seg = eq[a:b]
    ts = np.arange(seg.size, dtype=np.int64) * HOUR
    base = eq[a - 1]
    m = compute_metrics(ts, seg, [], Decimal(0), 0, HOUR, Decimal(str(base)))
    curve = EquityCurve(eq, 10_000.0, HOUR)
    assert curve.score("sharpe", a, b) == pytest.approx(m["sharpe"]["value"], abs=1e-6)
    assert curve.score("profit", a, b) == pytest.approx((eq[b - 1] / base - 1) * 100)
    assert curve.score("max_drawdown", a, b) == pytest.approx(m["max_drawdown"]["value"], abs=1e-6)


def test_degenerate_segments_give_finite_documented_values() -> None:
    flat = np.full(100, 10_000.0)
    curve = EquityCurve(flat, 10_000.0, HOUR)
    assert curve.summary(0, 100) == {"sharpe": 0.0, "sortino": 0.0, "calmar": 0.0, "profit": 0.0,
                                     "max_drawdown": 0.0}
    rising = 10_000.0 * 1.001 ** np.arange(1, 101)
    up = EquityCurve(rising, 10_000.0, HOUR)
    assert up.score("sortino", 0, 100) == RATIO_CAP      # no losing bar: unbounded, capped
    assert up.score("calmar", 0, 100) == RATIO_CAP       # no drawdown
    assert up.score("sharpe", 0, 100) == RATIO_CAP       # perfectly constant return, clipped
    falling = 10_000.0 * 0.999 ** np.arange(1, 101)
    assert EquityCurve(falling, 10_000.0, HOUR).score("sharpe", 0, 100) == -RATIO_CAP


def test_unknown_objective_and_empty_segment_are_errors() -> None:
    curve = EquityCurve(_curve(10), 10_000.0, HOUR)
    with pytest.raises(ValueError, match="unknown objective 'omega'"):
        curve.score("omega", 0, 10)
    with pytest.raises(ValueError, match="empty segment"):
        curve.score("sharpe", 5, 5)
