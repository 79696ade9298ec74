"""The notifier: a subscriber of the event bus that sends alerts and answers Telegram commands on threads of
its own, never on the trading path.

The bus hands each event to :meth:`Notifier.handle` on the bus's subscriber thread (the trading path pays the
bus's one ``put_nowait``). The handler runs the :class:`~tradewarden.notify.pipeline.Pipeline` (pure, under a
lock) and puts what is to be sent on the notifier's own bounded queue; a full queue drops the message and counts
it. The notifier's thread runs an asyncio loop with three tasks: the sender (each message to every channel at
once, each delivery retried with backoff: :mod:`tradewarden.notify.delivery`), a ticker that runs the silence
rules and ends collapse windows every ``tick_s``, and, with Telegram commands on, the ``getUpdates`` long poll
(:mod:`tradewarden.notify.commands`; database work in a worker thread, so sends go on meanwhile).

:meth:`Notifier.close`, after the bus closed (so the last events are in): the collapsed repeats are flushed,
the queue drains (within ``timeout``) and the thread ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

import aiohttp

from tradewarden.notify.alerts import Alert, Severity
from tradewarden.notify.channels import Channel, DeliveryError, TelegramApi, TelegramChat
from tradewarden.notify.commands import CommandDesk
from tradewarden.notify.delivery import Backoff, Counters, deliver
from tradewarden.notify.pipeline import TYPES, Pipeline, render
from tradewarden.observability.bus import Event, EventBus
from tradewarden.observability.metrics import NotifyCounts

log = logging.getLogger(__name__)
SUBSCRIBER = "notify"
#: events waiting for the notifier's handler on the bus (the handler is quick: a burst fills it rarely)
BUS_QUEUE = 10_000
DEFAULT_BACKOFF = Backoff()


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Notifier:
    def __init__(self, pipeline: Pipeline, channels: Sequence[Channel], label: str, *,
                 telegram: TelegramApi | None = None, desk: CommandDesk | None = None, queue_size: int = 200,
                 backoff: Backoff = DEFAULT_BACKOFF, tick_s: float = 5.0, poll_timeout_s: int = 25,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        self.pipeline = pipeline
        self.channels = list(channels)
        self.label = label
        self.telegram = telegram
        self.desk = desk
        self.backoff = backoff
        self.tick_s = tick_s
        self.poll_timeout_s = poll_timeout_s
        self.clock_ms = clock_ms
        self.counters = Counters()
        for channel in self.channels:  # every channel's series exists from the start, at zero
            self.counters.of(channel.name)
        self._lock = threading.Lock()  # the pipeline: the bus's thread and the ticker both step it
        self._out: queue.Queue[Alert | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._dropping = 0
        self.closed = False

    # -- the bus's side ---------------------------------------------------------------------------------
    def attach(self, bus: EventBus) -> None:
        """Subscribe to ``bus`` and start sending."""
        bus.subscribe(SUBSCRIBER, self.handle, BUS_QUEUE, TYPES)
        self.start()

    def handle(self, event: Event) -> None:
        """The bus handler (the bus's subscriber thread): decide, and queue what is to be sent."""
        with self._lock:
            out = self.pipeline.on_event(event.type, event.record, event.ts, self.clock_ms())
        for alert in out:
            self.enqueue(alert)

    def enqueue(self, alert: Alert) -> None:
        try:
            self._out.put_nowait(alert)
        except queue.Full:
            self.counters.dropped += 1
            self._dropping += 1
            if self._dropping == 1:
                log.warning("the notifier's queue is full (%d messages): dropping messages until it drains",
                            self._out.maxsize)
            return
        if self._dropping:
            log.warning("the notifier's queue drains again after %d dropped message(s)", self._dropping)
            self._dropping = 0

    def counts(self) -> NotifyCounts:
        """The counters for the metrics (read from the scrape's thread: a copy of plain ints)."""
        channels = dict(self.counters.channels)
        return NotifyCounts({name: c.sent for name, c in channels.items()},
                            {name: c.failed for name, c in channels.items()}, self.counters.dropped)

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 15.0) -> None:
        """Flush the collapsed repeats, send what is queued (within ``timeout``) and stop."""
        if self.closed:
            return
        self.closed = True
        with self._lock:
            for alert in self.pipeline.close():
                self.enqueue(alert)
        with contextlib.suppress(queue.Full):
            self._out.put(None, timeout=timeout)  # after everything queued: the sender drains first
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the notifier did not finish sending within %s s; %d message(s) left unsent", timeout,
                        self._out.qsize())
            if self._loop is not None and self._stop is not None:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._stop.set)
        if self.desk is not None:
            self.desk.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the notifier stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession() as http:
            tasks = [asyncio.create_task(self._ticker())]
            if self.telegram is not None and self.desk is not None:
                tasks.append(asyncio.create_task(self._poll(http, self.telegram, self.desk)))
            try:
                await self._send_all(http)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    # -- sending ---------------------------------------------------------------------------------------
    async def _send_all(self, http: aiohttp.ClientSession) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:  # a short wait at a time: the stop mark of a close that gave up is seen within it
                alert = await asyncio.to_thread(self._out.get, True, 0.5)
            except queue.Empty:
                continue
            if alert is None:
                return
            try:
                await self.send(http, alert)
            except Exception:  # a bug in a channel must not end the notifier
                log.exception("sending a notification failed")

    async def send(self, http: aiohttp.ClientSession, alert: Alert) -> list[bool]:
        """One message to every channel at once; whether each got it."""
        text = render(alert, self.label)
        return list(await asyncio.gather(*(deliver(c, http, alert, text, self.backoff, self.counters)
                                           for c in self.channels)))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            with self._lock:
                out = self.pipeline.on_tick(self.clock_ms())
            for alert in out:
                self.enqueue(alert)

    # -- Telegram commands ------------------------------------------------------------------------------
    async def _poll(self, http: aiohttp.ClientSession, api: TelegramApi, desk: CommandDesk) -> None:
        offset, failures = 0, 0
        while True:
            try:
                updates = await api.get_updates(http, offset, self.poll_timeout_s)
            except DeliveryError as exc:
                failures += 1
                if failures == 1:
                    log.warning("Telegram getUpdates failed: %s (retrying; later failures in a row are not "
                                "logged)", exc)
                await asyncio.sleep(self.backoff.delay(failures, exc.retry_after_s))
                continue
            if failures:
                log.warning("Telegram getUpdates works again after %d failure(s)", failures)
                failures = 0
            for update in updates:
                uid = update.get("update_id")
                if isinstance(uid, int):
                    offset = max(offset, uid + 1)
                await self._answer(http, api, desk, update)

    async def _answer(self, http: aiohttp.ClientSession, api: TelegramApi, desk: CommandDesk,
                      update: dict[str, object]) -> None:
        with self._lock:
            ready = self.pipeline.started
        try:
            reply = await asyncio.to_thread(desk.answer_update, update, ready)
        except Exception as exc:  # a database error: say so, and keep listening
            log.exception("a Telegram command failed")
            chat_id = desk.chat_of(update)
            reply = None if chat_id is None else (chat_id, f"the command failed: {type(exc).__name__}")
        if reply is None:
            return
        chat_id, text = reply
        answer = Alert("reply", str(chat_id), Severity.INFO, text, self.clock_ms())
        await deliver(TelegramChat(api, chat_id), http, answer, text, self.backoff, self.counters)
