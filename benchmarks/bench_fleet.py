"""The fleet's market data at scale: N symbols of 1-minute klines across K market-data instances, into Redis.

A simulator child process replays the shared BTC/USDT 1m file for every symbol (price-scaled) at ``--speed``
times real time, with ``--history`` candles already in the past. A registry (SQLite in a temporary directory)
points an exchange at it; K instance processes each run ``market_data_work`` (the code ``tradewarden instance
run`` awaits) for their share of the symbols, against the real Redis (``--redis``, a key prefix of their own,
deleted afterwards). Each instance reports:

* its warm-up: from the start of its work to ``active`` (REST, ``--candles`` per symbol, ccxt's rate limiter
  on, as in production);
* for every candle the stream writes: the time from the candle's close on the simulator's clock to the moment
  the write to Redis returned (the simulator clock is mapped to CLOCK_MONOTONIC, which all processes on this
  machine share, by sampling ``/_sim/time``, as ``bench_feed.py`` does; ``ExchangeCache.put`` is wrapped to
  take the time);
* its resident memory once streaming (VmRSS), and the peak.

Then an idle instance as an operator starts it (``tradewarden instance run --exchange ... --symbols`` one symbol,
the CLI process) is measured once it is active and quiet: that is the figure the target speaks of. The registry
and the candle store are the fleet's PostgreSQL (a fresh schema of ``--database``, dropped afterwards; ``--database
sqlite`` for a SQLite registry with Arrow candle files, as one machine without PostgreSQL runs it).

Run: ``python benchmarks/bench_fleet.py [--symbols 100] [--instances 4] [--speed 60] [--seconds 30]``.
Targets (issue 15): p99 close → Redis <= 100 ms; warm-up of 100 symbols x 1,000 candles <= 30 s; an idle
instance <= 150 MB. Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_feed import calibrate  # noqa: E402  (the simulator clock mapped to CLOCK_MONOTONIC, shared)

DATA = REPO.parent / "shared" / "data" / "BTCUSDT-1m-2024-04-02_2024-04-07.csv"
STEP = 60_000


def serve(symbols: int, speed: float, history: int) -> None:
    """Child process: run the simulator until stdin closes."""
    from tradewarden.data.sample import sample_1m_path
    from tradewarden.simulator.testing import start_simulator

    names = ["BTC/USDT"] + [f"C{i:03d}/USDT" for i in range(1, symbols)]
    data = DATA if DATA.exists() else sample_1m_path()
    with start_simulator(data=data, symbols=names, speed=speed, seed=1, start_index=history) as sim:
        gc.freeze()  # as `tradewarden sim` does once it serves: its data out of the full collections
        print(json.dumps({"base_url": sim.base_url, "symbols": names}), flush=True)
        sys.stdin.read()


def instance(args: argparse.Namespace) -> None:
    """Child process: one market-data instance, reporting on stdout (JSON lines) until stdin closes."""
    from tradewarden.config import load_config
    from tradewarden.data import cache as cache_module
    from tradewarden.fleet.market_data import market_data_work
    from tradewarden.persistence import Database
    from tradewarden.persistence.fleet_repo import WarmupProgress, get_exchange
    from tradewarden.persistence.instance_repo import get_instance

    if args.database == "sqlite":
        args.database = None
    with Database.open(args.database, Path(args.data_dir)) as db:
        view, exchange = get_instance(db, args.instance), get_exchange(db, "benchsim")
    cfg = load_config(None, {"data_dir": args.data_dir, "redis.url": args.redis, "redis.prefix": args.prefix,
                             "market_data.warmup_candles": str(args.candles),
                             **({"database.url": args.database} if args.database else {})})
    mono0, sim0 = calibrate(exchange.rest_url or "", args.speed)
    latencies: list[tuple[float, float]] = []  # (close on CLOCK_MONOTONIC, ms until the write returned)
    original = cache_module.ExchangeCache.put

    def timed_put(self: Any, symbol: str, timeframe: str, candles: Any) -> int:
        items = list(candles)
        done = original(self, symbol, timeframe, items)
        if len(items) == 1 and active.is_set():  # a streamed candle (the warm-up writes whole series)
            close = mono0 + (items[0].ts + STEP - sim0) / 1000 / args.speed
            latencies.append((close, (time.monotonic() - close) * 1000))
        return done

    cache_module.ExchangeCache.put = timed_put  # type: ignore[method-assign]
    active = asyncio.Event()
    t0 = time.monotonic()

    class Hooks:
        def warming(self, reason: str) -> None: ...

        def progress(self, progress: WarmupProgress) -> None: ...

        def active(self, reason: str) -> None:
            active.set()
            print(json.dumps({"active": time.monotonic() - t0}), flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
        await market_data_work(cfg)(view, exchange, Hooks(), stop)

    asyncio.run(main())
    print(json.dumps({"latencies": latencies, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
          flush=True)


def run(args: argparse.Namespace) -> None:
    import redis

    from tradewarden.domain.instances import InstanceRole
    from tradewarden.persistence import Database
    from tradewarden.persistence.fleet_repo import add_exchange
    from tradewarden.persistence.instance_repo import register_instance

    sim = subprocess.Popen([sys.executable, __file__, "--serve", "--symbols", str(args.symbols), "--speed",
                            str(args.speed), "--history", str(args.candles + 100)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    prefix = f"bench-{uuid.uuid4().hex[:8]}:candles"
    children: list[subprocess.Popen[str]] = []
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        data_dir = tempfile.mkdtemp(prefix="bench-fleet-")
        symbols: list[str] = info["symbols"]
        with Database.open(args.database, Path(data_dir)) as db:
            add_exchange(db, "benchsim", "binance", rest_url=info["base_url"],
                         ws_url=info["base_url"].replace("http://", "ws://") + "/stream/ws")
            ids = [register_instance(db, "benchsim", InstanceRole.MARKET_DATA, f"bench-{i}",
                                     symbols=symbols[i::args.instances], timeframes=["1m"]).id
                   for i in range(args.instances)]
        t0 = time.monotonic()
        for iid in ids:
            children.append(subprocess.Popen(
                [sys.executable, __file__, "--instance", str(iid), "--data-dir", data_dir, "--redis", args.redis,
                 "--prefix", prefix, "--speed", str(args.speed), "--candles", str(args.candles),
                 "--database", args.database or "sqlite"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        warm = []
        for child in children:
            assert child.stdout is not None
            warm.append(json.loads(child.stdout.readline())["active"])
        all_active = time.monotonic() - t0
        subscribed = _all_subscribed(info["base_url"], len(symbols))
        time.sleep(args.seconds)
        mem = [_memory_of(c.pid) for c in children]
        reports = []
        for child in children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.close()
            reports.append(json.loads(child.stdout.readline()))
            child.wait(30)
        every = sorted(lat for r in reports for _close, lat in r["latencies"])
        # a stream's first bar after its subscription is read over REST (no update on the new connection yet
        # says it is final): the steady state starts two bars after the last subscription
        steady = subscribed + 2 * STEP / 1000 / args.speed
        lat = sorted(lat for r in reports for close, lat in r["latencies"] if close >= steady)
        since_sub = sorted(lat for r in reports for close, lat in r["latencies"] if close >= subscribed)
        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(f"{prefix}:*", _type="zset"))
        counts = [int(client.zcard(k)) for k in keys]
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)

        def pct(xs: list[float], p: float) -> float:
            return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")

        def share(xs: list[float]) -> float:
            return sum(1 for x in xs if x <= 100) / max(1, len(xs))

        print(f"{len(symbols)} symbols of 1m klines across {args.instances} instances, simulator x{args.speed:g} "
              f"({len(symbols) * args.speed / 60:.0f} candles closing per second), {args.seconds:g} s streamed")
        print(f"warm-up ({args.candles} candles per symbol, rate limiter on): instances active after "
              f"{', '.join(f'{w:.1f}' for w in warm)} s (from the start of their work); all active "
              f"{all_active:.1f} s after the processes were started")
        print(f"cache: {len(keys)} series, {min(counts) if counts else 0}..{max(counts) if counts else 0} candles each")
        print(f"every stream subscribed {subscribed - t0 - all_active:.1f} s after all were active (ccxt paces "
              f"Binance subscriptions at 4 a second per connection)")
        print(f"close at the simulator -> candle in Redis (ms), {len(lat)} candles closed from the second bar after "
              f"every stream was subscribed: p50 {pct(lat, 0.5):.1f}  p90 {pct(lat, 0.9):.1f}  "
              f"p99 {pct(lat, 0.99):.1f}  max {lat[-1] if lat else float('nan'):.1f}; within 100 ms: {share(lat):.1%}")
        print(f"  {len(since_sub)} candles closed once every stream was subscribed (the first bar of the newest "
              f"streams included): p99 {pct(since_sub, 0.99):.1f}  max {max(since_sub, default=float('nan')):.1f}")
        print(f"  all {len(every)} streamed candles, start-up included: p50 {pct(every, 0.5):.1f}  "
              f"p99 {pct(every, 0.99):.1f}; within 100 ms: {share(every):.1%}")
        peaks = ", ".join(f"{r['peak_mb']:.0f}" for r in reports)
        rss, pss, uss = (", ".join(f"{m[i]:.0f}" for m in mem) for i in range(3))
        print(f"instance memory streaming {len(symbols) // args.instances} symbols (MB): RSS {rss}; peak RSS {peaks}; "
              f"PSS {pss}; private (USS) {uss}")
        idle_rss, idle_pss, idle_uss = idle_instance(args, data_dir, prefix, symbols[0])
        print(f"an idle instance (`tradewarden instance run`, one symbol of 1m, active, {args.idle_seconds:g} s after "
              f"it went active; MB): RSS {idle_rss:.0f}, PSS {idle_pss:.0f}, private (USS) {idle_uss:.0f} "
              "(target <= 150 MB)")
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        if sim.stdin:
            sim.stdin.close()
        sim.wait(30)


def idle_instance(args: argparse.Namespace, data_dir: str, prefix: str, symbol: str) -> tuple[float, float, float]:
    """An operator's instance as they start it: the CLI process, one symbol, once active and quiet."""
    from tradewarden.domain.instances import InstanceState
    from tradewarden.persistence import Database
    from tradewarden.persistence.instance_repo import list_instances

    env = dict(os.environ, TRADEWARDEN_DATA_DIR=data_dir, TRADEWARDEN_REDIS__URL=args.redis,
               TRADEWARDEN_REDIS__PREFIX=prefix)
    if args.database:
        env["TRADEWARDEN_DATABASE__URL"] = args.database
    log = Path(data_dir) / "idle-instance.log"
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "instance", "run", "--exchange",
                                  "benchsim", "--host", "bench-idle", "--symbols", symbol, "--timeframes", "1m"],
                                 env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        with Database.open(args.database, Path(data_dir)) as db:
            while not any(i.state is InstanceState.ACTIVE for i in list_instances(db, host="bench-idle")):
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the idle instance did not go active:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        time.sleep(args.idle_seconds)
        return _memory_of(child.pid)
    finally:
        child.terminate()
        child.wait(30)


