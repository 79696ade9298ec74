"""The trading node: a paper, shadow or live session on the one engine, from boot to report.

Threads: the event loop runs the feed, the candle intake, the watchers (kill switch, lease), the order
follower's timer, the loop monitor and the scheduler's hand-overs; the trading worker
(:mod:`tradewarden.node.worker`) runs every candle step and every exchange call, one after the other. So a
create whose answer is late holds the worker only: the kill-switch watcher halts the bot from its own short
thread at once (the risk manager is locked), and the cancels and closes it plans run when the worker is free.

Boot sequence (each step an event): the hard live gate (``LIVE_ARM_FAILED`` when it refuses), the account
lock (machine-wide; ``INSTANCE_REFUSED`` naming the holder when another bot has the account), the state
database (``STATE_MIGRATED`` when its schema was upgraded) and, with an API key, the account's lease in it
(``INSTANCE_REFUSED`` too: a bot on another machine sharing the database), ``BOOT_SEAL``, safety checks
(clock offset against the exchange, keys only where needed, kill switch, stage limits; ``SHADOW_SAFETY_OK``
in shadow mode), reconciliation (live), warm-up of the candle history the strategy needs, then trading:
every closed candle from the feed goes through the engine, is recorded, and the state is persisted. A
graceful stop (SIGTERM/SIGINT, ``--duration``) finishes the step, cancels or keeps open orders as
configured, and writes the report.

With no exchange configured, a paper or shadow session starts the built-in exchange simulator (replaying the
bundled 1m sample, accelerated, with a fire drill of faults) and trades against it; a live one refuses
(``NO_EXCHANGE``): live trades the simulator only when ``exchange.urls`` points at it explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewarden import __version__
from tradewarden.domain.candles import Candle, timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import OrderStatus
from tradewarden.domain.ports import Venue
from tradewarden.errors import BadInput
from tradewarden.node.intake import CandleIntake
from tradewarden.node.monitor import LoopMonitor
from tradewarden.node.worker import TradingWorker
from tradewarden.private_files import UnwritablePathError, private_dir, write_private
from tradewarden.runtime.live_gate import LiveGateError, check_gate
from tradewarden.runtime.lock import InstanceLockedError, account_key, session_lock
from tradewarden.runtime.recording import Recorder

if TYPE_CHECKING:
    from tradewarden.runtime.lease_keeper import LeaseKeeper

#: exit code of a session that refused to start (live gate, another instance on the account): unlike a crash
#: (1), starting again cannot help, so a supervisor must not retry it (deploy/tradewarden.service)
REFUSED_TO_START = 3
DURATION_UNITS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class SessionError(RuntimeError):
    """A session that cannot start or go on; the message says why and what to do."""


def parse_duration(text: str | None) -> int | None:
    """``90s``, ``10m``, ``10h``, ``2d`` to milliseconds (market time); None for no limit."""
    if text is None:
        return None
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in DURATION_UNITS or not value[:-1].replace(".", "", 1).isdigit():
        raise BadInput(f"duration {text!r}: use a number and a unit, e.g. 90s, 10m, 10h, 2d")
    return int(float(value[:-1]) * DURATION_UNITS[value[-1]])


@dataclass
class RunOptions:
    mode: str
    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    duration: str | None = None
    live_confirm: str | None = None
    adopt: bool = False
    out_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class SessionOutcome:
    exit_code: int
    run_dir: Path
    reason: str
    config_hash: str
    candles: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _run_dir(root: Path, mode: str, symbol: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return root / f"{stamp}-{mode}-{symbol.replace('/', '')}"


FIRE_DRILL = """\
# The built-in fire drill: what the simulator throws at a paper session with nothing configured.
faults:
  - at_candle: 40
    kind: drop_connections
  - at_candle: 90
    kind: stall_streams
    seconds: 12
  - at_candle: 140
    kind: rate_limit
    count: 2
    retry_after: 1
  - at_candle: 190
    kind: server_errors
    count: 3
  - at_candle: 240
    kind: malformed_messages
    count: 1
  - at_candle: 300
    kind: drop_connections
