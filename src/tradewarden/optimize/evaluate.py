"""Scoring one parameter set on the walk-forward windows, and on the holdout once the search is over.

A trial runs the strategy once, through the compiled batch path, over the search period (the bars before
the holdout; the holdout is not even passed in), and scores that one continuous equity curve on each
window's in-sample and out-of-sample bars. One continuous run means indicators are warm and a position
open at a window boundary carries on, as it would in live trading; it also costs one simulation per trial
instead of two per window. The lookahead check is skipped inside the trial loop (it re-runs the strategy on
cut histories) and run once for the chosen parameters by :meth:`Evaluator.final`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradewarden.backtest.core import Simulation, simulate_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.domain.instrument import Instrument
from tradewarden.optimize.objectives import EquityCurve
from tradewarden.optimize.windows import WindowPlan
from tradewarden.strategies.base import Strategy


@dataclass(frozen=True)
class WindowScores:
    """Per-window scores of one parameter set: the objective and Sharpe, in-sample and out-of-sample."""

    is_: tuple[float, ...]
    oos: tuple[float, ...]
    is_sharpe: tuple[float, ...]
    oos_sharpe: tuple[float, ...]

    def to_attr(self) -> dict[str, list[float]]:
        return {
            "is": list(self.is_),
            "oos": list(self.oos),
            "is_sharpe": list(self.is_sharpe),
            "oos_sharpe": list(self.oos_sharpe),
        }

    @classmethod
    def from_attr(cls, attr: dict[str, list[float]]) -> WindowScores:
        return cls(tuple(attr["is"]), tuple(attr["oos"]), tuple(attr["is_sharpe"]), tuple(attr["oos_sharpe"]))


@dataclass(frozen=True)
class FinalScores:
    """A parameter set over the whole search period (in-sample) and the holdout (out-of-sample)."""

    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    trades_in_sample: int
    trades_out_of_sample: int


def data_fingerprint(series: CandleSeries) -> str:
    """sha256 of the candles' times and OHLCV, so a resumed study can prove it sees the same data."""
    h = hashlib.sha256()
    for col in (series.ts, series.open, series.high, series.low, series.close, series.volume):
        h.update(np.ascontiguousarray(col).tobytes())
    return h.hexdigest()


class Evaluator:
    def __init__(
        self,
        series: CandleSeries,
        strategy_cls: type[Strategy],
        settings: BacktestSettings,
        instrument: Instrument,
        plan: WindowPlan,
        objective: str,
    ) -> None:
        if len(series) != plan.total_bars:
            raise ValueError(f"window plan is for {plan.total_bars} bars, the series has {len(series)}")
        self.series = series
        self.search = series[: plan.search_end]
        self.strategy_cls = strategy_cls
        self.settings = settings
        self.instrument = instrument
        self.plan = plan
        self.objective = objective
        self.timeframe_ms = timeframe_ms(series.timeframe)
        self.initial = float(settings.initial_cash)

    def strategy(self, params: dict[str, Any]) -> Strategy:
        """The strategy with these parameters; raises ParamError when it rejects them."""
        return self.strategy_cls(**params)

    def windows(self, params: dict[str, Any]) -> WindowScores:
        return self.windows_of(self.strategy(params))

    def windows_of(self, strategy: Strategy) -> WindowScores:
        """One run over the search period, scored on every window's in-sample and out-of-sample bars."""
        sim = simulate_batch(self.search, strategy, self.settings, self.instrument, check_lookahead=False)
        curve = EquityCurve(sim.equity, self.initial, self.timeframe_ms)
        obj, shp = self.objective, "sharpe"
        ws = self.plan.windows
        return WindowScores(
            tuple(curve.score(obj, w.is_start, w.is_end) for w in ws),
            tuple(curve.score(obj, w.oos_start, w.oos_end) for w in ws),
            tuple(curve.score(shp, w.is_start, w.is_end) for w in ws),
            tuple(curve.score(shp, w.oos_start, w.oos_end) for w in ws),
        )

    def final(self, params: dict[str, Any]) -> FinalScores:
        """Scores over the search period and the holdout, with the lookahead check on."""
        sim = simulate_batch(
            self.series, self.strategy(params), self.settings, self.instrument, check_lookahead=True
        )
        curve = EquityCurve(sim.equity, self.initial, self.timeframe_ms)
        cut = self.plan.search_end
        split_ts = int(self.series.ts[cut])
        in_trades, out_trades = _count_trades(sim, split_ts)
        return FinalScores(curve.summary(0, cut), curve.summary(cut, len(self.series)), in_trades, out_trades)


def _count_trades(sim: Simulation, split_ts: int) -> tuple[int, int]:
    """Trades entered before / at or after the holdout's first bar (the open one at the end included)."""
    before = sum(1 for t in sim.all_trades if t.entry_ts < split_ts)
    return before, len(sim.all_trades) - before
