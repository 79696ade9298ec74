"""Benchmark of the exchange simulator, as a ccxt.pro user sees it.

1. Streaming: 50 symbols of 1-minute klines plus trades to one ccxt.pro client (``watch_ohlcv_for_symbols``
   and ``watch_trades_for_symbols``) at several clock speeds. Prints messages/s the client handled and the
   lag between when the simulated clock says an event happened and when ccxt.pro processed it.
2. Orders: signed order round trips per second from one async ccxt client (sequential, and 8 in flight).

Data: the shared BTC/USDT 1m file when present beside the repo (else the bundled 1h sample), reused for all
50 symbols with per-symbol price scaling. The simulator runs in its own process (``tradewarden sim``), so
client and server do not share one interpreter.

    python benchmarks/bench_simulator.py [--seconds 8] [--speeds 60,300,600] [--orders 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro

from tradewarden.simulator.client_config import ccxt_config
from tradewarden.simulator.config import DEFAULT_API_KEY, DEFAULT_SECRET

REPO = Path(__file__).resolve().parents[1]
ONE_MINUTE = REPO.parent / "shared" / "data" / "BTCUSDT-1m-2024-04-02_2024-04-07.csv"
SYMBOLS = ["BTC/USDT"] + [f"S{i:02d}/USDT" for i in range(1, 50)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Simulator:
    """``tradewarden sim`` in a child process."""

    def __init__(self, speed: float, symbols: list[str], data: Path | None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "tradewarden.cli.main", "sim", "--port", str(self.port), "--speed",
                str(speed), "--symbols", ",".join(symbols), "--balances", "USDT=100000000,BTC=1000"]
        if data is not None:
            args += ["--data", str(data)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, "COLUMNS": "200"})
        deadline = time.monotonic() + 60
        while True:
            try:
                self.control("time")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"simulator did not start: {self.proc.stderr.read()!r}") from None
                time.sleep(0.1)

    def control(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}/_sim/{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def stream_run(speed: float, seconds: float, data: Path | None) -> dict[str, float]:
    sim = Simulator(speed, SYMBOLS, data)
    exchange = ccxtpro.binance(ccxt_config(sim.base, DEFAULT_API_KEY, DEFAULT_SECRET))
    counts = {"kline": 0, "trade": 0}
    lags: list[float] = []
    anchor: dict[str, float] = {}
    original = exchange.handle_message

    def counting(client: Any, message: Any) -> Any:
        event = message.get("data", message) if isinstance(message, dict) else None
        if isinstance(event, dict) and event.get("e") in counts:
            counts[event["e"]] += 1
            if anchor:
                due = anchor["wall"] + (event["E"] - anchor["sim"]) / 1000 / speed
                lags.append(time.monotonic() - due)
        return original(client, message)

    exchange.handle_message = counting
    try:
        await exchange.load_markets()
        pairs = [[s, "1m"] for s in SYMBOLS]

        async def pump(watch: Any) -> None:
            while True:
                await watch()

        tasks = [asyncio.create_task(pump(lambda: exchange.watch_ohlcv_for_symbols(pairs))),
                 asyncio.create_task(pump(lambda: exchange.watch_trades_for_symbols(SYMBOLS)))]
        await asyncio.sleep(1.0)  # subscriptions settle
        t0 = time.monotonic()
        now = sim.control("time")["now_ms"]
        t1 = time.monotonic()
        anchor.update(wall=(t0 + t1) / 2, sim=float(now))
        lags.clear()
        counts.update(kline=0, trade=0)
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - anchor["wall"]
        tail = lags[-200:] if lags else [0.0]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await exchange.close()
        sim.stop()
    total = counts["kline"] + counts["trade"]
    return {"speed": speed, "msgs_per_s": total / elapsed, "klines_per_s": counts["kline"] / elapsed,
            "trades_per_s": counts["trade"] / elapsed, "lag_p50_ms": statistics.median(lags or [0]) * 1000,
            "lag_max_ms": max(lags or [0]) * 1000, "lag_end_ms": statistics.median(tail) * 1000}


async def order_run(n: int, concurrency: int) -> float:
    sim = Simulator(0, ["BTC/USDT"], None)
    exchange = ccxt_async.binance(ccxt_config(sim.base, DEFAULT_API_KEY, DEFAULT_SECRET))
    try:
        await exchange.load_markets()
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 10000)  # warm the connection
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                if i % 2:
                    await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 10000 + i % 50)
                else:
                    await exchange.create_order("BTC/USDT", "market", "buy", 0.001)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        assert sim.control("state")["orders"] == n + 1
    finally:
        await exchange.close()
        sim.stop()
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--speeds", default="60,300,600")
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    data = ONE_MINUTE if ONE_MINUTE.exists() else None
    tf = "1m" if data else "1h (bundled sample; the shared 1m file is missing)"
    print(f"streaming: {len(SYMBOLS)} symbols, {tf} klines + trades, 12 price steps per candle, "
          "one ccxt.pro client")
    print(f"{'speed':>7} {'msgs/s':>9} {'klines/s':>9} {'trades/s':>9} {'lag p50 ms':>11} "
          f"{'lag max ms':>11} {'lag end ms':>11}")
    for speed in (float(s) for s in args.speeds.split(",")):
        r = await stream_run(speed, args.seconds, data)
        print(f"{r['speed']:>7g} {r['msgs_per_s']:>9.0f} {r['klines_per_s']:>9.0f} {r['trades_per_s']:>9.0f} "
              f"{r['lag_p50_ms']:>11.1f} {r['lag_max_ms']:>11.1f} {r['lag_end_ms']:>11.1f}")
    print(f"orders: {args.orders} signed create_order round trips (async ccxt, limit and market alternating)")
    for concurrency in (1, 8):
        rate = await order_run(args.orders, concurrency)
        print(f"  {concurrency} in flight: {rate:.0f} orders/s")


if __name__ == "__main__":
    asyncio.run(main())
