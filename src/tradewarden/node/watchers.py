"""The watchers on the event loop: the kill switch, the account's lease, and (live) the open orders.

Each is a :class:`~tradewarden.node.components.Component`: ``start`` schedules its task, ``stop`` cancels it
and waits for it. What they change in the books they hand to the trading worker, so they never run in the
middle of a candle step.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink
from tradewarden.risk import TradingState

if TYPE_CHECKING:
    from tradewarden.node.commands import NodeCommands
    from tradewarden.risk import RiskManager
    from tradewarden.risk.account_audit import AccountAuditTrail

log = logging.getLogger(__name__)

#: operator requests with the trading worker at once (queued or running). A flood of requests (a script gone
#: wrong, a stuck button) must not pile jobs on the worker ahead of the candle steps: the rest stay pending in
#: the database, unacknowledged, and a later poll takes them as these finish
MAX_COMMANDS_IN_FLIGHT = 8

#: hands a job to the trading worker and awaits it (:meth:`tradewarden.node.worker.TradingWorker.run`)
OnWorker = Callable[[Callable[[], None]], Awaitable[None]]


class _Task:
    """A component whose work is one task on the loop."""

    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        raise NotImplementedError


class KillSwitchBook(Protocol):
    """What the kill-switch watcher asks of the risk book and the audit trail, under the risk lock."""

    def poll(self, now: int) -> bool:
        """Copy stored operator actions into the trail; True (and acknowledged) when the switch is on."""
        ...


class KillSwitchWatcher(_Task):
    """Polls the kill switch every ``period_s`` (the CLI sets it from another process). The poll runs on its
    own short thread, never behind the worker: once the switch is on the gate denies every new order, and the
    bot acknowledges at once (``kill-switch on`` waits for that); the cancels and closes the switch plans
    (``carry_out``) are queued on the worker and run when it is free. With ``commands``, the same poll picks
    up the operator requests the node carries out (closing a position, reloading the parameters): each is
    handed to the worker once."""

    def __init__(self, book: KillSwitchBook, carry_out: Callable[[], None], on_worker: OnWorker,
                 clock_ms: Callable[[], int], period_s: float, commands: NodeCommands | None = None) -> None:
        self.book = book
        self.commands = commands
        self._taken: set[int] = set()  # requests handed to the worker (a later poll may still read them pending)
        self._jobs: set[asyncio.Future[None]] = set()
        self.carry_out = carry_out
        self.on_worker = on_worker
        self.clock_ms = clock_ms
        self.period_s = period_s
        self.plans = 0  # plans handed to the worker
        self._plan: asyncio.Future[None] | None = None
        self.max_in_flight = MAX_COMMANDS_IN_FLIGHT
        self.refused = 0  # times a pending request was not taken because the worker had enough of them (per poll)
        self._refusing = False  # the last poll refused some: log once per episode, not once per poll

    async def check(self) -> None:
        """One poll; hands the plan to the worker unless the last one is still waiting for it."""
        on = await asyncio.to_thread(self.book.poll, self.clock_ms())
        if on and (self._plan is None or self._plan.done()):
            self.plans += 1
            self._plan = asyncio.ensure_future(self.on_worker(self.carry_out))
        if self.commands is not None:
            await self._take_commands(self.commands)

    async def _take_commands(self, commands: NodeCommands) -> None:
        fresh = [c for c in await asyncio.to_thread(commands.pending) if c.id not in self._taken]
        room = max(0, self.max_in_flight - len(self._jobs))
        for command in fresh[:room]:
            self._taken.add(command.id)
            job = asyncio.ensure_future(self.on_worker(functools.partial(commands.carry_out, command)))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        waiting = len(fresh) - min(room, len(fresh))
        self.refused += waiting
        if waiting and not self._refusing:
            log.warning("%d operator request(s) left pending: %d already with the trading worker (at most %d); "
                        "they are taken as those finish", waiting, len(self._jobs), self.max_in_flight)
        self._refusing = waiting > 0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            await self.check()

    async def stop(self) -> None:
        await super().stop()
        for job in [self._plan, *self._jobs]:
            if job is not None:
                with contextlib.suppress(Exception):
                    await job


class LeaseWatcher(_Task):
    """Once the account's lease is lost another bot may trade the account: halt new orders and stop."""

    def __init__(self, lost: Callable[[], str | None], risk: HaltsOrders, events: EventSink,
                 clock_ms: Callable[[], int], request_stop: Callable[[str], None], period_s: float,
                 say: Callable[[str], None] = print) -> None:
        self.lost = lost
        self.risk = risk
        self.events = events
        self.clock_ms = clock_ms
        self.request_stop = request_stop
        self.period_s = period_s
        self.say = say
        self.lost_reason: str | None = None  # why the lease was lost; the node then exits 1

    def check(self) -> bool:
        lost = self.lost()
        if lost is None:
            return False
        now = self.clock_ms()
        self.lost_reason = lost
        self.events.emit(EventType.LEASE_LOST, now, message=lost)
        self.risk.set_manual_state(now, "global", TradingState.HALTED, f"LEASE_LOST: {lost}")
        self.events.emit(EventType.HALTED_OPS, now, reason="LEASE_LOST",
                         what_to_do="make sure only one bot trades this account, then start it again")
        self.say(f"account lease lost: {lost}; stopping")
        self.request_stop("account lease lost")
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            if self.check():
                return


class HaltsOrders(Protocol):
    def set_manual_state(self, ts: int, scope: str, state: TradingState, reason: str) -> None: ...


class OrderFollower(_Task):
    """Live: between candles, asks the exchange about the open orders every ``period_s``, so a stop or limit
    order that fills mid-bar is booked (and stored) within seconds, not at the next close; sooner when an
    order whose create had no answer can be looked up conclusively (``recheck_in``)."""

    def __init__(self, has_open_orders: Callable[[], bool], recheck_in: Callable[[], float | None],
                 poll: Callable[[], None], on_worker: OnWorker, period_s: float) -> None:
        self.has_open_orders = has_open_orders
        self.recheck_in = recheck_in
        self.poll = poll
        self.on_worker = on_worker
        self.period_s = period_s
        self.polls = 0

    def wait_s(self) -> float:
        recheck = self.recheck_in()
        return self.period_s if recheck is None else min(self.period_s, recheck)

    async def follow_once(self) -> None:
        """Poll the venue on the worker, only when there are open orders."""
        if self.has_open_orders():
            self.polls += 1
            await self.on_worker(self.poll)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.wait_s())
            await self.follow_once()


class KillSwitchPoll:
    """The kill-switch watcher's poll on the real risk book: operator actions stored meanwhile (from any
    shell or machine) are copied into this account's audit trail first, under the risk lock (the trail and
    the risk book change together)."""

    def __init__(self, risk: RiskManager, audit: AccountAuditTrail, bot: str,
                 clock_ms: Callable[[], int]) -> None:
        self.risk, self.audit, self.bot, self.clock_ms = risk, audit, bot, clock_ms

    def poll(self, now: int) -> bool:
        with self.risk.lock:
            self.audit.copy_operator_actions(now)
            if not self.risk.poll_kill_switch(now):
                return False
            self.risk.acknowledge_kill_switch(self.clock_ms(), self.bot)
            return True
