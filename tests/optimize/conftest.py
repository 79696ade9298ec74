"""Fixtures for the optimizer tests: synthetic candles with a known best parameter set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tradewarden.domain.candles import CandleSeries

HOUR = 3_600_000
STRATEGY_FILE = Path(__file__).with_name("calendar_strategy.py")
BASE_BAR = 7 * 60_000  # the first bar number is a multiple of 7, so bar i is i modulo 7


def calendar_series(n: int, up_phase: Callable[[int], int], period: int = 7, gain: float = 0.01,
                    drift: float = -0.002) -> CandleSeries:
    """Hourly candles that rise by ``gain`` on bars whose number is ``up_phase(i)`` modulo ``period`` and fall
    by ``drift`` on every other bar; each bar opens at the previous close. Holding exactly the rising bars
    (calendar strategy with that period and phase) is the best any parameter set can do."""
    bars = np.arange(n, dtype=np.int64)
    number = BASE_BAR + bars
    rising = np.array([int(number[i] % period) == up_phase(i) for i in range(n)])
    factor = np.where(rising, 1.0 + gain, 1.0 + drift)
    close = 20_000.0 * np.cumprod(factor)
    open_ = np.empty(n)
    open_[0] = 20_000.0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * 1.0001
    low = np.minimum(open_, close) * 0.9999
    volume = np.full(n, 1_000.0)
    return CandleSeries(number * HOUR, open_, high, low, close, volume, "BTC/USDT", "1h")


def write_csv(path: Path, series: CandleSeries) -> Path:
    rows = np.column_stack((series.ts, series.open, series.high, series.low, series.close, series.volume))
    with path.open("w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for r in rows:
            fh.write(f"{int(r[0])},{r[1]:.2f},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f}\n")
    return path


@pytest.fixture
def strategy_file() -> str:
    return str(STRATEGY_FILE)


@pytest.fixture
def steady() -> CandleSeries:
    """1,400 bars where phase 3 of period 7 rises throughout."""
    return calendar_series(1400, lambda i: 3)


@pytest.fixture
def regime_change() -> CandleSeries:
    """1,400 bars: phase 3 rises for the first 70%, phase 5 afterwards (the holdout is all phase 5)."""
    return calendar_series(1400, lambda i: 3 if i < 980 else 5)
