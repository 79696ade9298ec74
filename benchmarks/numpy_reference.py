"""The plain-numpy reference the backtest benchmark compares the whole `tradewarden backtest` process with.

The same job done the way a short numpy script would do it, with numpy alone: read the candle CSV, SMA
20/50 crossover (long on a cross up, flat on a cross down), market orders of 1 unit filled whole at the next
bar's open with a 0.1 % fee, the equity at every bar's close. It writes no report files, checks nothing and
ignores the volume cap on fills (the bot fills an order bigger than the bar's volume over several bars), so
it is a lower bound on what the bot does, not an equivalent program; it prints the final equity and the
number of orders so that the benchmark can show the two compute nearly the same result.
Run: python benchmarks/numpy_reference.py candles.csv [fast slow]
"""

from __future__ import annotations

import sys

import numpy as np


def _sma(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of each window of ``k``, summed in window order (as the bot does, so crossings match exactly)."""
    out = np.full(x.shape[0], np.nan)
    total = x[: x.shape[0] - k + 1].copy()
    for j in range(1, k):
        total += x[j : x.shape[0] - k + 1 + j]
    out[k - 1 :] = total / k
    return out


def main() -> None:
    path = sys.argv[1]
    fast_n, slow_n = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (20, 50)
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    open_, close = data[:, 1], data[:, 4]
    n = close.shape[0]
    fast, slow = _sma(close, fast_n), _sma(close, slow_n)
    above = fast > slow
    below = fast < slow
    up = np.zeros(n, dtype=bool)
    down = np.zeros(n, dtype=bool)
    up[1:] = above[1:] & ~above[:-1] & ~np.isnan(slow[:-1])
    down[1:] = below[1:] & ~below[:-1] & ~np.isnan(slow[:-1])
    # the wanted position after each bar: the last crossing's direction (long 1, flat 0), held forward
    signal = np.where(up, 1, np.where(down, 0, -1))
    last = np.maximum.accumulate(np.where(signal >= 0, np.arange(n), -1))
    wanted = np.where(last >= 0, signal[np.maximum(last, 0)], 0)
    held = np.zeros(n, dtype=np.int64)
    held[1:] = wanted[:-1]                      # an order at bar i's close fills at bar i+1's open
    traded = np.diff(held, prepend=0)
    cash = 100_000_000.0 - np.cumsum(traded * open_ + np.abs(traded) * open_ * 0.001)
    equity = cash + held * close
    print(f"final equity {equity[-1]:.2f}, {int(np.count_nonzero(traded))} orders")


if __name__ == "__main__":
    main()
