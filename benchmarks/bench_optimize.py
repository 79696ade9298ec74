"""Optimizer speed: 500 trials of sma_cross on one year of 1h candles (the bundled sample's 2021) with
walk-forward validation (5 rolling windows, 20% holdout), on the default SQLite storage, with 1 and 2
worker processes. Prints wall time and trials per second for each (the time includes spawning the second
worker, which loads the numba kernels from the disk cache).

Run: python benchmarks/bench_optimize.py [--trials 500] [--strategy sma_cross] [--storage URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from tradewarden.optimize.study import OptimizeJob, make_storage, prepare, run_parallel, run_trials

YEAR_2021 = (1609459200000, 1640995200000)


def bench(strategy: str, trials: int, jobs: int, storage: str) -> tuple[float, int]:
    job = OptimizeJob(strategy=strategy, study_name=f"bench-{uuid.uuid4().hex[:8]}", storage=storage,
                      start_ms=YEAR_2021[0], end_ms=YEAR_2021[1], trials=trials, seed=1)
    prepared = prepare(job)
    start = time.perf_counter()
    if jobs == 1:
        run_trials(prepared)
    else:
        run_parallel(prepared, jobs)
    elapsed = time.perf_counter() - start
    import optuna

    done = len(optuna.load_study(study_name=job.study_name, storage=make_storage(storage)).get_trials())
    return elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--strategy", default="sma_cross")
    parser.add_argument("--storage", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.storage or str(Path(tmp) / "studies.db")
        warm = OptimizeJob(strategy=args.strategy, study_name="warm-up", storage=str(Path(tmp) / "warm.db"),
                           start_ms=YEAR_2021[0], end_ms=YEAR_2021[1], trials=2)
        run_trials(prepare(warm))  # compile / load the kernels once, outside the timings
        kind = "SQLite" if "://" not in storage else storage.split(":")[0]
        print(f"{args.trials} trials of {args.strategy} on 2021 1h candles (8,760 bars), 5 walk-forward "
              f"windows + 20% holdout, storage {kind}")
        for jobs in (1, 2):
            elapsed, done = bench(args.strategy, args.trials, jobs, storage)
            print(f"  jobs={jobs}: {done} trials in {elapsed:.1f} s = {done / elapsed:.1f} trials/s")


if __name__ == "__main__":
    main()
