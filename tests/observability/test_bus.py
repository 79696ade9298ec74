"""The event bus: the journal written on the emitting thread, every subscriber fed from its own bounded queue, a
slow or broken subscriber unable to hold up or break ``emit``, drops and errors counted, ``close`` draining."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.domain.events import EventType
from tradewarden.observability.bus import Event, EventBus
from tradewarden.observability.journal import EventJournal, read_journal

E = EventType
LIVENESS_S = 30.0  # only bounds a hang in a broken build; no assertion depends on how long anything took


def fill(bus: EventBus, i: int) -> None:
    bus.emit(E.FILL, 1_000 + i, client_id=f"c{i}", symbol="BTC/USDT", side="buy", qty=Decimal("0.001"),
             price=Decimal(30_000 + i), fee=Decimal("0.01"), liquidity="taker", reason="order")


def emit_all(bus: EventBus, emits: Callable[[], None]) -> None:
    """Run ``emits`` on a worker thread and require it to return (a blocking emit would fail, not hang)."""
    worker = threading.Thread(target=emits)
    worker.start()
    worker.join(LIVENESS_S)
    assert not worker.is_alive(), "emit blocked"


def test_every_subscriber_gets_every_event_in_order_as_the_journal_wrote_it(tmp_path: Path) -> None:
    bus = EventBus(EventJournal(tmp_path / "events.jsonl"))
    first: list[Event] = []
    second: list[Event] = []
    fills_only: list[Event] = []
    bus.subscribe("first", first.append)
    bus.subscribe("second", second.append, maxsize=100)
    bus.subscribe("fills", fills_only.append, types={E.FILL})
    for i in range(40):
        fill(bus, i)
        bus.emit(E.ORDER_CANCELLED, 2_000 + i, client_id=f"c{i}", symbol="BTC/USDT", reason="cancelled")
    assert bus.close() == []
    journal = read_journal(tmp_path / "events.jsonl")
    assert len(journal) == 80
    for got in (first, second):
        assert [e.seq for e in got] == list(range(1, 81))
        assert [dict(e.record) for e in got] == journal  # the journal's records (JSON types, scrubbed), in order
        assert [e.type for e in got] == [E.FILL, E.ORDER_CANCELLED] * 40
    assert [e.record for e in fills_only] == [r for r in journal if r["type"] == "Fill"]
    assert [s.delivered for s in bus.stats()] == [80, 80, 40]
    assert [s.dropped for s in bus.stats()] == [0, 0, 0]


def test_a_blocked_subscriber_never_delays_emit_and_its_overflow_is_dropped_and_counted(tmp_path: Path) -> None:
    bus = EventBus(EventJournal(tmp_path / "events.jsonl"))
    entered, release = threading.Event(), threading.Event()
    slow: list[int] = []
    fast: list[int] = []

    def blocked(event: Event) -> None:
        entered.set()
        release.wait()
        slow.append(event.seq)

    bus.subscribe("slow", blocked, maxsize=4)
    bus.subscribe("fast", lambda event: fast.append(event.seq))
    total = 100
    emit_all(bus, lambda: fill(bus, 0))
    assert entered.wait(LIVENESS_S)  # the slow subscriber holds event 1 in its handler, its queue is empty
    emit_all(bus, lambda: [fill(bus, i) for i in range(1, total)])
    assert not release.is_set()  # all 100 emits returned while the slow handler was still blocked
    slow_stats = {s.name: s for s in bus.stats()}["slow"]
    assert (slow_stats.queued, slow_stats.dropped) == (4, total - 1 - 4)
    release.set()
    assert bus.close() == []
    assert fast == list(range(1, total + 1))
    assert slow == [1, 2, 3, 4, 5]  # what it held and what fitted in its queue; the rest was dropped
    final = {s.name: s for s in bus.stats()}
    assert (final["slow"].delivered, final["slow"].dropped) == (5, total - 5)
    assert (final["fast"].delivered, final["fast"].dropped) == (total, 0)
    assert len(read_journal(tmp_path / "events.jsonl")) == total  # the record lost nothing


def test_a_raising_subscriber_is_isolated_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    good: list[int] = []

    def broken(event: Event) -> None:
        if event.seq % 2:
            raise RuntimeError(f"cannot handle {event.seq}")

    bus.subscribe("broken", broken)
    bus.subscribe("good", lambda event: good.append(event.seq))
    with caplog.at_level("WARNING", logger="tradewarden.observability.bus"):
        for i in range(10):
            fill(bus, i)  # never raises into the caller
        bus.close()
    assert good == list(range(1, 11))
    broken_stats = {s.name: s for s in bus.stats()}["broken"]
    assert (broken_stats.errors, broken_stats.delivered) == (5, 5)
    failures = [r for r in caplog.records if "failed on Fill" in r.getMessage()]
    assert len(failures) == 5  # each failure after a success starts a new streak, logged once


def test_close_drains_every_queue_before_it_returns_and_the_bus_takes_no_more() -> None:
    bus = EventBus()
    release = threading.Event()
    got: list[int] = []

    def gated(event: Event) -> None:
        release.wait()
        got.append(event.seq)

    bus.subscribe("gated", gated)
    for i in range(20):
        fill(bus, i)
    closer = threading.Thread(target=bus.close)
    closer.start()
    release.set()
    closer.join(LIVENESS_S)
    assert not closer.is_alive()
    assert got == list(range(1, 21))
    with pytest.raises(RuntimeError, match="closed"):
        fill(bus, 99)


def test_close_leaves_a_stuck_subscriber_behind_and_still_closes_the_journal(tmp_path: Path) -> None:
    bus = EventBus(EventJournal(tmp_path / "events.jsonl"))
    never = threading.Event()
    bus.subscribe("stuck", lambda event: never.wait() and None)
    fill(bus, 0)
    assert bus.close(timeout=0.2) == ["stuck"]
    assert bus.journal.path is not None and read_journal(bus.journal.path)[0]["type"] == "Fill"
    with pytest.raises(RuntimeError, match="closed"):
        bus.journal.emit(E.FILL, 0)
    never.set()


def test_subscriber_names_are_unique_and_queues_hold_at_least_one() -> None:
    bus = EventBus()
    bus.subscribe("api", lambda event: None)
    with pytest.raises(ValueError, match="exists already"):
        bus.subscribe("api", lambda event: None)
    with pytest.raises(ValueError, match="at least 1"):
        bus.subscribe("metrics", lambda event: None, maxsize=0)
    bus.close()


async def test_an_async_subscription_reads_every_event_and_ends_when_the_bus_closes() -> None:
    bus = EventBus()
    stream = bus.subscribe_async("api", maxsize=16)

    async def read() -> list[int]:
        return [event.seq async for event in stream]

    reader = asyncio.create_task(read())
    for i in range(10):
        fill(bus, i)
    await asyncio.to_thread(bus.close)  # joins the subscriber thread, which needs this loop running
    assert await reader == list(range(1, 11))
    assert [(s.delivered, s.dropped, s.errors) for s in bus.stats()] == [(10, 0, 0)]


def test_a_held_fanout_journals_at_once_and_offers_in_order_when_the_outer_block_ends(tmp_path: Path) -> None:
    bus = EventBus(EventJournal(tmp_path / "events.jsonl"))
    got: list[Event] = []
    bus.subscribe("sub", got.append)
    fill(bus, 0)
    with bus.fanout_held():
        with bus.fanout_held():
            fill(bus, 1)
        fill(bus, 2)  # the inner block ended: still held
        assert len(read_journal(tmp_path / "events.jsonl")) == 3  # the record is written as emitted
        sub = bus.stats()[0]
        # c0 was offered before the hold (queued or handled; one in transit counts as neither); c1, c2 are not
        assert sub.queued + sub.delivered <= 1
        late: list[Event] = []
        bus.subscribe("late", late.append)  # subscribed during the hold: gets only what is emitted after
        fill(bus, 3)
    fill(bus, 4)
    assert bus.close() == []
    journal = read_journal(tmp_path / "events.jsonl")
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert [dict(e.record) for e in got] == journal
    assert [e.record["client_id"] for e in late] == ["c3", "c4"]


def test_a_bus_closed_inside_a_held_block_still_hands_its_events_over() -> None:
    bus = EventBus()
    got: list[Event] = []
    bus.subscribe("sub", got.append)
    with bus.fanout_held():
        fill(bus, 0)
        assert bus.close() == []
    assert [e.record["client_id"] for e in got] == ["c0"]
