"""Live feed at scale: one process follows N symbols of 1-minute candles from the simulator (accelerated).

The simulator runs in a child process (so its CPU is not counted as ours) replaying the shared BTC/USDT 1m
file for every symbol (price-scaled) at ``--speed`` times real time. This process runs one ``CcxtFeed``
(one WebSocket for all symbols) and records, for every closed candle, how long after its close on the
simulator's clock it was delivered. The simulator clock is mapped to this machine's monotonic clock by
sampling ``/_sim/time`` (both processes share CLOCK_MONOTONIC).

Run: ``python benchmarks/bench_feed.py [--symbols 100] [--speed 60] [--seconds 30]``; prints latency
percentiles, candles missing or doubled, CPU seconds and peak memory of this process. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "BTCUSDT-1m-2024-04-02_2024-04-07.csv"


def serve(symbols: int, speed: float) -> None:
    """Child process: run the simulator until stdin closes."""
    from tradewarden.simulator.testing import start_simulator

    names = ["BTC/USDT"] + [f"C{i:03d}/USDT" for i in range(1, symbols)]
    data = DATA if DATA.exists() else None
    with start_simulator(data=data, symbols=names, speed=speed, seed=1, start_index=200) as sim:
        print(
            json.dumps(
                {"base_url": sim.base_url, "key": sim.api_key, "secret": sim.secret, "symbols": names}
            ),
            flush=True,
        )
        sys.stdin.read()


def sim_time(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/_sim/time", timeout=5) as resp:
        return int(json.loads(resp.read())["now_ms"])


def calibrate(base_url: str, speed: float) -> tuple[float, int]:
    """(monotonic seconds, sim ms) of one instant, median of several samples."""
    ref = sim_time(base_url)
    wall0 = []
    for _ in range(15):
        t0 = time.monotonic()
        n = sim_time(base_url)
        t1 = time.monotonic()
        wall0.append((t0 + t1) / 2 - (n - ref) / 1000 / speed)
    return statistics.median(wall0), ref


async def follow(info: dict[str, Any], speed: float, seconds: float) -> None:
    import ccxt.pro

    from tradewarden.data.feed_ccxt import CcxtFeed, FeedSettings
    from tradewarden.simulator.client_config import ccxt_config

    base_url = info["base_url"]
    exchange = ccxt.pro.binance(ccxt_config(base_url, info["key"], info["secret"]))
    feed = CcxtFeed(exchange, settings=FeedSettings(heartbeat_s=10))
    arrivals: dict[tuple[str, int], float] = {}  # (market id, open time) -> when its final frame arrived
    guarded = exchange.handle_message

    def timed(client: Any, message: Any) -> Any:
        k = message.get("k") if isinstance(message, dict) else None
        if isinstance(k, dict) and k.get("x"):
            arrivals[(k["s"], k["t"])] = time.monotonic()
        return guarded(client, message)

    exchange.handle_message = timed
    await exchange.load_markets()
    mono0, sim0 = await asyncio.to_thread(calibrate, base_url, speed)
    step = 60_000
    latencies: list[float] = []
    wire: list[float] = []  # close -> final frame arrival (simulator and network)
    seen: dict[str, list[int]] = {}
    start_ms = sim0 - sim0 % step - step  # the last candle closed at calibration

    async def consume(symbol: str) -> None:
        got = seen.setdefault(symbol, [])
        async for candle in feed.closed_candles(symbol, "1m", after_ms=start_ms):
            close_mono = mono0 + (candle.ts + step - sim0) / 1000 / speed
            latencies.append((time.monotonic() - close_mono) * 1000)
            arrived = arrivals.pop((symbol.replace("/", ""), candle.ts), None)
            if arrived is not None:
                wire.append((arrived - close_mono) * 1000)
            got.append(candle.ts)

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    tasks = [asyncio.create_task(consume(s)) for s in info["symbols"]]
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    await feed.close()
    for t in tasks:
        t.cancel()
    counts = [len(v) for v in seen.values()]
    doubled = sum(len(v) - len(set(v)) for v in seen.values())
    gaps = sum(sum(1 for a, b in itertools.pairwise(v) if b - a != step) for v in seen.values())
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(
        f"symbols {len(info['symbols'])}, speed x{speed:g} (a 1m candle every {60 / speed:.2f} s a symbol), "
        f"{elapsed:.1f} s"
    )
    print(
        f"candles delivered: {len(lat)} ({min(counts)}..{max(counts)} per symbol); doubled: {doubled}; "
        f"out of sequence: {gaps}; rejected messages: {feed.rejected}"
    )
    print(
        f"latency after close (ms): p50 {pct(0.5):.1f}  p90 {pct(0.9):.1f}  p99 {pct(0.99):.1f}  "
        f"max {lat[-1] if lat else float('nan'):.1f}; within 100 ms: "
        f"{sum(1 for x in lat if x <= 100) / max(1, len(lat)):.1%}"
    )
    wire.sort()
    if wire:
        print(
            f"  of which close -> final kline frame received (simulator + network): "
            f"p50 {wire[len(wire) // 2]:.1f}  p99 {wire[int(0.99 * len(wire))]:.1f} ({len(wire)} frames)"
        )
    print(
        f"CPU: {cpu:.2f} s over {elapsed:.1f} s ({cpu / elapsed:.0%} of one core); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.symbols, args.speed)
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--symbols", str(args.symbols), "--speed", str(args.speed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        asyncio.run(follow(info, args.speed, args.seconds))
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(30)


if __name__ == "__main__":
    main()
