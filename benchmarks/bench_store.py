"""Candle store formats: load time of one year of 1-minute candles for one symbol, write time, disk size.

Compares what the embedded store could be built on: Parquet (zstd, snappy), Arrow IPC / feather
(uncompressed, lz4, zstd) and SQLite (one row per candle, read with ``fetchall``), then measures the store
the project actually uses (``ArrowCandleStore``, monthly partitions, through its public ``load``).
Prices are a real-looking random walk on the 0.01 tick, so compression behaves like it does on real data.

Run: ``python benchmarks/bench_store.py`` (prints a table; nothing is asserted).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from tradewarden.data.store_arrow import ArrowCandleStore
from tradewarden.domain.candles import CandleSeries

N = 525_600  # one year of 1-minute candles
T0 = 1_704_067_200_000


def year_of_candles() -> CandleSeries:
    rng = np.random.default_rng(42)
    close = np.round(40_000 + np.cumsum(rng.normal(0, 8, N)), 2)
    open_ = np.concatenate(([40_000.0], close[:-1]))
    high = np.round(np.maximum(open_, close) + rng.exponential(5, N), 2)
    low = np.round(np.minimum(open_, close) - rng.exponential(5, N), 2)
    volume = np.round(rng.gamma(2.0, 3.0, N), 5)
    ts = T0 + np.arange(N, dtype=np.int64) * 60_000
    return CandleSeries(ts, open_, high, low, close, volume, "BTC/USDT", "1m")


def best_of(fn: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main() -> None:
    s = year_of_candles()
    table = pa.table(
        {"ts": s.ts, "open": s.open, "high": s.high, "low": s.low, "close": s.close, "volume": s.volume}
    )
    cols = ("ts", "open", "high", "low", "close", "volume")
    rows: list[tuple[str, float, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for comp in ("zstd", "snappy"):
            p = d / f"year-{comp}.parquet"
            w, _ = best_of(lambda p=p, comp=comp: pq.write_table(table, p, compression=comp), 3)
            lo, med = best_of(lambda p=p: [pq.read_table(p).column(c).to_numpy() for c in cols])
            rows.append((f"parquet {comp}", w, lo, med, size_of(p)))
        for comp in (None, "lz4", "zstd"):
            p = d / f"year-{comp}.arrow"

            def write(p: Path = p, comp: str | None = comp) -> None:
                with ipc.new_file(p, table.schema, options=ipc.IpcWriteOptions(compression=comp)) as f:
                    f.write_table(table)

            w, _ = best_of(write, 3)
            lo, med = best_of(
                lambda p=p: [
                    ipc.open_file(pa.memory_map(str(p))).read_all().column(c).to_numpy() for c in cols
                ]
            )
            rows.append((f"arrow ipc {comp or 'uncompressed'}", w, lo, med, size_of(p)))
        db = d / "year.sqlite"
        con = sqlite3.connect(db)
        con.execute(
            "CREATE TABLE c (ts INTEGER PRIMARY KEY, open REAL, high REAL, low REAL, close REAL, volume REAL)"
        )
        data = list(zip(*(getattr(s, c).tolist() for c in cols), strict=True))
        t = time.perf_counter()
        con.executemany("INSERT INTO c VALUES (?,?,?,?,?,?)", data)
        con.commit()
        w = time.perf_counter() - t

        def read_sqlite() -> None:
            got = con.execute("SELECT * FROM c ORDER BY ts").fetchall()
            arr = np.array(got, dtype=np.float64)
            _ = arr[:, 0].astype(np.int64)

        lo, med = best_of(read_sqlite, 3)
        rows.append(("sqlite rows", w, lo, med, size_of(db)))
        con.close()

        store = ArrowCandleStore(d / "store")
        t = time.perf_counter()
        store.write("binance", s)
        w = time.perf_counter() - t
        lo, med = best_of(lambda: store.load("binance", "BTC/USDT", "1m"))
        rows.append(("ArrowCandleStore.load (12 monthly files)", w, lo, med, size_of(d / "store")))
        t = time.perf_counter()
        store.write("binance", s[-1000:])
        append = time.perf_counter() - t

    print(
        f"one year of 1m candles for one symbol: {N:,} rows (python {sys.version.split()[0]}, "
        f"pyarrow {pa.__version__}, {os.cpu_count()} cpus)\n"
    )
    print(f"{'format':45s} {'write s':>8s} {'load best s':>12s} {'load median s':>14s} {'size MB':>8s}")
    for name, w, lo, med, size in rows:
        print(f"{name:45s} {w:8.3f} {lo:12.4f} {med:14.4f} {size / 1e6:8.1f}")
    print(f"\nappending 1,000 new candles to the store (rewrites one month): {append:.3f} s")
    print("target: load < 0.3 s")


if __name__ == "__main__":
    main()
