"""Deterministic synthetic candles for benchmarks: a seeded random walk with consistent OHLCV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MINUTE = 60_000


def synthetic_minutes(n: int = 525_600, seed: int = 42, start_ms: int = 1_672_531_200_000) -> np.ndarray:
    """(n, 6) array: timestamp, open, high, low, close, volume; prices on a 0.01 grid."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.0008, size=n)
    close = np.round(30_000 * np.exp(np.cumsum(returns)), 2)
    open_ = np.concatenate(([30_000.0], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 0.0004, size=(2, n))) * close
    high = np.round(np.maximum(open_, close) + wiggle[0], 2)
    low = np.round(np.minimum(open_, close) - wiggle[1], 2)
    volume = np.round(rng.gamma(2.0, 15.0, size=n), 5)
    ts = start_ms + np.arange(n, dtype=np.int64) * MINUTE
    return np.column_stack((ts, open_, high, low, close, volume))


def write_csv(path: Path, rows: np.ndarray) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({
        "timestamp": rows[:, 0].astype(np.int64),
        "open": rows[:, 1], "high": rows[:, 2], "low": rows[:, 3], "close": rows[:, 4], "volume": rows[:, 5],
    })
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
    return path
