"""Portfolio backtest: 50 symbols × one year of 1h candles (438,000 candles, generated from a seed) on one
account with one cash balance, donchian on each, 2 % of the equity per entry.

Prints the whole `tradewarden backtest --symbols ...` process (start-up, loading 50 files, aligning them, the
compiled portfolio loop, every report file) as wall time and peak memory, warm (kernels cached), best of 3.
Run: python benchmarks/bench_portfolio.py [--python /path/to/python]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import write_csv

HOUR = 3_600_000
SYMBOLS = 50
BARS = 8_760

_MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def synthetic_hours(n: int, seed: int, start_price: float, start_ms: int = 1_672_531_200_000) -> np.ndarray:
    """(n, 6): timestamp, open, high, low, close, volume of a seeded random walk, prices on a 0.01 grid."""
    rng = np.random.default_rng(seed)
    close = np.round(start_price * np.exp(np.cumsum(rng.normal(0.0, 0.008, n))), 2)
    open_ = np.concatenate(([round(start_price, 2)], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 0.004, (2, n))) * close
    high = np.round(np.maximum(open_, close) + wiggle[0], 2)
    low = np.round(np.maximum(np.minimum(open_, close) - wiggle[1], 0.01), 2)
    volume = np.round(rng.gamma(2.0, 500.0, n), 5)
    ts = start_ms + np.arange(n, dtype=np.int64) * HOUR
    return np.column_stack((ts, open_, high, low, close, volume))


def write_data(root: Path) -> list[str]:
    symbols = []
    for k in range(SYMBOLS):
        base = f"S{k:02d}"
        write_csv(root / f"{base}USDT-1h-2023.csv", synthetic_hours(BARS, 1000 + k, 50.0 + 40.0 * k))
        symbols.append(f"{base}/USDT")
    return symbols


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        symbols = write_data(data)
        env = {**os.environ, "TRADEWARDEN_DATA_DIR": str(root / "home"), "XDG_DATA_HOME": str(root / "home")}
        cmd = [args.python, "-m", "tradewarden.cli.main", "backtest", "--symbols", ",".join(symbols),
               "--data", str(data), "--timeframe", "1h", "--set", "backtest.equity_fraction=0.02",
               "--out", str(root / "run")]
        subprocess.run(cmd, check=True, capture_output=True, env=env)  # compiles and caches the kernels
        runs = []
        for _ in range(3):
            res = subprocess.run([args.python, "-c", _MEASURE, *cmd], check=True, capture_output=True, text=True,
                                 env=env)
            seconds, rss_kb = res.stdout.split()
            runs.append((float(seconds), int(rss_kb) / 1024))
        best = min(runs)
        events = sum(1 for _ in (root / "run" / "events.jsonl").open())
        print(f"portfolio backtest {SYMBOLS} symbols x {BARS} 1h candles ({SYMBOLS * BARS:,} candles): "
              f"whole process {best[0]:.2f} s, peak RSS {max(r[1] for r in runs):.0f} MB, {events:,} events")


if __name__ == "__main__":
    main()