def _pg_schema(base: str) -> tuple[str, Any]:
    """A fresh schema of the machine's PostgreSQL database: (URL whose connections use it, drop function)."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg2://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{base}?options=-csearch_path%3D{schema}", drop


def _all_subscribed(base_url: str, streams: int, timeout: float = 120.0) -> float:
    """When the simulator first had ``streams`` kline streams subscribed (CLOCK_MONOTONIC)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base_url}/_sim/state", timeout=5) as resp:
            active = json.loads(resp.read())["streams"]
        if sum(1 for name in active if "@kline_" in name) >= streams:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"not every stream subscribed after {timeout} s")


def _memory_of(pid: int) -> tuple[float, float, float]:
    """(RSS, PSS, USS) in MB: resident, with shared pages divided among their sharers, private only."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields["Rss"] / 1024, fields["Pss"] / 1024, private / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--candles", type=int, default=1000)
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15"))
    ap.add_argument("--database", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="the fleet's PostgreSQL (a fresh schema of it is used and dropped), or 'sqlite' for a "
                         "SQLite registry and Arrow candle files in a temporary directory")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--history", type=int, default=1100, help=argparse.SUPPRESS)
    ap.add_argument("--instance", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.symbols, args.speed, args.history)
    elif args.instance is not None:
        instance(args)
    elif args.database == "sqlite":
        args.database = None
        run(args)
    else:
        args.database, drop = _pg_schema(args.database)
        try:
            run(args)
        finally:
            drop()


if __name__ == "__main__":
    main()
