"""Scores of an equity curve over a range of bars: the optimizer's objectives.

They use the formulas of :mod:`tradewarden.backtest.metrics` (per-bar returns ``r_i = E_i / E_{i-1} - 1``,
365-day years, risk-free rate 0), applied to a segment ``[a, b)`` of one continuous equity curve with
``E_{a-1}`` (or the initial cash for ``a == 0``) as the segment's starting equity:

* **sharpe** = ``mean(r) / std(r, ddof=1) * sqrt(bars_per_year)``;
* **sortino** = ``mean(r) / sqrt(sum(min(r, 0)^2) / n) * sqrt(bars_per_year)``;
* **calmar** = CAGR (%) over the segment / maximum drawdown (%) within it (peak starting at ``E_{a-1}``);
* **profit** = total return over the segment in %.

The optimizer needs a finite number for every trial, so the unbounded ratios that metrics reports as
``None`` (a Sharpe with no spread, a Sortino without a losing bar, a Calmar without a drawdown) become
``+-RATIO_CAP``, ``0/0`` becomes 0, and every ratio is clipped to ``[-RATIO_CAP, RATIO_CAP]`` so one
degenerate window cannot dominate a mean over windows.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tradewarden.backtest.metrics import YEAR_MS, drawdown_pct, per_bar_returns

FloatArray = npt.NDArray[np.float64]

RATIO_CAP = 100.0
_ZERO_SPREAD = 1e-15  # same threshold as backtest.metrics: below it a spread is rounding noise


def _capped_ratio(num: float, den: float) -> float:
    if den < _ZERO_SPREAD:
        return 0.0 if num == 0 else math.copysign(RATIO_CAP, num)
    return max(-RATIO_CAP, min(RATIO_CAP, num / den))


def sharpe(returns: FloatArray, annual: float) -> float:
    if returns.size < 2:
        return 0.0
    return _capped_ratio(float(returns.mean()) * annual, float(returns.std(ddof=1)))


def sortino(returns: FloatArray, annual: float) -> float:
    if returns.size == 0:
        return 0.0
    downside = np.minimum(returns, 0.0)
    return _capped_ratio(
        float(returns.mean()) * annual, math.sqrt(float(np.dot(downside, downside)) / returns.size)
    )


def profit(equity: FloatArray, base: float) -> float:
    return (float(equity[-1]) / base - 1.0) * 100.0 if base > 0 else 0.0


def max_drawdown(equity: FloatArray, base: float) -> float:
    return max(0.0, -float(drawdown_pct(equity, base).min()))


def cagr(equity: FloatArray, base: float, span_ms: int) -> float:
    growth = float(equity[-1]) / base if base > 0 else 0.0
    if growth <= 0:
        return -100.0
    exponent = math.log(growth) * YEAR_MS / span_ms
    return math.expm1(min(exponent, 700.0)) * 100.0  # 700: beyond it exp() overflows; the cap clips anyway


def calmar(equity: FloatArray, base: float, span_ms: int) -> float:
    return _capped_ratio(cagr(equity, base, span_ms), max_drawdown(equity, base))


class EquityCurve:
    """One continuous equity curve with its per-bar returns, scored on any segment of bars."""

    def __init__(self, equity: FloatArray, initial_cash: float, timeframe_ms: int) -> None:
        self.equity = equity
        self.initial = initial_cash
        self.timeframe_ms = timeframe_ms
        self.returns = per_bar_returns(equity, initial_cash)
        self.annual = math.sqrt(YEAR_MS / timeframe_ms)

    def base(self, a: int) -> float:
        return self.initial if a == 0 else float(self.equity[a - 1])

    def score(self, objective: str, a: int, b: int) -> float:
        if b <= a:
            raise ValueError(f"empty segment [{a}, {b})")
        if objective == "sharpe":
            return sharpe(self.returns[a:b], self.annual)
        if objective == "sortino":
            return sortino(self.returns[a:b], self.annual)
        if objective == "profit":
            return profit(self.equity[a:b], self.base(a))
        if objective == "calmar":
            return calmar(self.equity[a:b], self.base(a), (b - a) * self.timeframe_ms)
        if objective == "max_drawdown":
            return max_drawdown(self.equity[a:b], self.base(a))
        raise ValueError(f"unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")

    def summary(self, a: int, b: int) -> dict[str, float]:
        """Every objective plus the maximum drawdown (%) on ``[a, b)``."""
        return {name: self.score(name, a, b) for name in (*OBJECTIVES, "max_drawdown")}


#: the objectives a study can maximise
OBJECTIVES: tuple[str, ...] = ("sharpe", "sortino", "calmar", "profit")
