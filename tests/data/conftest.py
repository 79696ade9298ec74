"""Fixtures shared by the data tests: candle builders, and the real servers (Redis, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tradewarden.domain.candles import CandleSeries, timeframe_ms

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def make_series(
    n: int,
    start: int = T0,
    timeframe: str = "1m",
    symbol: str = "BTC/USDT",
    seed: int = 0,
    base: float = 40_000.0,
) -> CandleSeries:
    """``n`` consistent candles (low <= open/close <= high) on the timeframe grid from ``start``."""
    rng = np.random.default_rng(seed)
    step = timeframe_ms(timeframe)
    close = base + np.cumsum(rng.normal(0, 5, n))
    open_ = np.concatenate(([base], close[:-1]))
    high = np.maximum(open_, close) + rng.random(n)
    low = np.minimum(open_, close) - rng.random(n)
    ts = start + np.arange(n, dtype=np.int64) * step
    return CandleSeries(ts, open_, high, low, close, rng.random(n) * 10, symbol, timeframe)


@pytest.fixture
def mk() -> Callable[..., CandleSeries]:
    """``make_series`` as a fixture (test modules are imported by path, so they cannot import helpers)."""
    return make_series
