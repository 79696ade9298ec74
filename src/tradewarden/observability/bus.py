"""The event bus: one ``emit`` on the trading path, fanned out to subscribers that can never slow it down.

``EventBus`` is an :class:`~tradewarden.domain.ports.EventSink`. ``emit`` does two things on the caller's thread:

1. it writes the event to the **record**, the :class:`EventJournal` (``events.jsonl``), synchronously, as every
   mode did before. That is deliberate: a line reaches the operating system before ``emit`` returns, so a crash,
   even SIGKILL, loses no event that was emitted, and the record keeps the exact order of emits. It costs one
   JSON dump, one scrub and one buffered write (microseconds); a disk slow enough to block that write would
   stall the database on it too. The journal also renders the record: JSON types, secrets scrubbed;
2. it offers that record to every subscriber's bounded queue without waiting (``put_nowait``). Each subscriber
   has its own thread that calls its handler in order. A full queue drops the event for that subscriber only
   and counts it; a handler that raises is logged and counted, never raised into the trading path.

So a slow or broken subscriber (the coming API, metrics, notifier) costs the trading path one failed
``put_nowait``. Subscribers see exactly what ``events.jsonl`` holds (scrubbed), in the same order, numbered by
``seq`` so a consumer can tell that it missed some. While a candle step decides its orders the runtime holds
the fan-out (:meth:`EventBus.fanout_held`): the journal is written as always, and the subscribers get the
step's events, in order, once its orders are out (a woken subscriber's thread would otherwise take the
interpreter lock from the decisions at every write). ``stats()`` gives each subscriber's counters for metrics;
``close()`` drains every queue, joins the threads and closes the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from tradewarden.domain.events import EventType
from tradewarden.observability.journal import EventJournal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One event as subscribers get it: ``record`` is the object of its events.jsonl line (scrubbed)."""

    seq: int
    type: EventType
    ts: int
    record: Mapping[str, Any]


Handler = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class SubscriberStats:
    """A subscriber's counters (for metrics): events handled, dropped on a full queue, handlers that raised."""

    name: str
    maxsize: int
    queued: int
    delivered: int
    dropped: int
    errors: int


class _Subscriber:
    def __init__(self, name: str, handler: Handler, maxsize: int, types: frozenset[EventType] | None,
                 on_end: Callable[[], None] | None) -> None:
        self.name, self.handler, self.maxsize, self.types = name, handler, maxsize, types
        self.on_end = on_end
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize)
        self.delivered = self.dropped = self.errors = 0
        self._burst = 0        # drops since the queue last took an event (emit thread only)
        self._failing = 0      # handler errors in a row (consumer thread only)
        self.thread = threading.Thread(target=self._run, name=f"event-bus-{name}", daemon=True)

    def offer(self, event: Event) -> None:
        """Queue ``event`` without waiting, or drop it. Runs on the emitting thread: at most two log lines a
        burst of drops (its start and, when the queue takes events again, its size)."""
        if self.types is not None and event.type not in self.types:
            return
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            self._burst += 1
            if self._burst == 1:
                log.warning("event subscriber %r is %d events behind: dropping its events until it catches up",
                            self.name, self.maxsize)
            return
        if self._burst:
            log.warning("event subscriber %r caught up after dropping %d event(s) (%d in all)", self.name,
                        self._burst, self.dropped)
            self._burst = 0

    def _run(self) -> None:
        try:
            while (event := self.queue.get()) is not None:
                try:
                    self.handler(event)
                except Exception:
                    self.errors += 1
                    self._failing += 1
                    if self._failing == 1:
                        log.exception("event subscriber %r failed on %s #%d (counted; later failures in a row "
                                      "are not logged)", self.name, event.type, event.seq)
                    continue
                self.delivered += 1
                if self._failing:
                    log.warning("event subscriber %r works again after %d failed event(s)", self.name,
                                self._failing)
                    self._failing = 0
        finally:
            if self.on_end is not None:
                self.on_end()

    def stats(self) -> SubscriberStats:
        return SubscriberStats(self.name, self.maxsize, self.queue.qsize(), self.delivered, self.dropped,
                               self.errors)


