"""Backtest speed and memory: sma_cross (20/50, fee 0.1%, fixed 1 BTC) on one year of 1-minute candles
(525,600, generated from a seed) and on one year of real 1h candles.

Prints, for each: the whole `tradewarden backtest` process (start-up, data load, run, all reports) as wall
time and peak memory, and the engine core (the compiled loop once warm) in candles per second. For the
one-minute year it also times a plain-numpy reference of the same strategy (benchmarks/numpy_reference.py:
load, signals, fills, equity; no checks, no reports) as a whole process the same way, and prints the ratio.
Every time is the best of several runs (the machine may be shared); the load average is printed with them.
Run: python benchmarks/bench_backtest.py [--python /path/to/clean/venv/bin/python] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import synthetic_minutes, write_csv

from tradewarden.backtest.core import simulate_batch
from tradewarden.backtest.fast import run_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.ticks import prices_to_ticks
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARGS = ["--strategy", "sma_cross", "--param", "fast=20", "--param", "slow=50", "--set", "backtest.sizing=fixed",
        "--set", "backtest.fixed_qty=1", "--set", "backtest.fee_taker_bps=10", "--set", "backtest.slippage_bps=0",
        "--set", "backtest.volume_fraction=1", "--set", "backtest.initial_cash=100000000"]


_MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def whole_process(data: Path, timeframe: str, out: Path, python: str, runs: int) -> tuple[float, float]:
    """Best wall time (s) and peak RSS (MB) of one `tradewarden backtest` process, warm (kernels cached).

    Bytecode writing is allowed in the child (a user's normal setting), so imports are not recompiled
    on every start, and each run is measured on its own, so the first (compiling) run does not count.
    """
    cmd = [python, "-m", "tradewarden.cli.main", "backtest", "--data", str(data), "--timeframe", timeframe,
           "--out", str(out), *ARGS]
    subprocess.run(cmd, check=True, capture_output=True, env=_ENV)  # compiles and caches the kernels
    # a fresh run directory each time: the journal appends, and a resumed run is not what is measured
    return _best_of(cmd, python, runs, before=lambda: shutil.rmtree(out, ignore_errors=True))


def reference(data: Path, python: str, runs: int) -> tuple[float, float, str]:
    """Best wall time (s), its peak RSS (MB) and the printed result of the plain-numpy reference process."""
    cmd = [python, str(Path(__file__).parent / "numpy_reference.py"), str(data)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True, env=_ENV).stdout.strip()
    seconds, peak = _best_of(cmd, python, runs)
    return seconds, peak, result


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _best_of(cmd: list[str], python: str, runs: int, before: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """Each run measured in its own parent process, so the peak RSS is that run's own."""
    best, peak = float("inf"), 0.0
    for _ in range(runs):
        before()
        res = subprocess.run([python, "-c", _MEASURE, *cmd], check=True, capture_output=True, text=True, env=_ENV)
        seconds, kb = res.stdout.split()
        if float(seconds) < best:
            best, peak = float(seconds), int(kb) / 1024
    return best, peak


def engine_core(data: Path, timeframe: str) -> tuple[int, float, float]:
    """(candles, best seconds, candles per second) of the compiled loop alone, warm."""
    series = load_candles(data, timeframe=timeframe)
    inst = Instrument.default_spot("BTC/USDT")
    settings = BacktestSettings(initial_cash=Decimal(100_000_000), sizing="fixed", fixed_qty=Decimal(1),
                                fill=FillSettings(slippage_bps=Decimal(0), volume_fraction=1.0))
    strategy = load_strategy("sma_cross", {"fast": 20, "slow": 50})
    sig = strategy.signals(series)
    zeros = prices_to_ticks(None, len(series), inst)
    args = (series.open, series.high, series.low, series.close, series.volume, float(inst.tick_size),
            float(inst.step_size), sig.target, zeros, zeros, settings.fill_params(), settings.sizing_array(inst),
            inst.to_atoms(settings.initial_cash))
    run_batch(*args)
    best = min(_timed(lambda: run_batch(*args)) for _ in range(10))
    full = min(_timed(lambda: simulate_batch(series, strategy, settings, inst, check_lookahead=False))
               for _ in range(3))
    print(f"    signals+loop+trades (no reports): {full * 1000:.1f} ms")
    return len(series), best, len(series) / best


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the environment to time the whole process in (e.g. a clean venv)")
    parser.add_argument("--runs", type=int, default=5, help="runs per whole-process figure; the best counts")
    args = parser.parse_args()
    print(f"load average before: {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        minute_file = write_csv(Path(tmp) / "BTCUSDT-1m-synthetic.csv", synthetic_minutes())
        jobs = [("1 year of 1m candles (synthetic, seed 42)", minute_file, "1m")]
        hourly = SHARED / "BTCUSDT-1h-2017-08-17_2022-12-31.csv"
        if hourly.exists():
            year = Path(tmp) / "BTCUSDT-1h-2022.csv"
            series = load_candles(hourly).between(1640995200000, 1672531200000)
            rows = np.column_stack((series.ts, series.open, series.high, series.low, series.close, series.volume))
            write_csv(year, rows)
            jobs.append(("1 year of 1h candles (real, 2022)", year, "1h"))
        for title, path, tf in jobs:
            print(title)
            n, loop_s, rate = engine_core(path, tf)
            print(f"    engine core, warm: {n:,} candles in {loop_s * 1000:.2f} ms = {rate / 1e6:.1f} M candles/s")
            wall, peak = whole_process(path, tf, Path(tmp) / f"run-{tf}", args.python, args.runs)
            print(f"    whole `tradewarden backtest` process: {wall:.2f} s, peak memory {peak:.0f} MB")
            if tf == "1m":
                ref_s, ref_mb, result = reference(path, args.python, args.runs)
                print(f"    plain-numpy reference process: {ref_s:.2f} s, peak memory {ref_mb:.0f} MB ({result})")
                print(f"    ratio whole process / reference: {wall / ref_s:.1f}x")
    print(f"load average after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
