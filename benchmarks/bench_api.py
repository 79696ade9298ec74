"""``status`` latency: 10 bots, each with a year of 1h equity samples, in PostgreSQL (target p99 <= 20 ms).

    PYTHONPATH=src python benchmarks/bench_api.py [postgresql://127.0.0.1/test]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from tradewarden.api.status import bot_status, collect
from tradewarden.persistence import Database
from tradewarden.persistence.database import resolve_driver
from tradewarden.persistence.ops_models import BotEquityRow, BotRow
from tradewarden.risk.store import RiskStateStore

HOUR = 3_600_000
BOTS, SAMPLES, RUNS = 10, 24 * 365, 200


def show(what: str, times: list[float]) -> None:
    times = sorted(times)
    print(f"{what}: median {statistics.median(times):.2f} ms, p99 {times[int(len(times) * 0.99) - 1]:.2f} ms, "
          f"max {times[-1]:.2f} ms ({len(times)} runs)")


def main(url: str) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(resolve_driver(make_url(url)))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in url else "?"
        with Database.open(f"{url}{sep}options=-csearch_path%3D{schema}", Path(tempfile.mkdtemp())) as db:
            now = time.time_ns() // 1_000_000
            start = now - SAMPLES * HOUR
            with db.session() as s:
                for b in range(BOTS):
                    bot = f"paper:sim:bot{b} on bench pid {b}"
                    s.add(BotRow(id=bot, account=f"paper:sim:bot{b}", host="bench", pid=b, mode="paper",
                                 symbols='["BTC/USDT"]', strategy="sma", timeframe_ms=HOUR, config_hash="x",
                                 heartbeat_ms=5000, started=start, last_heartbeat=now, last_candle=now - HOUR,
                                 state="running", stopped=None))
                    s.flush()
                    s.execute(insert(BotEquityRow), [{"bot": bot, "ts": start + i * HOUR,
                                                      "equity": Decimal(10_000 + i), "pnl": Decimal(i)}
                                                     for i in range(SAMPLES)])
            store = RiskStateStore(db)
            times = []
            for _ in range(RUNS):
                t = time.perf_counter()
                report = collect(store, now)
                times.append((time.perf_counter() - t) * 1000)
            assert len(report.bots) == BOTS
            show(f"status of all {BOTS} bots x {SAMPLES} equity samples (tradewarden status)", times)
            one = report.bots[BOTS // 2].bot
            times = []
            for _ in range(RUNS):
                t = time.perf_counter()
                bot_status(store, one, now)
                times.append((time.perf_counter() - t) * 1000)
            show("one bot's status (GET /api/v1/bots/{key}/status reads this)", times)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test")
