"""Time to compute the metrics and write every backtest report for one year of 1-minute bars.

Synthetic data: 525,600 bars of a random-walk close and 10,000 round-trip trades. Prints the time of each
step (median of a few runs, after one warm-up run that loads the compiled CSV formatter) and file sizes.

    python benchmarks/bench_reports.py [--bars 525600] [--trades 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
from rich.console import Console

from tradewarden.backtest.metrics import Trade, compute_metrics
from tradewarden.backtest.reports import (
    drawdown_pct,
    print_summary,
    write_equity_csv,
    write_summary_html,
    write_summary_json,
    write_trades_csv,
)
from tradewarden.strategies.indicators import sma

START_MS = 1_672_531_200_000   # 2023-01-01
MINUTE = 60_000


def synthetic(bars: int, n_trades: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Trade]]:
    rng = np.random.default_rng(7)
    ts = START_MS + np.arange(bars, dtype=np.int64) * MINUTE
    close = np.round(20_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, bars))), 2)
    equity = np.round(10_000 * np.exp(np.cumsum(rng.normal(0.000001, 0.0004, bars))), 8)
    trades: list[Trade] = []
    per = bars // n_trades
    for k in range(n_trades):
        i, j = k * per, k * per + max(per // 2, 1)
        entry, exit_ = Decimal(f"{close[i]:.2f}"), Decimal(f"{close[j]:.2f}")
        qty = Decimal("0.05")
        fees = ((entry + exit_) * qty * Decimal("0.001")).quantize(Decimal("0.00000001"))
        trades.append(Trade("BTC/USDT", "long", int(ts[i]), int(ts[j]), entry, exit_, qty,
                            (exit_ - entry) * qty - fees, fees, "signal"))
    return ts, close, equity, trades


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(min, median) in ms; the machine is shared, so the minimum is the cleaner figure."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=525_600)
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path.cwd(),
                        help="where to write (a temporary folder inside it, removed afterwards unless "
                             "--keep); the file system matters: on the reference machine /tmp writes 20 MB "
                             "in ~80 ms, /work in ~6 ms")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    args = parser.parse_args()
    ts, close, equity, trades = synthetic(args.bars, args.trades)
    fees = sum((t.fees for t in trades), Decimal(0))
    out = Path(tempfile.mkdtemp(prefix="bench-reports-", dir=args.dir))
    info = {"mode": "backtest", "symbol": "BTC/USDT", "timeframe": "1m", "strategy": {"name": "synthetic"}}

    # A backtest has run compiled code before it writes reports, so numba is initialised by then; do the
    # same here (with a project kernel) and then time the first call of the CSV formatter on its own.
    t = time.perf_counter()
    sma(np.ones(10), 3)
    numba_init = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    write_equity_csv(out / "warmup.csv", ts[:10], equity[:10])
    first_call = (time.perf_counter() - t) * 1000

    def metrics() -> dict[str, dict[str, object]]:
        return compute_metrics(ts, equity, trades, fees, args.bars // 2, MINUTE, Decimal(10_000))

    m = metrics()
    steps: dict[str, Callable[[], object]] = {
        "compute_metrics": metrics,
        "drawdown_pct": lambda: drawdown_pct(equity, 10_000.0),
        "trades.csv": lambda: write_trades_csv(out / "trades.csv", trades),
        "equity.csv": lambda: write_equity_csv(out / "equity.csv", ts, equity,
                                               drawdown_pct(equity, 10_000.0)),
        "summary.json": lambda: write_summary_json(out / "summary.json", m, info),
        "summary.html": lambda: write_summary_html(out / "summary.html", title="synthetic BTC/USDT 1m", ts=ts,
                                                   close=close, equity=equity, trades=trades, metrics=m,
                                                   run_info=info),
        "terminal table": lambda: print_summary(Console(file=io.StringIO(), width=120), m, "synthetic"),
    }
    print(f"{args.bars:,} bars, {len(trades):,} trades, {args.runs} runs each; writing in {out}")
    print(f"  numba start-up (first compiled call in the process, paid by the engine): {numba_init:7.1f} ms")
    print(f"  first call of the compiled CSV formatter after that (cache load): {first_call:7.1f} ms")
    results = {name: timed(fn, args.runs) for name, fn in steps.items()}
    print(f"  {'step':<16} {'min':>8} {'median':>9}")
    for name, (best, median) in results.items():
        size = out / name
        extra = f"  {size.stat().st_size / 1e6:6.2f} MB" if size.exists() else ""
        print(f"  {name:<16} {best:6.1f} ms {median:6.1f} ms{extra}")
    for label, keys in (("equity.csv + summary.json + summary.html (incl. drawdown)",
                         ("drawdown_pct", "equity.csv", "summary.json", "summary.html")),
                        ("all of the above", tuple(results))):
        best = sum(results[k][0] for k in keys)
        median = sum(results[k][1] for k in keys)
        print(f"  {label}: {best:.1f} ms (sum of minima), {median:.1f} ms (sum of medians)")
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