class EventBus:
    """Writes each event to the journal, then fans it out to subscribers without waiting for any of them.

    The bus owns ``journal`` (``close`` closes it); without one it keeps no record but still renders and
    scrubs what subscribers get.
    """

    def __init__(self, journal: EventJournal | None = None) -> None:
        self.journal = journal if journal is not None else EventJournal()
        self._subs: dict[str, _Subscriber] = {}
        self._lock = threading.Lock()  # one order: the journal's, the seq numbers' and every queue's
        self._seq = 0
        self._closed = False
        self._held = 0  # fanout_held blocks open: events wait in _waiting, in order
        self._waiting: list[tuple[Event, tuple[_Subscriber, ...]]] = []  # with the subscribers at the emit

    def subscribe(self, name: str, handler: Handler, maxsize: int = 10_000,
                  types: Collection[EventType] | None = None, on_end: Callable[[], None] | None = None) -> None:
        """Call ``handler(event)`` on a thread of its own for every event (of ``types``, if given) emitted
        from now on. At most ``maxsize`` events wait for it; more are dropped and counted. ``on_end`` runs on
        that thread after the last event, when the bus closes."""
        if maxsize < 1:
            raise ValueError(f"event subscriber {name!r}: maxsize must be at least 1, not {maxsize}")
        sub = _Subscriber(name, handler, maxsize, None if types is None else frozenset(types), on_end)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the event bus is closed; cannot subscribe {name!r}")
            if name in self._subs:
                raise ValueError(f"an event subscriber named {name!r} exists already")
            self._subs[name] = sub
            sub.thread.start()

    def subscribe_async(self, name: str, maxsize: int = 10_000,
                        types: Collection[EventType] | None = None) -> AsyncSubscription:
        """Events for asyncio code (``async for event in bus.subscribe_async("api")``), on the running loop."""
        return AsyncSubscription(self, name, maxsize, types, asyncio.get_running_loop())

    def emit(self, type_: EventType, ts: int, **fields: Any) -> dict[str, Any]:
        """Record the event and offer it to every subscriber; returns the record as written."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the event bus is closed; cannot emit {type_}")
            record = self.journal.emit(type_, ts, **fields)
            if self._subs:
                self._seq += 1
                event = Event(self._seq, EventType(type_), int(ts), record)
                if self._held:
                    self._waiting.append((event, tuple(self._subs.values())))
                else:
                    for sub in self._subs.values():
                        sub.offer(event)
            return record

    @contextlib.contextmanager
    def fanout_held(self) -> Iterator[None]:
        """Within the block events are journalled at once but offered to the subscribers only when it ends
        (the outermost block, if nested), in order, before any event emitted after it.

        The trading worker decides a step's orders in it: every offer wakes a subscriber's thread, which then
        takes the interpreter lock from the decisions each time they write to the journal, and the last
        order of a step waited for the log lines and metrics of the first ones. The subscribers are
        asynchronous anyway; they see the events a few milliseconds later, never fewer of them."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                if not self._held:
                    self._offer_waiting()

    def _offer_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for event, subs in waiting:
            for sub in subs:
                sub.offer(event)

    def stats(self) -> tuple[SubscriberStats, ...]:
        with self._lock:
            return tuple(sub.stats() for sub in self._subs.values())

    def close(self, timeout: float = 10.0) -> list[str]:
        """Stop taking events, let every subscriber handle what it has queued, join the threads and close the
        journal. Returns the subscribers still busy after ``timeout`` seconds each (left behind, logged)."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            self._offer_waiting()  # closed inside a held block: its events still reach the subscribers
            subs = list(self._subs.values())
        stuck = []
        for sub in subs:
            # the end mark goes after everything queued, so the subscriber drains first; a queue still full
            # after the timeout belongs to a stuck subscriber, left behind below
            with contextlib.suppress(queue.Full):
                sub.queue.put(None, timeout=timeout)
            sub.thread.join(timeout)
            if sub.thread.is_alive():
                log.warning("event subscriber %r did not finish within %s s; left behind", sub.name, timeout)
                stuck.append(sub.name)
        self.journal.close()
        return stuck

    def __enter__(self) -> EventBus:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_END = object()


class AsyncSubscription:
    """A bus subscription read with ``async for``. The subscriber thread hands each event to the loop and
    waits while the loop's queue (``maxsize``) is full, so a slow reader fills the thread's bounded queue and
    the bus drops and counts there: memory stays bounded end to end. The iteration ends when the bus closes."""

    def __init__(self, bus: EventBus, name: str, maxsize: int, types: Collection[EventType] | None,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        bus.subscribe(name, self._forward, maxsize, types, on_end=self._end)

    def _forward(self, event: Event) -> None:
        asyncio.run_coroutine_threadsafe(self._queue.put(event), self._loop).result()

    def _end(self) -> None:
        if not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._queue.put(_END), self._loop)

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        assert isinstance(item, Event)  # only events and the end mark are queued
        return item
