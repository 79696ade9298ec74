"""The instance runner: the process side of an instance's lifecycle, around its work.

:meth:`InstanceRunner.claim` registers the instance for its host (found, or created ``idle``), takes its lease
in the database (:class:`~tradewarden.persistence.lease.AccountLease` on :func:`lease_key`: one running
instance per exchange and role, per account for trading) and moves it to ``starting``. A claim another live
process holds is refused (:class:`InstanceClaimRefused`, exit 3, naming the holder, with a note in the activity
feed); a dead holder's lease expires after the TTL (at once when it ran on this host and its pid is gone), and
a row left in a running state by a dead process is taken over (``starting``, "taken over from pid N").

:meth:`InstanceRunner.serve` then awaits the work (``fleet/work.py``) while a heartbeat writes the instance's
heartbeat and warm-up progress and renews the lease every ``heartbeat_s``; a lease found gone or taken over
stops the work and the runner writes no more state (another process owns it now). The work's hooks only queue
their lifecycle moves, written in order off the event loop, so calling them is cheap. A stop request (SIGTERM,
SIGINT) moves the instance to ``stopping``, waits up to ``stop_grace_s`` for the work and records ``stopped``;
an exception from the work records ``error`` with its one-line message. The lease is released at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.errors import BadInput
from tradewarden.fleet.work import InstanceWork
from tradewarden.observability.scrub import SCRUBBER
from tradewarden.persistence import fleet_repo, instance_repo
from tradewarden.persistence.database import Database
from tradewarden.persistence.fleet_repo import (
    HEARTBEAT_MS,
    ExchangeView,
    InstanceView,
    RegistryError,
    WarmupProgress,
)
from tradewarden.persistence.lease import AccountLease, LeaseHeldError, LeaseHolder, boot_id

log = logging.getLogger(__name__)

EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2  # the work found its setup wrong (BadInput): fix the registry or the config
EXIT_REFUSED = 3
S = InstanceState


class InstanceClaimRefused(RuntimeError):
    """Another live process serves this exchange and role (or account); the message names it (exit 3)."""

    def __init__(self, message: str, holder: LeaseHolder, instance_id: int) -> None:
        super().__init__(message)
        self.holder = holder
        self.instance_id = instance_id


def lease_key(exchange_id: int, role: InstanceRole, user_exchange_id: int | None = None) -> str:
    """One running instance per exchange and role; a trading instance's lease is its account's."""
    key = f"instance:{exchange_id}:{role.value}"
    return key if user_exchange_id is None else f"{key}:{user_exchange_id}"


def one_line(exc: BaseException) -> str:
    """An exception as the activity feed and ``last_error`` show it: its type and first line, secrets masked."""
    text = str(exc).strip().splitlines()
    return SCRUBBER.scrub(f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    heartbeat_s: float = HEARTBEAT_MS / 1000
    lease_ttl_s: float = 15.0
    stop_grace_s: float = 10.0


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What to run: ``symbols``/``timeframes`` replace the registry's when given; the ``default_*`` fill a
    new instance's (the config's market symbols and timeframe)."""

    exchange: str
    role: InstanceRole
    host: str
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ()
    default_symbols: tuple[str, ...] = ()
    default_timeframes: tuple[str, ...] = ()
    user_exchange_id: int | None = None
    actor: str = ""
    # run by hand (not by an agent): desired running while it runs, stopped after a clean stop, so that the
    # host's agent neither stops it nor starts it again; a crash leaves it running and the agent restarts it
    owns_desired: bool = False


@dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int
    message: str


