"""An example of your own strategy: momentum over a lookback window, with a percentage stop.

Run it:  tradewarden backtest --strategy examples/ema_momentum.py --param period=48
"""

from __future__ import annotations

import numpy as np

from tradewarden.domain.candles import CandleSeries
from tradewarden.strategies import FloatParam, IntParam, Signals, Strategy


class Momentum(Strategy):
    """Go long when the close is more than `threshold` percent above the close `period` bars ago;
    go flat when it is below that close. Each entry carries a stop `stop_pct` percent below the close."""

    name = "momentum"
    period = IntParam(24, "bars to look back", low=2, high=500)
    threshold = FloatParam(1.0, "percent rise needed to enter", low=0.0, high=50.0)
    stop_pct = FloatParam(3.0, "stop-loss distance in percent (0 = none)", low=0.0, high=50.0)

    @property
    def lookback(self) -> int:
        return self.period + 1

    def signals(self, candles: CandleSeries) -> Signals:
        close = np.asarray(candles.close, dtype=np.float64)
        past = np.full(len(close), np.nan)
        past[self.period:] = close[: -self.period]
        change = (close / past - 1.0) * 100.0
        target = np.full(len(close), np.nan)
        target[change > self.threshold] = 1.0
        target[change < 0.0] = 0.0
        stop = np.where(target == 1.0, close * (1 - self.stop_pct / 100), np.nan) if self.stop_pct else None
        return Signals(target, stop_loss=stop)
