"""Runtime figures: candle close to order arrival at the exchange, and memory over a long paper session.

1. Latency: a live session against the exchange simulator (1m candles, x120), with a strategy that trades
   often. For every order, the time from the close of the candle that caused it to the order's arrival at
   the simulator, both on the simulator's clock, converted to real milliseconds. Prints median and p99.
2. Memory: a paper session over 30 simulated days (1h candles from the bundled sample, accelerated);
   the process's resident memory after warm-up and at the end.

Run: python benchmarks/bench_runtime.py
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path, sample_path
from tradewarden.runtime.session import RunOptions, run_session
from tradewarden.simulator.testing import start_simulator

SPEED = 120.0


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def latency(tmp: Path) -> None:
    with start_simulator(data=sample_1m_path(), speed=SPEED, seed=2, start_index=120, fee_rate="0",
                         balances={"USDT": "1000000", "BTC": "0"}) as sim:
        conf = sim.ccxt_config()
        cfg_file = tmp / "live.yaml"
        exchange = {"id": "binance", "urls": conf["urls"], "options": conf["options"]}
        cfg_file.write_text(json.dumps({"exchange": exchange}))
        overrides = {"strategy.name": "sma_cross", "strategy.params.fast": "2", "strategy.params.slow": "5",
                     "market.timeframe": "1m", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.01",
                     "runtime.warmup_bars": "20"}
        env = dict(os.environ, LIVE_TRADING="YES_I_UNDERSTAND", TRADEWARDEN_DATA_DIR=str(tmp / "data-live"),
                   TRADEWARDEN_EXCHANGE__API_KEY=sim.api_key, TRADEWARDEN_EXCHANGE__API_SECRET=sim.secret)
        hash_ = config_hash(load_config(cfg_file, overrides, env=env))
        out = tmp / "live"
        run_session(RunOptions(mode="live", config=cfg_file, overrides=overrides, duration="90m", live_confirm=hash_,
                               out_dir=out, env=env), console_print=lambda _m: None)
        arrivals = [r["sim_ms"] for r in sim.requests_log() if r["method"] == "POST" and r["path"].endswith("/order")]
    placed = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    decided = [e["ts"] for e in placed if e["type"] == "OrderPlaced"]  # the candle's close, simulator clock
    n = min(len(arrivals), len(decided))
    real_ms = np.array([(a - d) / SPEED for a, d in zip(arrivals[:n], decided[:n], strict=True)])
    print(f"candle close -> order at the exchange, {n} orders: median {np.median(real_ms):.1f} ms, "
          f"p99 {np.percentile(real_ms, 99):.1f} ms, max {real_ms.max():.1f} ms (real time)")


def memory(tmp: Path) -> None:
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.wait(0.5):
            samples.append((time.monotonic() - start, rss_mb()))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    env = dict(os.environ, TRADEWARDEN_DATA_DIR=str(tmp / "data-paper"))
    overrides = {"runtime.sim_data": str(sample_path()), "market.timeframe": "1h", "runtime.sim_speed": "20000",
                 "runtime.sim_fire_drill": "false"}
    t0 = time.monotonic()
    outcome = run_session(RunOptions(mode="paper", overrides=overrides, duration="30d", out_dir=tmp / "paper",
                                     env=env), console_print=lambda _m: None)
    stop.set()
    thread.join()
    wall = time.monotonic() - t0
    after_warmup = [m for t, m in samples if t > 10.0] or [m for _, m in samples]
    print(f"paper session over 30 simulated days ({outcome.candles} candles of 1h in {wall:.0f} s): "
          f"RSS after warm-up {after_warmup[0]:.0f} MB, at the end {samples[-1][1]:.0f} MB, "
          f"growth {samples[-1][1] - after_warmup[0]:+.1f} MB")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        latency(Path(tmp))
        memory(Path(tmp))


if __name__ == "__main__":
    main()
