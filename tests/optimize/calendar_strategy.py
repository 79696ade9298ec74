"""A test strategy whose best parameters are known by construction (see conftest.calendar_series).

It goes long for exactly the bars whose number (open time / timeframe) is ``phase`` modulo ``period``:
the signal on the bar before says "be long", the order fills at that bar's open, and the next signal says
"be flat". It is causal: the signal uses only the bar's own open time.
"""

from __future__ import annotations

import numpy as np

from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.strategies.base import IntParam, ParamError, Signals, Strategy


class Calendar(Strategy):
    name = "calendar"
    period = IntParam(5, "cycle length in bars", low=2, high=12)
    phase = IntParam(0, "the bar of the cycle to hold", low=0, high=11)

    def validate(self) -> None:
        if self.phase >= self.period:
            raise ParamError(f"strategy {self.name}: phase ({self.phase}) must be below period "
                             f"({self.period})")

    @property
    def lookback(self) -> int:
        return 1

    def signals(self, candles: CandleSeries) -> Signals:
        bar = candles.ts // timeframe_ms(candles.timeframe)
        return Signals(np.where((bar + 1) % self.period == self.phase, 1.0, 0.0))
