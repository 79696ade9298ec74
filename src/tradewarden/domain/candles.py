"""Candles: one closed OHLCV bar, and a column-oriented series of them for fast paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


def timeframe_ms(timeframe: str) -> int:
    """Milliseconds in a timeframe such as ``1m`` or ``1h``; a clear error for an unknown one."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        known = ", ".join(TIMEFRAME_MS)
        raise ValueError(f"unknown timeframe {timeframe!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar. ``ts`` is the open time in UTC milliseconds; prices in quote, volume in base."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CandleSeries:
    """Candles as parallel numpy columns (open time ms, OHLC, volume), sorted by time.

    Strategies and the batch engine read these columns directly; slicing gives views, so handing a
    strategy ``series[: i + 1]`` costs nothing and cannot expose candles after ``i``.
    """

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    symbol: str = "BTC/USDT"
    timeframe: str = "1h"

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def __getitem__(self, item: slice) -> CandleSeries:
        if not isinstance(item, slice):
            raise TypeError("CandleSeries supports slicing only; use .candle(i) for one bar")
        return CandleSeries(
            self.ts[item], self.open[item], self.high[item], self.low[item], self.close[item],
            self.volume[item], self.symbol, self.timeframe,
        )

    def candle(self, i: int) -> Candle:
        return Candle(
            int(self.ts[i]), float(self.open[i]), float(self.high[i]), float(self.low[i]),
            float(self.close[i]), float(self.volume[i]),
        )

    def candle_list(self) -> list[Candle]:
        return [self.candle(i) for i in range(len(self))]

    def read_only(self) -> CandleSeries:
        """The same columns as read-only views, so a strategy cannot rewrite history."""
        def frozen(col: np.ndarray) -> np.ndarray:
            view = col.view()
            view.flags.writeable = False
            return view

        return CandleSeries(frozen(self.ts), frozen(self.open), frozen(self.high), frozen(self.low),
                            frozen(self.close), frozen(self.volume), self.symbol, self.timeframe)

    @classmethod
    def from_candles(cls, candles: list[Candle], symbol: str = "BTC/USDT", timeframe: str = "1h") -> CandleSeries:
        return cls(
            np.array([c.ts for c in candles], dtype=np.int64),
            np.array([c.open for c in candles], dtype=np.float64),
            np.array([c.high for c in candles], dtype=np.float64),
            np.array([c.low for c in candles], dtype=np.float64),
            np.array([c.close for c in candles], dtype=np.float64),
            np.array([c.volume for c in candles], dtype=np.float64),
            symbol,
            timeframe,
        )

    def between(self, start_ms: int | None, end_ms: int | None) -> CandleSeries:
        """Candles whose open time is in ``[start_ms, end_ms)``."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="left"))
        return self[lo:hi]