class InstanceRunner:
    """One instance's run in this process: :meth:`claim`, then :meth:`serve`. It is the work's
    :class:`~tradewarden.fleet.work.InstanceHooks`."""

    def __init__(self, db: Database, spec: InstanceSpec, settings: RunnerSettings | None = None, *,
                 pid: int | None = None, boot: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.spec = spec
        self.settings = settings or RunnerSettings()
        self.pid = os.getpid() if pid is None else pid
        self._boot = boot_id() if boot is None else boot
        self._monotonic = monotonic
        self.lost: str | None = None
        self._lease: AccountLease | None = None
        self._instance: InstanceView | None = None
        self._exchange: ExchangeView | None = None
        self._state = S.IDLE  # the state once every queued move is written
        self._progress: WarmupProgress | None = None
        self._stop_reason = "asked to stop"
        self._renewed_at = monotonic()
        # made here so the hooks can queue at once; they bind to the event loop on first use (serve's)
        self._moves: asyncio.Queue[tuple[InstanceState, InstanceState, str] | None] = asyncio.Queue()
        self._done = asyncio.Event()
        self._stop = asyncio.Event()

    @property
    def instance(self) -> InstanceView:
        if self._instance is None:
            raise RuntimeError("claim() the instance before serving it")
        return self._instance

    # -- claim -----------------------------------------------------------------------------------------
    def claim(self) -> InstanceView:
        """Register the instance, take its lease and move it to ``starting``.

        Raises :class:`RegistryError` for an unknown or inactive exchange or account, and
        :class:`InstanceClaimRefused` while another live process holds the lease.
        """
        spec, db = self.spec, self.db
        exchange = self._exchange = fleet_repo.get_exchange(db, spec.exchange)
        if not exchange.is_active:
            raise RegistryError(f"exchange {exchange.slug!r} is inactive; activate it with "
                                f"`tradewarden exchanges update {exchange.slug} --active`")
        self._check_account(exchange)
        inst = instance_repo.register_instance(
            db, exchange.slug, spec.role, spec.host, symbols=spec.symbols, timeframes=spec.timeframes,
            user_exchange_id=spec.user_exchange_id, actor=spec.actor)
        if (not inst.symbols and spec.default_symbols) or (not inst.timeframes and spec.default_timeframes):
            inst = instance_repo.register_instance(
                db, exchange.slug, spec.role, spec.host, user_exchange_id=spec.user_exchange_id,
                symbols=() if inst.symbols else spec.default_symbols,
                timeframes=() if inst.timeframes else spec.default_timeframes)
        lease = AccountLease(db, lease_key(exchange.id, spec.role, spec.user_exchange_id),
                             LeaseHolder(spec.host, self.pid, f"instance {inst.id}", 0, self._boot),
                             ttl_ms=round(self.settings.lease_ttl_s * 1000))
        try:
            previous = lease.acquire()
        except LeaseHeldError as exc:
            held = exc.holder.describe()
            instance_repo.note(db, inst.id, f"claim by pid {self.pid} on {spec.host} refused: {held} holds "
                               f"{exchange.slug} {spec.role.value}", actor=spec.actor)
            raise InstanceClaimRefused(
                f"{exchange.slug} {spec.role.value} is already served: {held}. One running instance per "
                f"exchange and role; stop that one first (a holder that died releases it within "
                f"{self.settings.lease_ttl_s:g} s)", exc.holder, inst.id) from None
        try:
            current = instance_repo.get_instance(db, inst.id)
            if current.state.is_running:
                reason = f"taken over from pid {current.pid}"
            else:
                reason = f"started by {spec.actor}" if spec.actor else "started"
            if previous is not None and previous.pid != current.pid:
                reason += f" (the lease of {previous.describe()} had expired)"
            self._instance = instance_repo.transition(db, inst.id, S.STARTING, reason, actor=spec.actor,
                                                      expect=current.state, pid=self.pid)
            if spec.owns_desired:
                instance_repo.set_desired(db, inst.id, DesiredState.RUNNING, actor=spec.actor,
                                          reason="`instance run` by hand")
        except BaseException:
            lease.release()
            raise
        self._lease = lease
        self._state = S.STARTING
        self._renewed_at = self._monotonic()
        return self._instance

    def _check_account(self, exchange: ExchangeView) -> None:
        spec = self.spec
        if spec.role is InstanceRole.TRADING and spec.user_exchange_id is None:
            raise RegistryError("a trading instance needs the account it trades (a user_exchange id; see "
                                "`tradewarden accounts list`)")
        if spec.user_exchange_id is None:
            return
        account = next((a for a in fleet_repo.list_accounts(self.db) if a.id == spec.user_exchange_id), None)
        if account is None or account.exchange != exchange.slug:
            raise RegistryError(f"no account with id {spec.user_exchange_id} on {exchange.slug} "
                                "(see `tradewarden accounts list`)")
        if not account.is_active:
            raise RegistryError(f"account {spec.user_exchange_id} ({account.display_name}) is inactive")

    # -- the hooks the work calls ----------------------------------------------------------------------
    def warming(self, reason: str) -> None:
        if self._state is S.STARTING:
            self._queue(S.WARMING, reason)
        elif self._state is not S.WARMING:
            log.info("instance %s: warming ignored in state %s (%s)", self.instance.id, self._state, reason)

    def progress(self, progress: WarmupProgress) -> None:
        self._progress = progress

    def active(self, reason: str) -> None:
        if self._state in (S.STARTING, S.WARMING):
            self._queue(S.ACTIVE, reason)
        elif self._state is not S.ACTIVE:
            log.info("instance %s: active ignored in state %s (%s)", self.instance.id, self._state, reason)

    def _queue(self, target: InstanceState, reason: str) -> None:
        self._moves.put_nowait((self._state, target, reason))
        self._state = target

    # -- serve -----------------------------------------------------------------------------------------
    async def serve(self, work: InstanceWork, stop: asyncio.Event | None = None, *,
                    handle_signals: bool = False) -> RunResult:
        """Run ``work`` until it fails or ``stop`` is set (by SIGTERM/SIGINT with ``handle_signals``, or by a
        lost lease); record the end and release the lease."""
        instance = self.instance
        if self._exchange is None or self._lease is None:
            raise RuntimeError("claim() the instance before serving it")
        if stop is not None:
            self._stop = stop
        stop = self._stop
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._signalled, sig.name)
        beat = asyncio.create_task(self._heartbeats(), name="instance-heartbeat")
        writer = asyncio.create_task(self._write_moves(), name="instance-moves")
        task: asyncio.Future[None] = asyncio.ensure_future(work(instance, self._exchange, self, stop))
        stopper = asyncio.create_task(self._stopped())
        failure: BaseException | None = None
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() and self.lost is None:  # (the work may have returned at the same moment)
                self._queue(S.STOPPING, self._stop_reason)
            if not task.done():
                done, _ = await asyncio.wait({task}, timeout=self.settings.stop_grace_s)
                if not done:
                    task.cancel()
                    failure = TimeoutError(f"the work did not stop within {self.settings.stop_grace_s:g} s")
            results = await asyncio.gather(task, return_exceptions=True)
            if failure is None and isinstance(results[0], BaseException):
                failure = results[0]
        finally:
            stopper.cancel()
            for sig in signals:
                loop.remove_signal_handler(sig)
            self._moves.put_nowait(None)
            await writer
            self._done.set()
            await beat
        return await asyncio.to_thread(self._finish, failure, stop.is_set())

    async def _stopped(self) -> None:
        await self._stop.wait()

    def _signalled(self, name: str) -> None:
        self._stop_reason = f"{name} received"
        self._stop.set()

    def _lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
            self._stop_reason = f"lease lost: {why}"

    async def _heartbeats(self) -> None:
        while not self._done.is_set():
            try:
                await asyncio.wait_for(self._done.wait(), self.settings.heartbeat_s)
                return
            except TimeoutError:
                pass
            await asyncio.to_thread(self._beat)
            if self.lost is not None:
                self._stop.set()
                return

    def _beat(self) -> None:
        """One heartbeat: renew the lease, then write the instance's heartbeat and progress."""
        lease = self._lease
        assert lease is not None
        try:
            renewed = lease.renew()
            written = instance_repo.heartbeat(self.db, self.instance.id, pid=self.pid,
                                              progress=self._progress) if renewed else 0
        except SQLAlchemyError as exc:  # the database may come back: the lease holds for its TTL
            if self._monotonic() - self._renewed_at > self.settings.lease_ttl_s:
                self._lose(f"the database did not answer for {self.settings.lease_ttl_s:g} s ({one_line(exc)})")
            else:
                log.warning("instance %s: heartbeat failed: %s", self.instance.id, one_line(exc))
            return
        if not renewed:
            self._lose("another process took the instance's lease over (this one did not renew it in time)")
        elif not written:
            self._lose("the instance records another pid: it was taken over")
        else:
            self._renewed_at = self._monotonic()

    async def _write_moves(self) -> None:
        """Write the queued lifecycle moves in order; a database error is retried (the heartbeat decides when
        the database has been gone too long); a move someone else's write contradicts means a takeover."""
        while (move := await self._moves.get()) is not None:
            expect, target, reason = move
            while self.lost is None:
                try:
                    await asyncio.to_thread(self._record, expect, target, reason)
                    break
                except RegistryError as exc:
                    self._lose(str(exc))
                    self._stop.set()
                except SQLAlchemyError as exc:
                    log.warning("instance %s: recording %s failed: %s", self.instance.id, target, one_line(exc))
                    await asyncio.sleep(self.settings.heartbeat_s)

    def _record(self, expect: InstanceState, target: InstanceState, reason: str) -> None:
        # the progress so far first: a reader never sees ``active`` next to the progress of a heartbeat ago
        if self._progress is not None and target is not S.STOPPING:
            instance_repo.heartbeat(self.db, self.instance.id, pid=self.pid, progress=self._progress)
        instance_repo.transition(self.db, self.instance.id, target, reason, actor=self.spec.actor, expect=expect)

    def _finish(self, failure: BaseException | None, stop_requested: bool) -> RunResult:
        """Record how the run ended (unless another process owns the instance now) and release the lease."""
        lease, inst = self._lease, self.instance
        assert lease is not None
        if self.lost is not None:
            try:
                instance_repo.note(self.db, inst.id, f"pid {self.pid} stopped: {self.lost}", actor=self.spec.actor)
            except SQLAlchemyError as exc:
                log.warning("instance %s: cannot note the lost lease: %s", inst.id, one_line(exc))
            return RunResult(EXIT_FAILED, f"instance {inst.id} stopped: {self.lost}")
        try:
            if failure is not None:
                message = one_line(failure)
                instance_repo.transition(self.db, inst.id, S.ERROR, f"the work failed: {message}",
                                         actor=self.spec.actor, expect=self._state, error=message)
                code = EXIT_BAD_INPUT if isinstance(failure, BadInput) else EXIT_FAILED
                return RunResult(code, f"instance {inst.id} failed: {message}")
            if not stop_requested:
                message = "the work ended without being asked to stop"
                instance_repo.transition(self.db, inst.id, S.ERROR, message, actor=self.spec.actor,
                                         expect=self._state, error=message)
                return RunResult(EXIT_FAILED, f"instance {inst.id} failed: {message}")
            instance_repo.transition(self.db, inst.id, S.STOPPED, "stopped", actor=self.spec.actor,
                                     expect=self._state)
            if self.spec.owns_desired:
                instance_repo.set_desired(self.db, inst.id, DesiredState.STOPPED, actor=self.spec.actor,
                                          reason=f"`instance run` by hand stopped ({self._stop_reason})")
            return RunResult(EXIT_STOPPED, f"instance {inst.id} stopped ({self._stop_reason})")
        finally:
            lease.release()
