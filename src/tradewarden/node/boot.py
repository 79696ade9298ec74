"""The boot: everything that decides whether this session may trade, each step an event.

In order: the hard live gate (``LIVE_ARM_FAILED`` when it refuses), the account lock (machine-wide;
``INSTANCE_REFUSED`` naming the holder when another bot has the account), the state database
(``STATE_MIGRATED`` when its schema was upgraded) and, with an API key, the account's lease in it
(``INSTANCE_REFUSED`` too: a bot on another machine sharing the database), the exchange's filters
(``FILTERS_MISMATCH``/``FILTERS_CHANGED``), ``RunStarted`` and ``BOOT_SEAL``, the account's audit trail
(``AUDIT_TRAIL_REFUSED``), then the safety checks (clock offset against the exchange, keys only where needed,
kill switch, stage limits, live: the key's permissions and the account's funding; ``SHADOW_SAFETY_OK`` in
shadow mode). A refusal raises :class:`BootRefused`; the node turns it into exit code 3.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tradewarden import __version__
from tradewarden.config.models import AppConfig
from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.ports import EventSink
from tradewarden.node.endpoint import CcxtExchange, Endpoint
from tradewarden.node.options import RunOptions, SessionError
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.risk import AuditError, RiskManager
from tradewarden.risk.account_audit import AccountAuditTrail
from tradewarden.runtime.lease_keeper import LeaseKeeper
from tradewarden.runtime.live_gate import LiveGateError, check_gate
from tradewarden.runtime.lock import InstanceLockedError, account_key, session_lock


class BootRefused(Exception):
    """The boot refused to start (its events are written, the console told): exit 3, not worth a retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Boot:
    def __init__(self, cfg: AppConfig, opts: RunOptions, config_hash: str, run_dir: Path, events: EventSink,
                 clock_ms: Callable[[], int], say: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.opts = opts
        self.config_hash = config_hash
        self.run_dir = run_dir
        self.events = events
        self.clock_ms = clock_ms
        self.say = say
        self.lease_keeper: LeaseKeeper | None = None  # while this session holds its account's lease

    @property
    def api_key(self) -> str | None:
        key = self.cfg.exchange.api_key
        return None if key is None else str(key.get_secret_value())

    # -- refusals --------------------------------------------------------------------------------------
    def not_armed(self, exc: LiveGateError) -> BootRefused:
        self.events.emit(EventType.LIVE_ARM_FAILED, self.clock_ms(), mode=self.opts.mode, reason=exc.reason,
                         message=str(exc), config_hash=self.config_hash)
        self.say(f"live trading not armed: {exc}")
        self.say(f"this config's hash: {self.config_hash}")
        return BootRefused(exc.reason)

    def refused(self, message: str, holder: Mapping[str, str | int] | None, **where: str) -> BootRefused:
        """Another bot trades this account: say who, in the run's events and on the console."""
        self.events.emit(EventType.INSTANCE_REFUSED, self.clock_ms(), mode=self.opts.mode, reason="ACCOUNT_LOCKED",
                         holder=None if holder is None else dict(holder), message=message, **where)
        self.say(f"refused to start: {message}")
        return BootRefused("ACCOUNT_LOCKED")

    # -- the steps -------------------------------------------------------------------------------------
    def check_gate(self) -> None:
        try:
            check_gate(self.opts.mode, self.config_hash, self.opts.live_confirm, self.opts.env,
                       self.cfg.exchange.key_material(), self.cfg.exchange.id)
        except LiveGateError as exc:
            raise self.not_armed(exc) from None

    @contextlib.contextmanager
    def account_lock(self) -> Iterator[None]:
        """The machine-wide lock of the account, held while the block runs."""
        lock = session_lock(self.cfg.exchange.id or "simulator", self.api_key, self.opts.mode, self.cfg.data_dir,
                            self.opts.env, bot=self.run_dir.name)
        try:
            lock.acquire()
        except InstanceLockedError as exc:
            raise self.refused(str(exc), exc.holder.fields() if exc.holder else None, lock=exc.where) from None
        try:
            yield
        finally:
            lock.release()

    def open_database(self) -> Database:
        db = Database.open(self.cfg.database.url, self.cfg.data_dir)
        if db.migrated:
            self.events.emit(EventType.STATE_MIGRATED, self.clock_ms(), from_revision=db.migration.from_revision,
                             to_revision=db.migration.to_revision)
        return db

    @contextlib.contextmanager
    def account_lease(self, db: Database) -> Iterator[None]:
        """Hold the account's lease in the database while trading (a session with an API key): across every
        machine sharing the database, one bot per account."""
        key = self.api_key
        if not key:
            yield
            return
        from tradewarden.persistence.lease import AccountLease, LeaseHeldError, LeaseHolder

        lease = AccountLease(db, account_key(self.cfg.exchange.id or "simulator", key),
                             LeaseHolder.me(self.run_dir.name))
        try:
            previous = lease.acquire()
        except LeaseHeldError as exc:
            raise self.refused(str(exc), exc.holder.fields(), database=db.url) from None
        if previous is not None:
            self.events.emit(EventType.LEASE_TAKEN_OVER, self.clock_ms(), previous=previous.fields(),
                             why="its lease expired, or its process on this host is gone")
        keeper = self.lease_keeper = LeaseKeeper(lease)
        keeper.start()
        try:
            yield
        finally:
            keeper.stop()

    async def instruments(self, rest: CcxtExchange, retry: RetryPolicy,
                          store: RuntimeStore) -> dict[str, Instrument]:
        """The exchange's filters of every traded symbol (runtime/instruments.py), checked against the config
        and the stored session."""
        import ccxt

        from tradewarden.runtime.instruments import FiltersRefused, markets_failure, session_instruments

        try:
            return await asyncio.to_thread(session_instruments, self.cfg, self.cfg.market.traded_symbols, rest, retry,
                                           store)
        except FiltersRefused as exc:
            self.events.emit(EventType(exc.reason), self.clock_ms(), message=str(exc), differences=exc.details())
            self.say(f"refusing to start: {exc}")
            raise BootRefused(exc.reason) from None
        except ccxt.BaseError as exc:
            # the retry policy gave up (its ExchangeGaveUp is in the events): the world failed, not the input, and
            # a later start may succeed, so exit 1 with one line rather than a refusal or a traceback
            raise SessionError(markets_failure(self.cfg.exchange.id or "simulator", exc, rest.timeout)) from None

    def seal(self, endpoint: Endpoint, instruments: Mapping[str, Instrument], strategy: str,
             params: Mapping[str, object], stage: str | None) -> None:
        """``RunStarted`` and ``BOOT_SEAL``: what this session trades, where, on which filters."""
        from tradewarden.runtime.instruments import seal

        now = self.clock_ms()
        symbols = list(instruments)
        self.events.emit(EventType.RUN_STARTED, now, mode=self.opts.mode, version=__version__,
                         config_hash=self.config_hash, symbols=symbols,
                         strategy={"name": strategy, "params": dict(params)}, run_dir=str(self.run_dir))
        self.events.emit(EventType.BOOT_SEAL, self.clock_ms(), version=__version__, mode=self.opts.mode,
                         config_hash=self.config_hash, stage=stage, strategy=strategy, params=dict(params),
                         symbol=symbols[0], symbols=symbols, timeframe=self.cfg.market.timeframe,
                         exchange=endpoint.label,
                         exchange_simulated=endpoint.simulated, filters=seal(instruments))

    def audit_trail(self, db: Database, account: str) -> AccountAuditTrail:
        """One trail per account, continued across runs; refused when it is not the trail the database knows."""
        from tradewarden.risk.account_audit import trail_path
        from tradewarden.risk.store import RiskStateStore

        try:
            trail = AccountAuditTrail(trail_path(self.cfg.data_dir, account), RiskStateStore(db), account)
        except AuditError as exc:
            self.events.emit(EventType.AUDIT_TRAIL_REFUSED, self.clock_ms(), account=account, message=str(exc))
            self.say(f"refusing to start: {exc}")
            raise BootRefused("audit trail damaged") from None
        trail.sync(self.clock_ms())
        return trail

    async def safety_checks(self, rest: CcxtExchange, risk: RiskManager, retry: RetryPolicy,
                            instrument: Instrument) -> None:
        mode = self.opts.mode
        checks: dict[str, object] = {}
        try:
            server = await asyncio.to_thread(retry.call, rest.fetch_time, label="fetch_time")
            offset = int(server) - self.clock_ms()
            checks["clock_offset_ms"] = offset
            if abs(offset) > 5_000:
                raise SessionError(f"clock offset against the exchange is {offset} ms; fix the system clock")
        except SessionError:
            raise
        except Exception as exc:  # the exchange may be down at boot: report it, the feed retries
            checks["clock_offset_ms"] = None
            checks["clock_error"] = f"{type(exc).__name__}: {exc}"
        checks["keys_present"] = bool(self.cfg.exchange.key_material())
        checks["kill_switch"] = risk.poll_kill_switch(self.clock_ms())
        checks["trading_state"] = risk.state().value
        checks["stage"] = risk.config.active_stage
        refusal: LiveGateError | None = None
        if mode == "live":  # the key's permissions and the account's funding, as the exchange reports them
            from tradewarden.runtime.live_checks import live_account_checks

            account, refusal = await asyncio.to_thread(live_account_checks, rest, instrument, retry,
                                                       self.cfg.exchange.allow_withdrawal_keys)
            checks.update(account)
        self.events.emit(EventType.SAFETY_CHECKS, self.clock_ms(), mode=mode, **checks)
        if refusal is not None:
            raise self.not_armed(refusal)
        if mode == "shadow":
            self.events.emit(EventType.SHADOW_SAFETY_OK, self.clock_ms(), **checks)
