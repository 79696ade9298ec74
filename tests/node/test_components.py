"""The node's small components with fakes: no exchange, no database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tradewarden.domain.candles import Candle
from tradewarden.node.intake import CandleIntake
from tradewarden.node.monitor import LoopMonitor
from tradewarden.node.worker import TradingWorker


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: str, ts: int, **fields: Any) -> dict[str, Any]:
        self.events.append((type_, fields))
        return fields


def candle(ts: int) -> Candle:
    return Candle(ts=ts, open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0)


def test_the_monitor_keeps_the_longest_lag_of_the_loop() -> None:
    monitor = LoopMonitor(Sink(), lambda: 0, dict, heartbeat_s=60)
    monitor.observe(expected=10.0, woke=10.002)
    monitor.observe(expected=11.0, woke=11.250)
    monitor.observe(expected=12.0, woke=12.001)
    assert monitor.stall_max_ms == pytest.approx(250.0)


def test_a_blocked_worker_leaves_the_loop_free() -> None:
    """While a job holds the worker (as an exchange call would), other coroutines on the loop run on."""
    release = threading.Event()
    ticks: list[int] = []

    async def main() -> list[str]:
        worker = TradingWorker()
        order: list[str] = []
        held = asyncio.ensure_future(worker.run(lambda: (release.wait(), order.append("held"))))
        queued = asyncio.ensure_future(worker.run(order.append, "after"))
        while len(ticks) < 3:  # the loop runs while the worker is held
            ticks.append(len(order))
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(held, queued)
        worker.close()
        return order

    assert asyncio.run(main()) == ["held", "after"]  # serialised, in order
    assert ticks == [0, 0, 0]


def test_the_intake_counts_what_the_feed_delivers_and_says_when_it_ended() -> None:
    async def feed() -> AsyncIterator[Candle]:
        for ts in (1, 2, 3):
            yield candle(ts)

    async def main() -> tuple[list[int], CandleIntake]:
        intake = CandleIntake()
        intake.start(feed())
        stop = asyncio.Event()
        got: list[int] = []
        while (c := await intake.next(stop)) is not None:
            got.append(c.ts)
        await intake.stop()
        return got, intake

    got, intake = asyncio.run(main())
    assert got == [1, 2, 3] and intake.received == 3 and intake.ended


def test_the_intake_hands_a_feed_error_to_the_candle_loop() -> None:
    async def feed() -> AsyncIterator[Candle]:
        yield candle(1)
        raise RuntimeError("feed broke")

    async def main() -> None:
        intake = CandleIntake()
        intake.start(feed())
        stop = asyncio.Event()
        assert (await intake.next(stop)) is not None
        await intake.next(stop)

    with pytest.raises(RuntimeError, match="feed broke"):
        asyncio.run(main())


def test_the_heartbeat_carries_the_memory_the_reports_read_as_peak_memory(tmp_path: Path) -> None:
    """The monitor's Heartbeat (as events.jsonl records it) gives the daily report its peak memory."""
    from tradewarden.domain.events import EventType, payload_problems
    from tradewarden.observability import EventJournal
    from tradewarden.reports.events import read_events
    from tradewarden.reports.facts import Facts

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    journal = EventJournal(run / "events.jsonl")
    journal.emit(EventType.RUN_STARTED, 1_000, mode="paper", version="x", config_hash=None)

    async def main() -> None:
        monitor = LoopMonitor(journal, lambda: 2_000, lambda: {"candles_received": 0, "feed_healthy": True,
                                                                "worker_jobs": 0}, heartbeat_s=0.001, tick_s=0.001)
        monitor.start()
        while not [r for r in journal_lines() if r["type"] == "Heartbeat"]:
            await asyncio.sleep(0.001)
        await monitor.stop()

    def journal_lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]

    asyncio.run(main())
    journal.close()
    beat = next(r for r in journal_lines() if r["type"] == "Heartbeat")
    fields = {k: v for k, v in beat.items() if k not in ("ts", "time", "type")}
    assert not payload_problems("Heartbeat", fields)
    assert isinstance(beat["rss_mb"], float) and beat["rss_mb"] > 0
    facts = Facts(0, 10_000)
    assert read_events(tmp_path / "runs", facts, heartbeat_s=60, now_ms=10_000) == 1
    assert facts.peak_rss_mb == max(r["rss_mb"] for r in journal_lines() if r["type"] == "Heartbeat")
def test_the_boot_heap_is_frozen_while_the_candle_loop_runs_and_given_back_after() -> None:
    """A full collection would walk every object of the boot while the loop waits (the loop's longest stall):
    while the session runs they are frozen out of the collector, and unfrozen when it ends."""
    import gc

    from tradewarden.node.components import run_components

    class Nothing:
        def start(self) -> None:
            pass

        async def stop(self) -> None:
            pass

    class Jobs:
        def start(self) -> None:
            pass

        def shutdown(self, wait: bool = True) -> None:
            pass

    seen: list[int] = []

    class Candles:
        async def run(self, stop: asyncio.Event) -> None:
            seen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    asyncio.run(run_components(Candles(), asyncio.Event(), Nothing(), [Nothing()], Jobs()))
    assert seen and seen[0] > 1000  # the interpreter's own objects at least
    assert gc.get_freeze_count() == 0
