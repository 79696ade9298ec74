import math

import numpy as np
import pytest

from tradewarden.strategies.indicators import (
    atr,
    crossover_targets,
    rolling_max,
    rolling_min,
    rsi,
    sma,
    sma_crossover_targets,
    true_range,
)

X = np.array([1.0, 2.0, 4.0, 8.0, 16.0])


def test_sma_by_hand() -> None:
    out = sma(X, 3)
    assert math.isnan(out[0]) and math.isnan(out[1])
    assert out[2:].tolist() == [7 / 3, 14 / 3, 28 / 3]


def test_rolling_extremes_by_hand() -> None:
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    assert rolling_max(x, 3)[2:].tolist() == [4.0, 4.0, 5.0, 9.0, 9.0]
    assert rolling_min(x, 3)[2:].tolist() == [1.0, 1.0, 1.0, 1.0, 2.0]


def test_true_range_and_atr_by_hand() -> None:
    high = np.array([10.0, 12.0, 11.0, 15.0])
    low = np.array([8.0, 9.0, 7.0, 12.0])
    close = np.array([9.0, 11.0, 8.0, 14.0])
    # bar1: max(3, |12-9|=3, |9-9|=0) = 3; bar2: max(4, |11-11|=0, |7-11|=4) = 4; bar3: max(3, |15-8|=7, |12-8|=4) = 7
    tr = true_range(high, low, close)
    assert math.isnan(tr[0]) and tr[1:].tolist() == [3.0, 4.0, 7.0]
    a = atr(high, low, close, 2)
    assert math.isnan(a[1]) and a[2:].tolist() == [3.5, 5.5]


def test_rsi_by_hand() -> None:
    close = np.array([10.0, 11.0, 10.5, 11.5, 11.0])
    # changes: +1, -0.5, +1, -0.5 ; period 3 at bar 3: gains 2, losses 0.5 -> RS 4 -> 80
    out = rsi(close, 3)
    assert out[3] == pytest.approx(80.0, abs=1e-12)
    # bar 4: changes -0.5, +1, -0.5 -> gains 1, losses 1 -> 50
    assert out[4] == pytest.approx(50.0, abs=1e-12)
    assert rsi(np.array([1.0, 2.0, 3.0, 4.0]), 3)[3] == 100.0
    assert rsi(np.array([1.0, 1.0, 1.0, 1.0]), 3)[3] == 50.0


def test_crossover_by_hand() -> None:
    fast = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    slow = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
    t = crossover_targets(fast, slow)
    assert np.isnan(t[[0, 1, 3]]).all()
    assert t[2] == 1.0 and t[4] == -1.0


def test_windowed_values_do_not_depend_on_history_before_the_window() -> None:
    rng = np.random.default_rng(3)
    x = 100 + np.cumsum(rng.normal(size=500))
    full = sma(x, 20)
    part = sma(x[300:], 20)
    assert np.array_equal(full[319:], part[19:])  # bit-identical, not just close
    assert np.array_equal(rsi(x, 14)[314:], rsi(x[300:], 14)[14:])


@pytest.mark.parametrize("n", [1, 2, 19, 20, 49, 50, 51, 4000])
@pytest.mark.parametrize(("fast", "slow"), [(2, 5), (20, 50), (3, 4)])
def test_fused_sma_crossover_is_bit_identical_to_the_two_averages(n: int, fast: int, slow: int) -> None:
    rng = np.random.default_rng(n * 100 + fast)
    x = np.round(100 + np.cumsum(rng.normal(0, 0.3, n)), 2)  # a 0.01 grid: averages often tie exactly
    if n > 100:
        x[60] = np.nan  # a hole: both ways skip the bars whose windows hold it
    expected = crossover_targets(sma(x, fast), sma(x, slow))
    assert np.array_equal(sma_crossover_targets(x, fast, slow), expected, equal_nan=True)
    if n == 4000:
        assert np.count_nonzero(~np.isnan(expected)) > 50
