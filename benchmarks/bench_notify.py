"""What a burst of events costs the trading path with the notifier subscribed, and how many messages it makes
(issue 14: a burst of 1,000 events in one second delays no order and produces at most a handful of alerts).

1,000 events are emitted in one second (one a millisecond) through an EventBus journaling to a file: orders the
exchange rejects on three symbols, feed reconnects, stale-feed warnings, fills and equity samples, and one kill
switch. Each emit is timed on the emitting thread (what a candle step would wait), once without and once with
the notifier subscribed (as the node subscribes it; its channel counts messages in memory, so no network is
measured). Then the bus closes and the notifier flushes: the messages it sent, each standing for ``count``
events. Printing figures only.
Run: python benchmarks/bench_notify.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp

from tradewarden.domain.events import EventType as E
from tradewarden.notify.alerts import Alert
from tradewarden.notify.notifier import Notifier
from tradewarden.notify.pipeline import Pipeline, PipelineSettings
from tradewarden.notify.watch import WatchSettings
from tradewarden.observability import EventJournal
from tradewarden.observability.bus import EventBus

EVENTS = 1_000
SPACING_S = 0.001  # 1,000 events in one second
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


class CountingChannel:
    """A channel that keeps what it is sent (no network: the figure is the notifier's own cost)."""

    name = "memory"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, http: aiohttp.ClientSession, alert: Alert, text: str) -> None:
        self.alerts.append(alert)


def emit_one(bus: EventBus, i: int, ts: int) -> None:
    k = i % 10
    if i == EVENTS // 2:
        bus.emit(E.KILL_SWITCH_ACTIVATED, ts, reason="burst drill", actor="bench", set_ts=ts, close_positions=False)
    elif k < 4:
        bus.emit(E.ORDER_REJECTED, ts, client_id=f"tw-{i}", symbol=SYMBOLS[k % 3], reason="-1013 LOT_SIZE")
    elif k < 6:
        bus.emit(E.FEED_RECONNECTED, ts, exchange="binance", attempts=1, waited_s=0.1)
    elif k == 6:
        bus.emit(E.FEED_STALE, ts, exchange="binance", silence_s=30.0, mode="ws", had_data=True)
    elif k == 7:
        bus.emit(E.FILL, ts, client_id=f"tw-{i}", symbol="BTC/USDT", side="buy", qty=Decimal("0.01"),
                 price=Decimal("30000.5"), fee=Decimal("0.3"), liquidity="taker", reason="signal")
    else:
        bus.emit(E.EQUITY_SAMPLE, ts, candle_ts=ts - 60_000, equity=Decimal("10012.34"), pnl=Decimal("12.34"),
                 marks={"BTC/USDT": "30000.5"})


def burst(directory: Path, with_notifier: bool) -> tuple[list[float], CountingChannel | None, float]:
    bus = EventBus(EventJournal(directory / f"events-{with_notifier}.jsonl"))
    channel = None
    notifier = None
    if with_notifier:
        channel = CountingChannel()
        notifier = Notifier(Pipeline(PipelineSettings(WatchSettings(60_000))), [channel], "bench")
        notifier.attach(bus)
    costs: list[float] = []
    t0 = 1_700_000_000_000
    start = time.perf_counter()
    for i in range(EVENTS):
        due = start + i * SPACING_S
        while (now := time.perf_counter()) < due:
            time.sleep(max(0.0, min(due - now, 0.0005)))
        before = time.perf_counter()
        emit_one(bus, i, t0 + i)
        costs.append((time.perf_counter() - before) * 1e6)
    drain = time.perf_counter()
    bus.close()
    if notifier is not None:
        notifier.close()
    return costs, channel, time.perf_counter() - drain


def describe(costs: list[float]) -> str:
    ordered = sorted(costs)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"median {statistics.median(costs):6.1f} us, p99 {p99:6.1f} us, max {ordered[-1]:7.1f} us"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        base, _, _ = burst(directory, False)
        with_n, channel, drained_s = burst(directory, True)
    assert channel is not None
    print(f"{EVENTS} events in one second through the bus (journal to a file), each emit timed on its thread:")
    print(f"  without the notifier  {describe(base)}")
    print(f"  with the notifier     {describe(with_n)}")
    extra = statistics.median(with_n) - statistics.median(base)
    print(f"  (the trading path's extra cost per emit, median: {extra:+.1f} us)")
    counts = sum(a.count for a in channel.alerts)
    print(f"messages sent: {len(channel.alerts)}, standing for {counts} alert occurrences "
          f"(bus close + notifier flush took {drained_s * 1000:.0f} ms):")
    for a in channel.alerts:
        print(f"  {a.severity.name:8} {a.kind:16} {a.subject:10} x{a.count}")


if __name__ == "__main__":
    main()
