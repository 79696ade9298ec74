"""Cost of configuration and observability on the hot and start-up paths.

Prints: the time to import tradewarden.config + tradewarden.observability and to load the default config in
a fresh process (best of 5), load_config once warm, scrub() per line (a typical event line, and one that
holds a key), and EventJournal.emit throughput to a file with typical Fill fields.
Run: python benchmarks/bench_observability.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from tradewarden.config import load_config
from tradewarden.observability import EventJournal, scrub

START_UP = """
import time
t0 = time.perf_counter()
import tradewarden.config, tradewarden.observability
t1 = time.perf_counter()
tradewarden.config.load_config(env={})
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

LINE = ('{"ts":1612345678000,"time":"2021-02-03T09:47:58.000Z","type":"Fill","order_id":"tw-1a2b3c4d-'
        '1612345678000-1","symbol":"BTC/USDT","side":"buy","price":"33456.12","qty":"0.29871","fee":"9.99",'
        '"fee_asset":"USDT","liquidity":"taker","equity":"10023.45",'
        '"reason":"entry signal donchian breakout"}')
KEY_LINE = LINE.replace("entry signal", "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A")


def per_call_us(fn: object, n: int) -> float:
    call = fn  # type: ignore[assignment]
    start = time.perf_counter()
    for _ in range(n):
        call()  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", START_UP], capture_output=True, text=True,
                             check=True).stdout
        imp, load = (float(x) for x in out.split())
        runs.append((imp + load, imp, load))
    total, imp, load = min(runs)
    print(f"fresh process: import config+observability {imp * 1000:.0f} ms, first load_config "
          f"{load * 1000:.0f} ms (includes numpy via the timeframe check), total {total * 1000:.0f} ms "
          "(best of 5)")
    print(f"load_config warm: {per_call_us(lambda: load_config(env={}), 200):.0f} us")
    print(f"scrub typical event line ({len(LINE)} chars): {per_call_us(lambda: scrub(LINE), 50_000):.1f} us")
    print(f"scrub line holding a key: {per_call_us(lambda: scrub(KEY_LINE), 50_000):.1f} us")
    n = 50_000
    with tempfile.TemporaryDirectory() as tmp, EventJournal(Path(tmp) / "events.jsonl") as journal:
        start = time.perf_counter()
        for i in range(n):
            journal.emit("Fill", 1_612_345_678_000 + i * 3_600_000, order_id=f"tw-1a2b3c4d-{i}-1",
                         symbol="BTC/USDT", side="buy", price=Decimal("33456.12"), qty=Decimal("0.29871"),
                         fee=Decimal("9.99"), fee_asset="USDT", liquidity="taker", equity=Decimal("10023.45"))
        elapsed = time.perf_counter() - start
    print(f"EventJournal.emit to a file: {n / elapsed:,.0f} events/s ({elapsed / n * 1e6:.1f} us each)")


if __name__ == "__main__":
    main()
