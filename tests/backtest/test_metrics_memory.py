"""The per-bar metric series hold one new array beside their result, not a shifted or temporary copy of
the equity curve (a year of minutes is 4 MB per copy; the whole backtest process must stay within its
memory budget). Measured with tracemalloc, which counts numpy's buffers: a byte count, not a timing."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from tradewarden.backtest.metrics import drawdown_pct, per_bar_returns

N = 200_000


def _peak_in_equity_copies(fn: Callable[[], npt.NDArray[np.float64]], equity: npt.NDArray[np.float64]) -> float:
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.shape == equity.shape
    return peak / equity.nbytes


@pytest.fixture
def equity() -> npt.NDArray[np.float64]:
    return 1000.0 + np.cumsum(np.random.default_rng(7).normal(0.0, 1.0, N))


def test_per_bar_returns_makes_no_shifted_copy(equity: npt.NDArray[np.float64]) -> None:
    # the result (1 copy) and two boolean masks (1/8 each); a shifted copy of the equity made it 2.13
    assert _peak_in_equity_copies(lambda: per_bar_returns(equity, 1000.0), equity) < 1.5


def test_drawdown_is_built_in_its_running_peak(equity: npt.NDArray[np.float64]) -> None:
    # the result is the running-peak array itself, plus two masks; a separate output made it 2.13
    assert _peak_in_equity_copies(lambda: drawdown_pct(equity, 1000.0), equity) < 1.5
