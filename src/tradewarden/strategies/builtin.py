"""The built-in strategies. Each docstring states its rules exactly."""

from __future__ import annotations

import numpy as np

from tradewarden.domain.candles import CandleSeries
from tradewarden.strategies.base import FloatParam, IntParam, ParamError, Signals, Strategy
from tradewarden.strategies.indicators import (
    as_float,
    atr,
    crossover_targets,
    rolling_max,
    rolling_min,
    rsi,
    sma,
    sma_crossover_targets,
)


class Donchian(Strategy):
    """Donchian channel breakout.

    Rules, evaluated on each closed bar ``i``:
    * enter long when ``close[i]`` is above the highest high of the ``entry_period`` bars before ``i``;
    * exit when ``close[i]`` is below the lowest low of the ``exit_period`` bars before ``i``;
    * otherwise keep the current position.
    """

    name = "donchian"
    entry_period = IntParam(20, "N: bars whose highest high a close must exceed to enter", low=5, high=200)
    exit_period = IntParam(10, "M: bars whose lowest low a close must undercut to exit", low=2, high=200)

    @property
    def lookback(self) -> int:
        return int(max(self.entry_period, self.exit_period)) + 1

    def signals(self, candles: CandleSeries) -> Signals:
        n = len(candles)
        close = as_float(candles.close)
        upper = np.full(n, np.nan)
        lower = np.full(n, np.nan)
        upper[1:] = rolling_max(as_float(candles.high), self.entry_period)[:-1]
        lower[1:] = rolling_min(as_float(candles.low), self.exit_period)[:-1]
        target = np.full(n, np.nan)
        target[close > upper] = 1.0
        target[close < lower] = 0.0
        return Signals(target)


class SmaCross(Strategy):
    """SMA crossover.

    Rules: when the ``fast``-bar SMA of closes crosses above the ``slow``-bar SMA (above now, at or below
    on the previous bar) go long; when it crosses below, go short if shorting is enabled, else flat.
    """

    name = "sma_cross"
    fast = IntParam(20, "bars in the fast moving average", low=2, high=200)
    slow = IntParam(50, "bars in the slow moving average", low=5, high=400)

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise ParamError(f"strategy {self.name}: fast ({self.fast}) must be shorter than slow ({self.slow})")

    @property
    def lookback(self) -> int:
        return int(self.slow) + 1

    def signals(self, candles: CandleSeries) -> Signals:
        return Signals(sma_crossover_targets(as_float(candles.close), self.fast, self.slow))


class SmaAtr(Strategy):
    """SMA crossover filtered by volatility, with an ATR stop.

    Rules: as ``sma_cross``, except that a crossover gives no entry signal while ATR(``atr_period``) divided
    by the close is below ``min_atr_frac`` (a quiet market where crossovers are mostly noise); crossings
    down still exit. Each entry carries a stop-loss ``atr_stop`` ATRs away from the signal bar's close.
    """

    name = "sma_atr"
    fast = IntParam(20, "bars in the fast moving average", low=2, high=200)
    slow = IntParam(50, "bars in the slow moving average", low=5, high=400)
    atr_period = IntParam(14, "bars in the average true range", low=2, high=100)
    min_atr_frac = FloatParam(0.005, "minimum ATR / close for an entry", low=0.0, high=0.1)
    atr_stop = FloatParam(3.0, "stop-loss distance in ATRs (0 = no stop)", low=0.0, high=20.0)

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise ParamError(f"strategy {self.name}: fast ({self.fast}) must be shorter than slow ({self.slow})")

    @property
    def lookback(self) -> int:
        return int(max(self.slow, self.atr_period)) + 1

    def signals(self, candles: CandleSeries) -> Signals:
        close = as_float(candles.close)
        target = crossover_targets(sma(close, self.fast), sma(close, self.slow))
        vol = atr(as_float(candles.high), as_float(candles.low), close, self.atr_period)
        quiet = ~(vol / close >= self.min_atr_frac)  # NaN (warm-up) counts as quiet
        target[(target == 1.0) & quiet] = np.nan
        stop = np.full(len(close), np.nan)
        if self.atr_stop > 0:
            entries = target == 1.0
            stop[entries] = close[entries] - self.atr_stop * vol[entries]
            shorts = target == -1.0
            stop[shorts] = close[shorts] + self.atr_stop * vol[shorts]
        return Signals(target, stop_loss=stop)


class Rsi(Strategy):
    """RSI mean reversion.

    Rules: with RSI over ``period`` changes (simple averages), go long when RSI falls below ``oversold``;
    go short (or flat when shorting is disabled) when RSI rises above ``overbought``; otherwise hold.
    """

    name = "rsi"
    period = IntParam(14, "price changes in the RSI", low=2, high=100)
    oversold = FloatParam(30.0, "RSI below which to buy", low=1.0, high=50.0)
    overbought = FloatParam(70.0, "RSI above which to sell", low=50.0, high=99.0)

    def validate(self) -> None:
        if self.oversold >= self.overbought:
            raise ParamError(f"strategy {self.name}: oversold must be below overbought")

    @property
    def lookback(self) -> int:
        return int(self.period) + 1

    def signals(self, candles: CandleSeries) -> Signals:
        value = rsi(as_float(candles.close), self.period)
        target = np.full(len(value), np.nan)
        target[value < self.oversold] = 1.0
        target[value > self.overbought] = -1.0
        return Signals(target)
