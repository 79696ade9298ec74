"""What serving Prometheus metrics costs a trading bot per candle step (issue 13 target: <= 1 ms).

A candle step emits a few events through the bus: an EquitySample every step, and on a share of the steps an
OrderPlaced and a Fill; a Heartbeat now and then. This emits the events of STEPS steps through an EventBus
that journals to a file, once without and once with the metrics subscriber (BotMetrics, as `attach_metrics`
subscribes it), and also while /metrics is scraped in a loop. Each figure is the wall time from the first emit
until the bus has drained every subscriber (close), per step: the subscriber's own thread included, since in
CPython it competes with the trading thread for the GIL. Best of 3.
Run: python benchmarks/bench_metrics.py
"""

from __future__ import annotations

import tempfile
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

from tradewarden.domain.events import EventType as E
from tradewarden.observability import EventJournal
from tradewarden.observability.bus import EventBus
from tradewarden.observability.metrics import SUBSCRIBER, TYPES, BotMetrics, start_metrics_server

STEPS = 20_000
ORDER_EVERY = 10      # an order and its fill every 10th step: a busy strategy
HEARTBEAT_EVERY = 60


def run_steps(bus: EventBus) -> None:
    t0 = 1_700_000_000_000
    for i in range(STEPS):
        ts = t0 + i * 60_000
        if i % ORDER_EVERY == 0:
            bus.emit(E.ORDER_PLACED, ts, client_id=f"c{i}", symbol="BTC/USDT", side="buy", order_type="market",
                     qty=Decimal("0.01"), price=None, stop_price=None, stop_loss=None, take_profit=None,
                     reduce_only=False)
            bus.emit(E.FILL, ts, client_id=f"c{i}", symbol="BTC/USDT", side="buy", qty=Decimal("0.01"),
                     price=Decimal("30000.5"), fee=Decimal("0.3"), liquidity="taker", reason="signal")
        if i % HEARTBEAT_EVERY == 0:
            bus.emit(E.HEARTBEAT, ts, loop_stall_max_ms=3.2, candles_received=i, feed_healthy=True, worker_jobs=0)
        bus.emit(E.EQUITY_SAMPLE, ts, candle_ts=ts - 60_000, equity=Decimal("10012.34"), pnl=Decimal("12.34"),
                 marks={"BTC/USDT": "30000.5"})


def scrape(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        with urllib.request.urlopen(url, timeout=10) as resp:
            resp.read()


def per_step_us(with_metrics: bool, scraping: bool, directory: Path) -> float:
    best = float("inf")
    for attempt in range(3):
        bus = EventBus(EventJournal(directory / f"events-{with_metrics}-{scraping}-{attempt}.jsonl"))
        stop = threading.Event()
        scraper: threading.Thread | None = None
        server = None
        if with_metrics:
            metrics = BotMetrics(["BTC/USDT"])
            bus.subscribe(SUBSCRIBER, metrics.handle, types=TYPES)
            if scraping:
                server = start_metrics_server(metrics.registry)
                scraper = threading.Thread(target=scrape, args=(f"http://127.0.0.1:{server.port}/metrics", stop),
                                           daemon=True)
                scraper.start()
        start = time.perf_counter()
        run_steps(bus)
        bus.close()
        best = min(best, (time.perf_counter() - start) / STEPS * 1e6)
        stop.set()
        if scraper is not None:
            scraper.join()
        if server is not None:
            server.stop()
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        base = per_step_us(False, False, directory)
        metrics = per_step_us(True, False, directory)
        scraped = per_step_us(True, True, directory)
    print(f"{STEPS} candle steps (an order and a fill every {ORDER_EVERY}th), bus with journal, until drained:")
    print(f"  without metrics            {base:8.1f} us per step")
    print(f"  with the metrics subscriber {metrics:7.1f} us per step (+{metrics - base:.1f} us)")
    print(f"  ... while /metrics is scraped in a loop {scraped:6.1f} us per step (+{scraped - base:.1f} us; "
          "Prometheus scrapes every 15 s or so)")
    print(f"target: <= 1000 us per step for serving metrics: {'met' if scraped - base <= 1000 else 'MISSED'}")


if __name__ == "__main__":
    main()