"""


class TradingSession:
    """Everything one ``tradewarden run`` holds; :meth:`run` drives it."""

    def __init__(self, opts: RunOptions, console_print: Callable[[str], None] = print) -> None:
        from tradewarden.config import load_run_config

        self.opts = opts
        self.say = console_print
        # the config as the session trades it (simulator timeframe applied) and its hash: what `config show`
        # prints, so the hash an operator confirms is the one the gate checks
        effective = load_run_config(opts.config, opts.overrides, env=opts.env)
        self.cfg, self.config_hash = effective.config, effective.config_hash
        from tradewarden.observability import setup_logging

        # JSON lines to the log file, readable lines on the terminal, both scrubbed of secrets
        setup_logging(self.cfg.logging.level, self.cfg.log_file, self.cfg.logging.console,
                      max_bytes=self.cfg.logging.max_bytes, backups=self.cfg.logging.backups)
        import logging

        for chatty in ("alembic", "apscheduler"):  # their INFO lines say nothing an operator needs
            logging.getLogger(chatty).setLevel(logging.WARNING)
        self.duration_ms = parse_duration(opts.duration)
        root = opts.out_dir.parent if opts.out_dir else self.cfg.backtest.out_dir
        self.run_dir = opts.out_dir or _run_dir(root, opts.mode, self.cfg.market.symbol)
        self.stop_reason = ""
        self.end_ms: int | None = None  # market time at which --duration is up
        self.candles_seen = 0
        self.started_ts: int | None = None  # market time this run's --duration counts from (kept over a crash)
        self.fill_seq = 0
        self._completed = False
        self.trade_after: int | None = None  # the last warm-up bar, when the session knows it (simulator)
        self.protection: Any = None
        from tradewarden.runtime.series import SessionSeries

        # the session's per-bar results and trades, kept in the store so a resumed session reports on all of it
        self.series = SessionSeries()
        self.recording_path: Path | None = None       # the session's recording, kept in the resume snapshot
        self.previous_recording: Path | None = None   # after a crash: the recording of the process before
        self.recording_continued = False              # this run's recording continues the session's
        self.resumed_after: int | None = None         # after a crash: the last candle the store holds
        self.lease_keeper: LeaseKeeper | None = None  # while this session holds its account's lease
        self.lease_lost: str | None = None
        from tradewarden.venues.reconcile import ReconcileMemory

        self.reconcile_memory = ReconcileMemory()  # the periodic reconciliation's debounce
        # exchange ids of the orders there before this bot started (and of foreign ones already reported)
        self.orders_at_boot: set[str | None] = set()
        self.instrument: Instrument | None = None  # from the exchange's markets, at boot

    # -- entry point -----------------------------------------------------------------------------------
    def run(self) -> SessionOutcome:
        from tradewarden.observability import EventJournal

        private_dir(self.run_dir)
        try:
            opened = EventJournal(self.run_dir / "events.jsonl")
        except OSError as exc:  # e.g. events.jsonl is a directory, or the disk is full
            raise UnwritablePathError(f"cannot write the run directory {self.run_dir}: "
                                      f"{exc.strerror or exc}") from None
        with opened as journal:
            self.journal = journal
            try:
                check_gate(self.opts.mode, self.config_hash, self.opts.live_confirm, self.opts.env,
                           self.cfg.exchange.key_material(), self.cfg.exchange.id)
            except LiveGateError as exc:
                return self._not_armed(exc)
            lock = session_lock(self.cfg.exchange.id or "simulator", self._secret(self.cfg.exchange.api_key),
                                self.opts.mode, self.cfg.data_dir, self.opts.env, bot=self.run_dir.name)
            try:
                lock.acquire()
            except InstanceLockedError as exc:
                return self._refused(str(exc), exc.holder.fields() if exc.holder else None, lock=exc.where)
            try:
                return asyncio.run(self._main())
            except LiveGateError as exc:  # what the exchange told the boot checks (live_checks)
                return self._not_armed(exc)
            finally:
                lock.release()

    def _not_armed(self, exc: LiveGateError) -> SessionOutcome:
        self.journal.emit(EventType.LIVE_ARM_FAILED, _now_ms(), mode=self.opts.mode, reason=exc.reason,
                          message=str(exc),
                          config_hash=self.config_hash)
        self.say(f"live trading not armed: {exc}")
        self.say(f"this config's hash: {self.config_hash}")
        return SessionOutcome(REFUSED_TO_START, self.run_dir, exc.reason, self.config_hash)

    def _refused(self, message: str, holder: dict[str, str | int] | None, **where: str) -> SessionOutcome:
        """Another bot trades this account: say who, in the run's events and on the console, and exit 3."""
        self.journal.emit(EventType.INSTANCE_REFUSED, _now_ms(), mode=self.opts.mode, reason="ACCOUNT_LOCKED",
                          holder=holder, message=message, **where)
        self.say(f"refused to start: {message}")
        return SessionOutcome(REFUSED_TO_START, self.run_dir, "ACCOUNT_LOCKED", self.config_hash)

    @staticmethod
    def _secret(value: Any) -> str | None:
        return None if value is None else str(value.get_secret_value())

    # -- the async body --------------------------------------------------------------------------------
    async def _main(self) -> SessionOutcome:
        from tradewarden.persistence import Database

        cfg = self.cfg
        db = Database.open(cfg.database.url, cfg.data_dir)
        if db.migrated:
            self.journal.emit(EventType.STATE_MIGRATED, _now_ms(), from_revision=db.migration.from_revision,
                              to_revision=db.migration.to_revision)
        from sqlalchemy.exc import SQLAlchemyError

        from tradewarden.persistence.database import DatabaseError, error_line
        from tradewarden.persistence.lease import LeaseHeldError

        try:
            with self._account_lease(db), self._exchange_endpoints() as endpoints:
                return await self._trade(db, endpoints)
        except LeaseHeldError as exc:
            return self._refused(str(exc), exc.holder.fields(), database=db.url)
        except SQLAlchemyError as exc:  # each step is one transaction: a failed one is rolled back whole
            raise DatabaseError(f"database {db.location}: {error_line(exc)}") from None
        finally:
            db.close()

    @contextlib.contextmanager
    def _account_lease(self, db: Any) -> Iterator[None]:
        """Hold the account's lease in the database while trading (a session with an API key): across every
        machine sharing the database, one bot per account. Raises LeaseHeldError when another holds it."""
        key = self._secret(self.cfg.exchange.api_key)
        if not key:
            yield
            return
        from tradewarden.persistence.lease import AccountLease, LeaseHolder
        from tradewarden.runtime.lease_keeper import LeaseKeeper

        lease = AccountLease(db, account_key(self.cfg.exchange.id or "simulator", key),
                             LeaseHolder.me(self.run_dir.name))
        previous = lease.acquire()
        if previous is not None:
            self.journal.emit(EventType.LEASE_TAKEN_OVER, _now_ms(), previous=previous.fields(),
                              why="its lease expired, or its process on this host is gone")
        keeper = self.lease_keeper = LeaseKeeper(lease)
        keeper.start()
        try:
            yield
        finally:
            keeper.stop()

    @contextlib.contextmanager
    def _exchange_endpoints(self) -> Iterator[dict[str, Any]]:
        """ccxt constructor config for the configured exchange, or for a built-in simulator started now."""
        cfg = self.cfg
        if cfg.exchange.id is not None:
            from tradewarden.data.exchange import settings_from_config
            from tradewarden.runtime.live_checks import identify_endpoint

            # exchange.urls may lead elsewhere than the exchange: BOOT_SEAL names where orders really go
            endpoint = identify_endpoint(cfg.exchange.id, cfg.exchange.urls, cfg.exchange.sandbox)
            if endpoint.origin is not None:
                self.say(f"exchange: {endpoint.label}")
            yield {"settings": settings_from_config(cfg), "simulator": None, "exchange": endpoint.label,
                   "simulated": endpoint.simulator}
            return
        from tradewarden.data.sample import sample_1m_path
        from tradewarden.simulator.testing import start_simulator

        scenario = None
        if cfg.runtime.sim_fire_drill:
            scenario = self.run_dir / "fire-drill.yaml"
            write_private(scenario, FIRE_DRILL)
        data = cfg.runtime.sim_data or sample_1m_path()
        from tradewarden.data import load_candles

        replayed = load_candles(data)
        data_tf = replayed.timeframe
        # history the simulator has "in the past" at start, in its own candles: enough for the warm-up
        past = (self._warmup_bars() + 2) * (timeframe_ms(cfg.market.timeframe) // timeframe_ms(data_tf)) + 5
        with start_simulator(data=data, symbols=[cfg.market.symbol], speed=cfg.runtime.sim_speed,
                             seed=cfg.runtime.sim_seed, start_index=past, scenario=scenario,
                             balances={cfg.market.symbol.split("/")[1]: str(cfg.backtest.initial_cash)}) as sim:
            self.say(f"built-in exchange simulator on {sim.base_url} (x{cfg.runtime.sim_speed:g}, "
                     f"replaying {Path(data).name}{', fire drill on' if scenario else ''})")
            # the simulator's clock starts at this candle: trading begins after the last bar closed by then, the
            # same bar however long our own boot takes (the simulator's clock runs in real time x speed)
            tf = timeframe_ms(cfg.market.timeframe)
            self.trade_after = int(replayed.ts[min(past, len(replayed) - 1)]) // tf * tf - tf
            yield {"ccxt": sim.ccxt_config(), "simulator": sim, "exchange": "built-in simulator", "simulated": True}

    def _warmup_bars(self) -> int:
        from tradewarden.strategies import load_strategy

        if self.cfg.runtime.warmup_bars:
            return int(self.cfg.runtime.warmup_bars)
        strategy = load_strategy(self.cfg.strategy.name, dict(self.cfg.strategy.params))
        return max(strategy.lookback + 10, 50)

    def _instrument(self) -> Instrument:
        """The exchange's instrument once the boot has it; the config's before."""
        return self.instrument or self.cfg.trading_instrument()

    def _make_exchanges(self, endpoints: dict[str, Any]) -> tuple[Any, Any, Any]:
        """(sync ccxt exchange for orders, another for reads with its own rate limiter, ccxt.pro for the feed)."""
        if endpoints.get("settings") is not None:
            from tradewarden.data.exchange import make_exchange

            settings = endpoints["settings"]
            return make_exchange(settings, "sync"), make_exchange(settings, "sync"), make_exchange(settings, "pro")
        import ccxt
        import ccxt.pro

        conf = dict(endpoints["ccxt"])
        if self.opts.mode != "live":  # paper and shadow hold no keys, even for the simulator
            conf.pop("apiKey", None)
            conf.pop("secret", None)
        elif self.cfg.exchange.api_key is None:
            raise SessionError("live mode needs keys")
        return ccxt.binance(dict(conf)), ccxt.binance(dict(conf)), ccxt.pro.binance(dict(conf))

    async def _trade(self, db: Any, endpoints: dict[str, Any]) -> SessionOutcome:
        from tradewarden.backtest.settings import BacktestSettings
        from tradewarden.config import masked_dump
        from tradewarden.data.feed_ccxt import CcxtFeed
        from tradewarden.data.retry import RetryPolicy
        from tradewarden.engine.engine import Engine
        from tradewarden.persistence.runtime_store import RuntimeStore
        from tradewarden.risk import AuditError, RiskManager, load_risk_config
        from tradewarden.risk.account_audit import AccountAuditTrail, trail_path
        from tradewarden.risk.store import RiskStateStore
        from tradewarden.runtime.instruments import FiltersRefused, record_instruments, seal, session_instruments
        from tradewarden.strategies import load_strategy

        cfg, mode, journal = self.cfg, self.opts.mode, self.journal
        strategy = load_strategy(cfg.strategy.name, self._params())
        risk_cfg = load_risk_config(cfg.risk)
        account = f"{mode}:{cfg.exchange.id or 'simulator'}:{cfg.market.symbol}:{strategy.name}"
        rest, self.reader, pro = self._make_exchanges(endpoints)
        self.worker = TradingWorker()
        # every REST call of the boot sequence goes through the one retry policy (429/418/5xx/timeouts)
        self.retry = RetryPolicy(sink=journal, exchange=rest, max_total_s=120.0)
        try:  # the filters are the exchange's (runtime/instruments.py), recorded in BOOT_SEAL
            instruments = await asyncio.to_thread(session_instruments, cfg, [cfg.market.symbol], rest, self.retry,
                                                  RuntimeStore(db, account))
        except FiltersRefused as exc:
            journal.emit(EventType(exc.reason), _now_ms(), message=str(exc), differences=exc.details())
            self.say(f"refusing to start: {exc}")
            await pro.close()
            return SessionOutcome(REFUSED_TO_START, self.run_dir, exc.reason, self.config_hash)
        instrument = self.instrument = instruments[cfg.market.symbol]
        journal.emit(EventType.RUN_STARTED, _now_ms(), mode=mode, version=__version__, config_hash=self.config_hash,
                     symbols=[instrument.symbol], strategy={"name": strategy.name, "params": dict(strategy.params)},
                     run_dir=str(self.run_dir))
        journal.emit(EventType.BOOT_SEAL, _now_ms(), version=__version__, mode=mode, config_hash=self.config_hash,
                     stage=risk_cfg.active_stage, strategy=strategy.name, params=dict(strategy.params),
                     symbol=instrument.symbol, timeframe=cfg.market.timeframe,
                     exchange=endpoints["exchange"], exchange_simulated=endpoints["simulated"],
                     filters=seal(instruments))
        risk_store = RiskStateStore(db)
        try:
            # one trail per account, continued across runs; refused when it is not the trail the database knows
            self.audit = AccountAuditTrail(trail_path(cfg.data_dir, account), risk_store, account)
        except AuditError as exc:
            journal.emit(EventType.AUDIT_TRAIL_REFUSED, _now_ms(), account=account, message=str(exc))
            self.say(f"refusing to start: {exc}")
            return SessionOutcome(REFUSED_TO_START, self.run_dir, "audit trail damaged", self.config_hash)
        self.audit.sync(_now_ms())
        try:
            risk = RiskManager(risk_cfg, journal, self.audit, store=risk_store,
                               instruments={instrument.symbol: instrument})
            await self._safety_checks(rest, risk)
            settings = BacktestSettings.from_config(cfg.backtest)
            venue = await asyncio.to_thread(self._venue, mode, instrument, settings, rest)
            engine = Engine(strategy, instrument, venue, journal, settings.engine_settings(), settings.initial_cash,
                            cfg.market.timeframe, check=risk, risk=risk, keep_history=False)
            engine.history.max_bars = max(4 * strategy.lookback, 2_000)
            self.store = RuntimeStore(db, account)
            self.protection = self._protection(mode, settings)
            resumed = self._resume(engine, venue)
            record_instruments(self.store, instruments, _now_ms())
            if mode == "live":
                # what the previous process left (fills while it was down included) against the exchange
                await self.worker.run(self._reconcile_at_boot, self.reader, engine, risk, resumed)
                await self.worker.run(self._persist, engine, venue, engine.last_ts)
                engine.before_submit = self._before_submit(engine)
            feed = CcxtFeed(pro, sink=journal, name=cfg.exchange.id or "simulator")
            recorder = self._recorder(engine, {
                "mode": mode, "config_hash": self.config_hash, "config": masked_dump(cfg), "version": __version__,
                "filters": seal(instruments)})
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self._request_stop, stop, f"signal {sig.name}")
            self.intake = CandleIntake()
            monitor = self.monitor = LoopMonitor(journal, _now_ms, lambda: {
                "candles_received": self.intake.received, "feed_healthy": bool(getattr(feed, "healthy", True)),
                "worker_jobs": self.worker.busy}, cfg.runtime.heartbeat_s)
            monitor.start()
            watchers = [asyncio.create_task(self._watch_kill_switch(engine, risk, stop))]
            if self.lease_keeper is not None:
                watchers.append(asyncio.create_task(self._watch_lease(risk, stop)))
            if mode == "live":
                watchers.append(asyncio.create_task(self._follow_orders(engine, stop)))
            scheduler = self._schedule(db, engine, rest, risk, loop)
            try:
                await self._run_loop(engine, feed, recorder, risk, stop)
            finally:
                scheduler.shutdown(wait=False)
                for watcher in watchers:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                await self.worker.run(self._stop_step, engine)
                await monitor.stop()
                await feed.close()
                recorder.close()
        finally:
            self.worker.close()
            with contextlib.suppress(Exception):
                await pro.close()
            self.audit.sync(_now_ms())
            self.audit.close()
        metrics = self._report(engine, instrument, settings)
        journal.emit(EventType.RUN_FINISHED, engine.last_ts or _now_ms(), mode=mode, reason=self.stop_reason,
                     candles=self.candles_seen, trades=len(engine.trades.trades),
                     final_equity=metrics.get("final_equity", {}).get("value"), run_dir=str(self.run_dir),
                     loop_stall_max_ms=round(self.monitor.stall_max_ms, 1))
        metrics["loop_stall_max_ms"] = round(self.monitor.stall_max_ms, 1)
        # a lost lease is a runtime failure (exit 1): a supervisor's restart then meets the new holder and stops
        return SessionOutcome(1 if self.lease_lost else 0, self.run_dir, self.stop_reason, self.config_hash,
                              self.candles_seen, metrics)

    def _stop_step(self, engine: Any) -> None:
        """On the worker, at a stop: cancel or keep the open orders, and persist the account for the next run."""
        if self.lease_lost is None:  # else the account and its orders may be another bot's by now
            self._finish_orders(engine)
        if engine.last_ts and self.lease_lost is None:
            # a graceful stop: the account carries over, the next run starts a new --duration window
            self.started_ts = None
            self._completed = True
            self._persist(engine, engine.venue, engine.last_ts)

    def _protection(self, mode: str, settings: Any) -> Any:
        """Exchange-side stops for a live position (paper and shadow: the fill model applies the levels)."""
        from tradewarden.runtime.protection import LiveProtection, ProtectionSettings

        fill = settings.fill
        wanted = ProtectionSettings(fill.stop_loss_pct, fill.take_profit_pct, fill.trailing_stop_pct,
                                    self.cfg.runtime.stop_limit_offset_pct)
        return LiveProtection(wanted) if mode == "live" else None

    def _before_submit(self, engine: Any) -> Callable[[Any], None]:
        """Live: free the coins a protective stop holds before another sell, then store the intent, before
        anything is sent."""
        def before_submit(order: Any) -> None:
            if self.protection is not None:
                self.protection.before_submit(engine, order)
            self.store.save_order_now(order, _now_ms())

        return before_submit

    def _reconcile_at_boot(self, rest: Any, engine: Any, risk: Any, resumed: bool) -> None:
        """Compare the exchange with what this bot knows; anything unexplained halts new orders.

        A fresh bot knows of no open orders and no position, and trades from the account's quote balance. A
        resumed one first books what its adopted orders did while it was down, then expects its own open
        orders and its position (plus sub-step dust) on the exchange. With ``--adopt`` the operator takes the
        exchange's view: unknown open orders are taken over (their fills booked) and the base balance becomes
        the position.
        """
        from tradewarden.risk import TradingState
        from tradewarden.venues.exchange_state import fetch_exchange_view

        inst = engine.instrument
        if resumed:
            engine.apply_updates(engine.venue.poll(), engine.last_ts)
        view = fetch_exchange_view(rest, inst.symbol, retry=self.retry, recent_orders=True)
        # orders already there are earlier runs' (or the operator's): only later ones can be another writer's
        self.orders_at_boot = {o.exchange_id for o in view.recent_orders}
        if not resumed:
            engine.cash_atoms = inst.to_atoms(view.balances.get(inst.quote, Decimal(0)))
        mismatches = self._differences(engine, view)
        now = _now_ms()
        if not mismatches:
            self.journal.emit(EventType.RECONCILE_OK, now, open_orders=len(engine.open_orders),
                              balances={k: str(v) for k, v in view.balances.items()})
            return
        details = [{"kind": m.kind, "subject": m.subject, "ours": m.ours, "exchange": m.theirs,
                    "suggestion": m.suggestion} for m in mismatches]
        self.journal.emit(EventType.RECONCILE_MISMATCH, now, adopted=self.opts.adopt, mismatches=details)
        for m in mismatches:
            self.say(f"reconciliation: {m.describe()}")
        if self.opts.adopt:
            from tradewarden.risk.account_audit import local_actor

            self.audit.operator_action(now, "adopt", local_actor(), mismatches=details)
            self._adopt_view(rest, engine, view)
            risk.set_manual_state(now, "global", TradingState.ACTIVE, "operator adopted the exchange's view")
            return
        risk.set_manual_state(now, "global", TradingState.HALTED, "RECONCILE_MISMATCH: see events")
        self.journal.emit(EventType.HALTED_OPS, now, reason="RECONCILE_MISMATCH",
                          what_to_do="resolve the differences on the exchange, or restart with --adopt "
                                     "to take the exchange's view")
        self.say("new orders are HALTED until the operator resolves this (or restarts with --adopt)")

    def _differences(self, engine: Any, view: Any) -> list[Any]:
        """Open orders and the base balance on the exchange against the bot's books."""
        from tradewarden.venues.reconcile import OpenOrderView, reconcile

        inst = engine.instrument
        ours = [OpenOrderView(o.client_id, o.symbol, o.side.value, o.qty, o.filled_qty)
                for o in engine.open_orders.values() if o.status is not OrderStatus.SUBMITTED]
        # an order whose create has no answer yet is being resolved by the venue: neither side counts it
        unresolved = {o.client_id for o in engine.open_orders.values() if o.status is OrderStatus.SUBMITTED}
        theirs = [o for o in view.open_orders if o.client_id not in unresolved]
        held = engine.held
        return reconcile(ours, theirs, {inst.base: held}, {inst.base: view.balances.get(inst.base, Decimal(0))},
                         {inst.base: inst.min_qty or inst.step_size})

    def _adopt_view(self, rest: Any, engine: Any, view: Any) -> None:
        """The operator's ``--adopt``: take over unknown open orders and take the base balance as the position."""
        from tradewarden.domain.orders import Order, OrderSide, OrderType

        inst = engine.instrument
        for o in view.open_orders:
            if o.client_id in engine.open_orders or o.symbol != inst.symbol:
                continue
            kind = OrderType.STOP_LIMIT if o.stop_price is not None else OrderType.LIMIT
            order = Order(o.client_id, inst.symbol, OrderSide(o.side), kind, o.qty, price=o.price,
                          stop_price=o.stop_price, created_ts=engine.last_ts, filled_qty=o.filled,
                          status=OrderStatus.PARTIALLY_FILLED if o.filled else OrderStatus.ACCEPTED,
                          exchange_id=o.exchange_id)
            engine.adopt_order(order)
            engine.venue.adopt(order, o.exchange_id, resend_if_missing=False)
        held = view.balances.get(inst.base, Decimal(0))
        if held != engine.held:
            ticker = self.retry.call(rest.fetch_ticker, inst.symbol, label="fetch_ticker")
            engine.adopt_position(engine.last_ts or _now_ms(), held, Decimal(str(ticker["last"])))

    def _params(self) -> dict[str, Any]:
        """The strategy's parameters: the config's, overridden by the parameter file when one is set."""
        params = dict(self.cfg.strategy.params)
        if self.cfg.strategy.params_file is not None:
            from tradewarden.optimize.paramsfile import load_params_file

            pf = load_params_file(self.cfg.strategy.params_file)
            if pf.strategy != self.cfg.strategy.name:
                raise SessionError(f"{self.cfg.strategy.params_file} holds parameters of {pf.strategy}, "
                                   f"not of {self.cfg.strategy.name}")
            params.update(pf.params)
        return params

    def _schedule(self, db: Any, engine: Any, rest: Any, risk: Any, loop: asyncio.AbstractEventLoop) -> Any:
        """Periodic jobs on APScheduler with a persistent job store; each hands its work to the trading worker
        (the engine is single-threaded), so a job never runs in the middle of a candle step."""
        from tradewarden.runtime.scheduler import SessionScheduler

        cfg, mode = self.cfg, self.opts.mode
        sched = SessionScheduler(str(db.engine.url), f"{mode}-{cfg.market.symbol}", engine=db.engine)

        jobs: set[asyncio.Task[None]] = set()  # kept referenced until done

        def queue(fn: Callable[[], None]) -> None:
            job = asyncio.ensure_future(self.worker.run(fn))
            jobs.add(job)
            job.add_done_callback(jobs.discard)

        def on_loop(fn: Callable[[], None]) -> Callable[[], None]:
            def hand_over() -> None:
                loop.call_soon_threadsafe(queue, fn)

            return hand_over

        def reload(path: Path) -> None:
            loop.call_soon_threadsafe(queue, lambda: self._reload_params(engine, path))

        sched.daily_at("daily-summary", cfg.runtime.daily_summary_utc, on_loop(lambda: self._daily_summary(engine)))
        if mode == "live":
            sched.every("reconcile", cfg.runtime.reconcile_every_s,
                        on_loop(lambda: self._periodic_reconcile(engine, self.reader, risk)))
        if cfg.strategy.params_file is not None:
            sched.watch_file("params-reload", cfg.strategy.params_file, reload)
        sched.start()
        return sched

    def _daily_summary(self, engine: Any) -> None:
        inst = engine.instrument
        last = engine.equity_atoms[-1] if engine.equity_atoms else engine.cash_atoms
        self.journal.emit(EventType.DAILY_SUMMARY, _now_ms(), candles=self.candles_seen,
                          trades=len(engine.trades.trades),
                          position=inst.from_steps(engine.pos_steps), equity=inst.from_atoms(last),
                          fees=inst.from_atoms(engine.fees_atoms))

    def _reload_params(self, engine: Any, path: Path) -> None:
        from tradewarden.strategies import load_strategy

        try:
            params = self._params()
            engine.strategy = load_strategy(self.cfg.strategy.name, params)
        except Exception as exc:  # a bad file keeps the running parameters
            self.journal.emit(EventType.PARAMS_RELOAD_FAILED, _now_ms(), file=str(path), error=str(exc))
            return
        self.journal.emit(EventType.PARAMS_RELOADED, _now_ms(), file=str(path), params=params)
        from tradewarden.risk.account_audit import file_owner

        self.audit.operator_action(_now_ms(), "params_reload", file_owner(path), file=str(path), params=params)

    def _periodic_reconcile(self, engine: Any, rest: Any, risk: Any) -> None:
        """Open orders and balances on the exchange against the bot's books, every few minutes; and the
        account's recent orders for another writer's under our client ids."""
        from tradewarden.engine.ids import CLIENT_ID_PREFIX
        from tradewarden.risk import TradingState
        from tradewarden.venues.exchange_state import fetch_exchange_view
        from tradewarden.venues.reconcile import foreign_orders, judge

        inst = engine.instrument
        engine.apply_updates(engine.venue.poll(), engine.last_ts)  # book what the venue knows first
        try:
            view = fetch_exchange_view(rest, inst.symbol, retry=self.retry, recent_orders=True)
        except Exception as exc:  # the exchange may be unreachable: try again next time
            self.journal.emit(EventType.RECONCILE_SKIPPED, _now_ms(), error=str(exc))
            return
        mismatches = foreign_orders(view.recent_orders, engine.venue.orders_sent, self.orders_at_boot,
                                    CLIENT_ID_PREFIX) + self._differences(engine, view)
        verdict = judge(self.reconcile_memory, mismatches)
        self.reconcile_memory = verdict.memory
        now = _now_ms()
        if not mismatches:
            ours = [o for o in engine.open_orders.values() if o.status is not OrderStatus.SUBMITTED]
            self.journal.emit(EventType.RECONCILE_OK, now, open_orders=len(ours))
            return
        if verdict.suspect:
            # an order that filled between our poll and the exchange's answer looks like a difference for a
            # moment: one seen again within a few reconciliations halts the bot (reconcile.judge)
            self.journal.emit(EventType.RECONCILE_SUSPECT, now, differences=sorted(f"{m.kind} {m.subject}"
                                                                          for m in verdict.suspect))
        if not verdict.confirmed:
            return
        details = [{"kind": m.kind, "subject": m.subject, "ours": m.ours, "exchange": m.theirs,
                    "suggestion": m.suggestion} for m in verdict.confirmed]
        if verdict.foreign:
            foreign = [d for d in details if d["kind"] == "FOREIGN_WRITER"]
            self.journal.emit(EventType.FOREIGN_WRITER, now, orders=foreign)
            for m in verdict.foreign:
                self.say(f"reconciliation: {m.describe()}")
            # each foreign order is reported once; what it did to the balances stays a difference
            reported = {m.subject for m in verdict.foreign}
            self.orders_at_boot.update(o.exchange_id for o in view.recent_orders if o.client_id in reported)
        self.journal.emit(EventType.RECONCILE_MISMATCH, now, adopted=False, mismatches=details)
        reason = "FOREIGN_WRITER" if verdict.foreign else "RECONCILE_MISMATCH"
        risk.set_manual_state(now, "global", TradingState.HALTED, f"{reason}: see events")
        self.journal.emit(EventType.HALTED_OPS, now, reason=reason,
                          what_to_do="stop the other writer on this account (a second bot with this API key?), "
                                     "then restart with --adopt" if verdict.foreign else
                                     "resolve the differences on the exchange, or restart with --adopt")

    def _resume(self, engine: Any, venue: Any) -> bool:
        """Continue where a previous process of this account stopped (crash or not)."""
        state = self.store.load()
        snap = state.snapshots.get("session")
        self.started_ts = None
        self.fill_seq = 0
        if snap is None:
            return False
        completed = bool(snap.get("completed"))
        if completed and self.cfg.exchange.id is None:
            # the built-in simulator's market starts over with every run, so its paper account does too
            self.store.reset()
            return False
        open_orders = [o for o in state.orders if not o.status.is_final]
        # after a crash everything continues exactly; after a clean stop the account carries over but the
        # strategy warms up on fresh history (never trading on candles that closed while the bot was away)
        engine.restore(snap["engine"], open_orders, with_history=not completed)
        if completed:  # a new run: its results start afresh
            from tradewarden.runtime.series import SERIES_PREFIX, TRADES_PREFIX

            with self.store.step() as w:
                w.delete_snapshots(SERIES_PREFIX)
                w.delete_snapshots(TRADES_PREFIX)
        else:  # the same session goes on: its results so far, and its recording, continue too
            self.series.restore(state.snapshots, engine)
            self.candles_seen = len(engine.candle_ts)
            recording = snap.get("recording")
            self.previous_recording = self.recording_path = Path(recording) if recording else None
            self.resumed_after = engine.last_ts or None  # None: the crash came before the first candle
        if "venue" in snap and hasattr(venue, "restore"):
            venue.restore(snap["venue"])
        if "protection" in snap and self.protection is not None:
            self.protection.restore(snap["protection"])
        if hasattr(venue, "adopt"):
            for order in open_orders:
                venue.adopt(order, order.exchange_id)
        self.started_ts = snap.get("started_ts")
        self.fill_seq = int(snap["engine"]["fills"])
        self.journal.emit(EventType.SESSION_RESUMED, _now_ms(), last_candle=engine.last_ts,
                          open_orders=len(open_orders),
                          fills=self.fill_seq)
        if completed:
            self.say(f"carried over the account of the previous run with {len(open_orders)} open order(s)")
        else:
            self.say(f"resumed after candle {engine.last_ts} with {len(open_orders)} open order(s)")
        return True

    def _persist(self, engine: Any, venue: Any, ts: int) -> None:
        """One transaction per candle: changed orders, new fills, paper balances and the resume snapshot."""
        orders, fills = engine.drain_changes()
        inst = engine.instrument
        snap: dict[str, Any] = {"engine": engine.snapshot(), "started_ts": self.started_ts,
                                "completed": self._completed,
                                "recording": str(self.recording_path) if self.recording_path else None}
        if hasattr(venue, "snapshot"):
            snap["venue"] = venue.snapshot()
        if self.protection is not None:
            snap["protection"] = self.protection.snapshot()
        with self.store.step() as w:
            for order in orders:
                w.save_order(order, ts)
            for fill in fills:
                w.record_fill(fill, f"{fill.client_id}#{self.fill_seq}")
                self.fill_seq += 1
            snap["engine"]["fills"] = self.fill_seq
            self.series.save(w, engine, ts)
            if self.opts.mode != "live":
                w.save_balances({inst.quote: inst.from_atoms(engine.cash_atoms),
                                 inst.base: inst.from_steps(engine.pos_steps)}, ts)
            w.save_snapshot("session", snap, ts)

    def _recorder(self, engine: Any, header: dict[str, Any]) -> Recorder:
        """This run's recording. After a crash it continues the session's: the previous process's recording
        up to the last stored candle, then a ``resumed`` line (see :mod:`tradewarden.runtime.recording`)."""
        from tradewarden.runtime.recording import continue_recording

        path = self.run_dir / "recording.jsonl"
        resumed_after = self.resumed_after
        if resumed_after is not None:
            previous = self.previous_recording
            if previous is not None and continue_recording(path, previous, resumed_after):
                self.recording_continued = True
            else:  # replay refuses such a recording rather than replaying half a session as if it were whole
                header["missing_before"] = str(previous or "(not recorded)")
        recorder = Recorder(path, header)
        self.recording_path = path
        if self.recording_continued:
            recorder.event("resumed", after=resumed_after, config_hash=self.config_hash)
        return recorder

    def _request_stop(self, stop: asyncio.Event, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
        stop.set()

    async def _safety_checks(self, rest: Any, risk: Any) -> None:
        journal, mode = self.journal, self.opts.mode
        checks: dict[str, Any] = {}
        try:
            server = await asyncio.to_thread(self.retry.call, rest.fetch_time, label="fetch_time")
            offset = int(server) - _now_ms()
            checks["clock_offset_ms"] = offset
            if abs(offset) > 5_000:
                raise SessionError(f"clock offset against the exchange is {offset} ms; fix the system clock")
        except SessionError:
            raise
        except Exception as exc:  # the exchange may be down at boot: report it, the feed retries
            checks["clock_offset_ms"] = None
            checks["clock_error"] = f"{type(exc).__name__}: {exc}"
        checks["keys_present"] = bool(self.cfg.exchange.key_material())
        checks["kill_switch"] = risk.poll_kill_switch(_now_ms())
        checks["trading_state"] = risk.state().value
        checks["stage"] = risk.config.active_stage
        refusal: LiveGateError | None = None
        if mode == "live":  # the key's permissions and the account's funding, as the exchange reports them
            from tradewarden.runtime.live_checks import live_account_checks

            account, refusal = await asyncio.to_thread(live_account_checks, rest, self._instrument(), self.retry,
                                                       self.cfg.exchange.allow_withdrawal_keys)
            checks.update(account)
        journal.emit(EventType.SAFETY_CHECKS, _now_ms(), mode=mode, **checks)
        if refusal is not None:
            raise refusal
        if mode == "shadow":
            journal.emit(EventType.SHADOW_SAFETY_OK, _now_ms(), **checks)

    def _venue(self, mode: str, instrument: Instrument, settings: Any, rest: Any) -> Venue:
        from tradewarden.venues.shadow import ShadowVenue
        from tradewarden.venues.simulated import SimulatedVenue

        if mode == "paper":
            return SimulatedVenue(instrument, settings.fill, settings.initial_cash)
        if mode == "shadow":
            return ShadowVenue(instrument, settings.fill, settings.initial_cash, self.journal)
        from tradewarden.venues.exchange import ExchangeVenue

        self.retry.call(rest.load_markets, label="load_markets")
        return ExchangeVenue(rest, instrument, self.journal, _now_ms, retry=self.retry)

    async def _run_loop(self, engine: Any, feed: Any, recorder: Recorder, risk: Any, stop: asyncio.Event) -> None:
        symbol, tf = self.cfg.market.symbol, self.cfg.market.timeframe
        worker = self.worker
        # load the strategy's compiled code now, not on the first candle's way to an order; and before the
        # history is fetched, so no candle closes between the history and the stream while it loads
        await worker.run(engine.prepare)
        catch_up_until: int | None = None
        if engine.last_ts:  # resumed: the history came from the snapshot; continue after its last candle
            after: int | None = engine.last_ts
            if not self.recording_continued:  # a continued recording holds this history already
                for candle in engine.history.tail(engine.history.n).candle_list():
                    recorder.candle(symbol, tf, candle, warmup=True)
            if self.cfg.exchange.id is not None:
                # a real market went on while the bot was down: the candles that closed meanwhile are history,
                # never traded hours late; trading resumes at the newest closed candle
                newest = list(await feed.history(symbol, tf, 1))
                if newest and newest[-1].ts > engine.last_ts:
                    catch_up_until = newest[-1].ts
        else:
            warm = self._warmup_bars()
            history = list(await feed.history(symbol, tf, warm + 300))
            if self.trade_after is not None:  # built-in simulator: start at its first bar, not at "now"
                history = [c for c in history if c.ts <= self.trade_after]
            history = history[-warm:]
            for candle in history:
                recorder.candle(symbol, tf, candle, warmup=True)
            await worker.run(engine.warm_up, history)
            after = history[-1].ts if history else None
            self.journal.emit(EventType.WARM_UP_DONE, _now_ms(), candles=len(history), last=after)
        self.end_ms = None
        if self.started_ts is not None and self.duration_ms is not None:
            self.end_ms = self.started_ts + self.duration_ms
        intake = self.intake
        intake.start(feed.closed_candles(symbol, tf, after_ms=after))
        skipped: list[int] = []
        try:
            while not stop.is_set():
                candle = await intake.next(stop)
                if candle is None:
                    break
                if catch_up_until is not None:
                    if candle.ts < catch_up_until:
                        recorder.candle(symbol, tf, candle, warmup=True)
                        await worker.run(engine.warm_up, [candle])
                        skipped.append(candle.ts)
                        continue
                    self.journal.emit(EventType.CAUGHT_UP, _now_ms(), history_only=len(skipped),
                                      first=skipped[0] if skipped else None, last=skipped[-1] if skipped else None,
                                      trading_from=candle.ts)
                    catch_up_until = None
                recorder.candle(symbol, tf, candle)
                healthy = bool(getattr(feed, "healthy", True))
                if await worker.run(self._step, engine, risk, candle, healthy):
                    self._request_stop(stop, f"duration {self.opts.duration} reached")
            if intake.ended:
                self._request_stop(stop, "market data ended")
        finally:
            await intake.stop()

    def _step(self, engine: Any, risk: Any, candle: Candle, feed_healthy: bool) -> bool:
        """One closed candle through the engine, then persisted (on the worker); True once --duration is up."""
        # the risk state this step changes is written once, after the step, not on the way to its order
        with risk.writes_held():
            risk.on_feed_health(candle.ts, feed_healthy)
            engine.on_candle(candle)
            if self.protection is not None:
                self.protection.sync(engine, candle)
        self.candles_seen += 1
        if self.started_ts is None:
            self.started_ts = candle.ts
            if self.duration_ms is not None:
                self.end_ms = candle.ts + self.duration_ms  # market time from the first traded candle's open
        self._persist(engine, engine.venue, candle.ts)
        return self.end_ms is not None and candle.ts + timeframe_ms(self.cfg.market.timeframe) >= self.end_ms

    async def _follow_orders(self, engine: Any, stop: asyncio.Event) -> None:
        """Live: between candles, ask the exchange about the open orders every ``runtime.order_poll_s``, so a
        stop or limit order that fills mid-bar is booked (and stored) within seconds, not at the next close;
        sooner when an order whose create had no answer can be looked up conclusively (``recheck_in``)."""
        period = self.cfg.runtime.order_poll_s
        while not stop.is_set():
            recheck = engine.venue.recheck_in()
            await asyncio.sleep(period if recheck is None else min(period, recheck))
            if not engine.open_orders or stop.is_set():
                continue
            await self.worker.run(self._poll_orders, engine)

    def _poll_orders(self, engine: Any) -> None:
        engine.apply_updates(engine.venue.poll(), engine.last_ts)
        if engine.changed:  # a fill changes its order too
            self._persist(engine, engine.venue, engine.last_ts)

    async def _watch_kill_switch(self, engine: Any, risk: Any, stop: asyncio.Event) -> None:
        """Poll the kill switch every ``kill_switch_poll_s`` (the CLI sets it from another process). The poll
        runs on its own short thread, never behind the worker: once the switch is on the gate denies every new
        order, and the bot acknowledges at once (``kill-switch on`` waits for that); the cancels and closes
        the switch plans are queued on the worker and run when it is free. Operator actions stored meanwhile
        (from any shell or machine) are copied into this account's audit trail first."""
        from tradewarden.risk.account_audit import bot_identity

        period = self.cfg.runtime.kill_switch_poll_s
        bot = bot_identity(self.store.account)
        plan: asyncio.Task[None] | None = None

        def poll() -> bool:
            with risk.lock:  # the audit trail and the risk book change together
                now = _now_ms()
                self.audit.copy_operator_actions(now)
                if not risk.poll_kill_switch(now):
                    return False
                risk.acknowledge_kill_switch(_now_ms(), bot)
                return True

        try:
            while not stop.is_set():
                await asyncio.sleep(period)
                if await asyncio.to_thread(poll) and (plan is None or plan.done()):
                    plan = asyncio.ensure_future(self.worker.run(self._carry_out_kill_switch, engine, risk))
        finally:
            if plan is not None:
                with contextlib.suppress(Exception):
                    await plan

    def _carry_out_kill_switch(self, engine: Any, risk: Any) -> None:
        from tradewarden.runtime.protection import is_protective

        now = _now_ms()
        # the position's protective stop does not count as closing it: a market close cancels it first
        orders = [o for o in engine.open_orders.values() if not is_protective(o)]
        plan = risk.kill_switch_plan(now, orders, {engine.instrument.symbol:
                                                   engine.instrument.from_steps(engine.pos_steps)})
        for client_id in plan.cancel:
            engine.cancel(client_id)
        h = engine.history
        last = Decimal(str(float(h.ohlcv[3, h.n - 1]))) if h.n else Decimal(0)
        for order in plan.close:
            engine.place(order, last)
        engine.apply_updates(engine.venue.poll(), engine.last_ts)
        if engine.changed:
            self._persist(engine, engine.venue, engine.last_ts)

    async def _watch_lease(self, risk: Any, stop: asyncio.Event) -> None:
        """Once the lease is lost another bot may trade the account: halt new orders and stop the session."""
        from tradewarden.risk import TradingState

        while not stop.is_set():
            await asyncio.sleep(self.cfg.runtime.kill_switch_poll_s)
            lost = self.lease_keeper.lost if self.lease_keeper is not None else None
            if lost is None:
                continue
            now = _now_ms()
            self.lease_lost = lost
            self.journal.emit(EventType.LEASE_LOST, now, message=lost)
            risk.set_manual_state(now, "global", TradingState.HALTED, f"LEASE_LOST: {lost}")
            self.journal.emit(EventType.HALTED_OPS, now, reason="LEASE_LOST",
                              what_to_do="make sure only one bot trades this account, then start it again")
            self.say(f"account lease lost: {lost}; stopping")
            self._request_stop(stop, "account lease lost")
            return

    def _finish_orders(self, engine: Any) -> None:
        """A graceful stop cancels the open orders (``runtime.on_stop``), except the stop that protects a
        position: it keeps protecting it while the bot is down, and the next run follows it again."""
        from tradewarden.runtime.protection import is_protective

        if self.cfg.runtime.on_stop == "cancel":
            for client_id, order in list(engine.open_orders.items()):
                if not (is_protective(order) and engine.pos_steps > 0):
                    engine.cancel(client_id)
            engine.apply_updates(engine.venue.poll(), engine.last_ts)

    def _report(self, engine: Any, instrument: Instrument, settings: Any) -> dict[str, Any]:
        import numpy as np

        from tradewarden.backtest.reports import write_run_reports, write_trades_csv

        trades = list(engine.trades.trades)
        if not engine.candle_ts:
            write_trades_csv(self.run_dir / "trades.csv", trades)
            return {}
        info = {"mode": self.opts.mode, "config_hash": self.config_hash, "candles": self.candles_seen,
                "reason": self.stop_reason, "strategy": engine.strategy.describe(), "symbol": instrument.symbol,
                "timeframe": self.cfg.market.timeframe}
        return write_run_reports(
            self.run_dir, title=f"{self.opts.mode} session: {engine.strategy.name} on {instrument.symbol}",
            ts=np.asarray(engine.candle_ts, dtype=np.int64), close=np.asarray(engine.candle_close, dtype=np.float64),
            equity=np.asarray(engine.equity_atoms, dtype=np.float64) * float(instrument.atom), trades=trades,
            fees=instrument.from_atoms(engine.fees_atoms), exposure_bars=engine.exposed_bars,
            timeframe_ms=timeframe_ms(self.cfg.market.timeframe), initial_cash=settings.initial_cash,
            quote=instrument.quote, run_info=info)


def run_session(opts: RunOptions, console_print: Callable[[str], None] = print) -> SessionOutcome:
    return TradingSession(opts, console_print).run()
