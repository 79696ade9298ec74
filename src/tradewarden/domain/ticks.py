"""Float market data onto the instrument's integer grid.

Candle prices arrive as floats; the engine and the fill model work in ticks and steps. Both engine paths
must convert identically, so this is the one place that does it: ``rint(price / tick)`` in IEEE doubles
(bit-identical in numpy and for a single value), volume rounded down to whole steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradewarden.domain.candles import Candle, CandleSeries
from tradewarden.domain.instrument import Instrument

I64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TickCandles:
    """A candle series on the instrument's grid: prices in ticks, volume in whole steps."""

    o: I64Array
    h: I64Array
    lo: I64Array
    c: I64Array
    v: I64Array


def price_to_ticks(price: float, instrument: Instrument) -> int:
    return int(np.rint(price / float(instrument.tick_size)))


def series_to_ticks(series: CandleSeries, instrument: Instrument) -> TickCandles:
    tick = float(instrument.tick_size)
    step = float(instrument.step_size)

    def px(a: npt.NDArray[np.float64]) -> I64Array:
        return np.rint(a / tick).astype(np.int64)

    return TickCandles(px(series.open), px(series.high), px(series.low), px(series.close),
                       np.floor(series.volume / step).astype(np.int64))


def candle_to_ticks(candle: Candle, instrument: Instrument) -> tuple[int, int, int, int, int]:
    """The same conversion as :func:`series_to_ticks` for one candle."""
    tick = float(instrument.tick_size)
    step = float(instrument.step_size)
    return (int(np.rint(candle.open / tick)), int(np.rint(candle.high / tick)), int(np.rint(candle.low / tick)),
            int(np.rint(candle.close / tick)), math.floor(candle.volume / step))


def prices_to_ticks(prices: npt.NDArray[np.float64] | None, n: int, instrument: Instrument) -> I64Array:
    """Stop/take-profit price arrays to ticks; NaN (none) becomes 0."""
    if prices is None:
        return np.zeros(n, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        ticks = np.rint(prices / float(instrument.tick_size))
        ticks[~np.isfinite(ticks) | (ticks < 0)] = 0
    return ticks.astype(np.int64)
