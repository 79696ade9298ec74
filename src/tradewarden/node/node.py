"""The trading node: a paper, shadow or live session on the one engine, from boot to report.

:class:`TradingNode` wires the components :mod:`tradewarden.node.builder` builds and runs their lifecycle:
boot (:mod:`~tradewarden.node.boot`: gate, lock, database and lease, filters, ``RunStarted``/``BOOT_SEAL``,
audit trail, safety checks), the exchange endpoint (:mod:`~tradewarden.node.endpoint`: the configured exchange
or the built-in simulator), the strategy runners keyed by symbol (:mod:`~tradewarden.node.runner`), the state
keeper (:mod:`~tradewarden.node.state`: resume, then persist every step; a portfolio of several symbols has its
own runners, state keeper, candle loop and reports, the book of :mod:`~tradewarden.node.books`, and otherwise the
same components), the reconciler
(:mod:`~tradewarden.node.reconciler`, live), then the components on the event loop, started in this order and
stopped in reverse: loop monitor, kill-switch watcher, lease watcher, order follower (live), scheduler; the
candle loop (:mod:`~tradewarden.node.candle_loop`) runs until a stop. A graceful stop (SIGTERM/SIGINT,
``--duration``) finishes the step, cancels or keeps open orders as configured, persists, and the reporter
(:mod:`~tradewarden.node.reporter`) writes the report and ``RunFinished``.

Threads: the event loop runs the feed, the candle intake, the watchers, the order follower's timer, the loop
monitor and the scheduler's hand-overs; the trading worker (:mod:`tradewarden.node.worker`) runs every candle
step and every exchange call, one after the other. So a create whose answer is late holds the worker only:
the kill-switch watcher halts the bot from its own short thread at once (the risk manager is locked), and the
cancels and closes it plans run when the worker is free.

Exit codes: 0 a session that ended normally, 1 a runtime failure (a lost lease too: a supervisor's restart
then meets the new holder and stops), 3 a refusal to start (:data:`REFUSED_TO_START`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tradewarden import __version__
from tradewarden.api.publish import BotPublisher
from tradewarden.node import builder
from tradewarden.node.books import Book, LoopSettings, OneSymbolBook, PortfolioBook, account_key, shared_portfolio
from tradewarden.node.boot import Boot, BootRefused
from tradewarden.node.commands import NodeCommands
from tradewarden.node.components import Component, run_components
from tradewarden.node.endpoint import CcxtExchange, Endpoint, make_exchanges, open_endpoint
from tradewarden.node.monitor import LoopMonitor
from tradewarden.node.options import (
    REFUSED_TO_START,
    RunOptions,
    SessionError,
    SessionOutcome,
    now_ms,
    parse_duration,
)
from tradewarden.node.portfolio_state import PortfolioStateKeeper
from tradewarden.node.reconciler import Reconciler
from tradewarden.node.reporter import Reporter
from tradewarden.node.state import StateKeeper
from tradewarden.node.watchers import KillSwitchPoll, KillSwitchWatcher, LeaseWatcher, OrderFollower
from tradewarden.node.worker import TradingWorker
from tradewarden.persistence import Database
from tradewarden.risk.account_audit import AccountAuditTrail
from tradewarden.runtime.recording import Recorder
from tradewarden.runtime.reoptimize import Reoptimizer
from tradewarden.runtime.scheduler import SessionScheduler

if TYPE_CHECKING:  # the notifier (aiohttp) loads only when notify has a channel
    from tradewarden.data.retry import RetryPolicy
    from tradewarden.domain.instrument import Instrument
    from tradewarden.notify.notifier import Notifier
    from tradewarden.persistence.runtime_store import RuntimeStore
    from tradewarden.risk import RiskManager
    from tradewarden.risk.store import RiskStateStore
    from tradewarden.strategies.base import Strategy

__all__ = ["REFUSED_TO_START", "RunOptions", "SessionError", "SessionOutcome", "TradingNode", "parse_duration",
           "run_session"]


class TradingNode:
    """Everything one ``tradewarden run`` holds; :meth:`run` drives it."""

    def __init__(self, opts: RunOptions, console_print: Callable[[str], None] = print) -> None:
        self.opts = opts
        self.say = console_print
        conf = builder.node_config(opts)
        self.cfg, self.config_hash, self.run_dir = conf.cfg, conf.config_hash, conf.run_dir
        self.duration_ms = conf.duration_ms
        self.stop_reason = ""
        self._stop: asyncio.Event | None = None
        self.recording_continued = False  # this run's recording continues the session's (after a crash)
        self.publisher: BotPublisher | None = None  # the bot's state in the database (status, the API)
        self.notifier: Notifier | None = None  # alerts and Telegram commands, when notify has a channel

    def outcome(self, code: int, reason: str, candles: int = 0,
                metrics: dict[str, object] | None = None) -> SessionOutcome:
        return SessionOutcome(code, self.run_dir, reason, self.config_hash, candles, metrics or {})

    # -- entry point -----------------------------------------------------------------------------------
    def run(self) -> SessionOutcome:
        from tradewarden.node.console import attach_console

        panel = None
        try:
            # metrics (issue 13 point 6): /metrics while the session runs, when observability.metrics_port is set
            with builder.event_bus(self.run_dir) as bus, \
                    builder.serve_metrics(bus, self.cfg, self.opts.mode) as metrics:
                self.events = bus
                # alerts (issue 14 point 1): subscribed before the boot, so a refused start is told too
                self.notifier = builder.start_notifier(bus, self.cfg, self.opts.mode, metrics)
                show = self.opts.console if self.opts.console is not None else sys.stdout.isatty()
                panel = attach_console(bus, self.opts.mode, list(self.cfg.market.traded_symbols), show)
                boot = self.boot = Boot(self.cfg, self.opts, self.config_hash, self.run_dir, bus, now_ms, self.say)
                try:
                    boot.check_gate()
                    with boot.account_lock():
                        return asyncio.run(self._main())
                except BootRefused as exc:
                    return self.outcome(REFUSED_TO_START, exc.reason)
        finally:
            if panel is not None:
                panel.stop()
            # after the bus closed, so the last events are in; the bot then reads as stopped, not running
            if self.publisher is not None:
                self.publisher.stop()
                self.publisher.db.close()
            if self.notifier is not None:  # after the bus closed too: "bot stopped" is among what it sends
                self.notifier.close()

    def publish(self, db: Database, account: str, strategy: str) -> str:
        """Publish this bot's state to the database (``tradewarden status``, the API) from its own thread; the
        bot's id, which also names it in the kill switch's acknowledgements."""
        from tradewarden.api.publish import BotInfo, attach
        from tradewarden.domain.candles import timeframe_ms

        info = BotInfo(account, self.opts.mode, tuple(self.cfg.market.traded_symbols), strategy,
                       timeframe_ms(self.cfg.market.timeframe), self.config_hash)
        self.publisher = attach(self.events, db, info, self.cfg.runtime.publish_every_s)
        return info.id

    def request_stop(self, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
        if self._stop is not None:
            self._stop.set()

    # -- the async body --------------------------------------------------------------------------------
    async def _main(self) -> SessionOutcome:
        from sqlalchemy.exc import SQLAlchemyError

        from tradewarden.persistence.database import DatabaseError, error_line

        db = self.boot.open_database()
        try:
            with self.boot.account_lease(db), \
                    open_endpoint(self.cfg, self.run_dir, builder.warmup_bars(self.cfg), self.say) as endpoint:
                return await self._trade(db, endpoint)
        except SQLAlchemyError as exc:  # each step is one transaction: a failed one is rolled back whole
            raise DatabaseError(f"database {db.location}: {error_line(exc)}") from None
        finally:
            db.close()

    def new_stop(self) -> asyncio.Event:
        """The event a stop request sets (created on the running loop)."""
        self._stop = asyncio.Event()
        return self._stop

    async def _trade(self, db: Database, endpoint: Endpoint) -> SessionOutcome:
        from tradewarden.config import masked_dump
        from tradewarden.data.retry import RetryPolicy
        from tradewarden.persistence.runtime_store import RuntimeStore
        from tradewarden.risk import RiskManager, load_risk_config
        from tradewarden.risk.store import RiskStateStore
        from tradewarden.runtime.instruments import record_instruments, seal
        from tradewarden.venues.exchange_state import fetch_exchange_view

        cfg, mode, events, boot = self.cfg, self.opts.mode, self.events, self.boot
        symbols = list(cfg.market.traded_symbols)
        several = len(symbols) > 1  # a portfolio: one cash ledger, aligned steps (see node.books)
        # one symbol takes the strategy's parameters as they are; a portfolio each symbol's per_symbol over them
        strategies = ({s: builder.load_strategy(cfg, s) for s in symbols} if several
                      else {symbols[0]: builder.load_strategy(cfg)})
        first = strategies[symbols[0]]
        risk_cfg = load_risk_config(cfg.risk)
        account = account_key(mode, cfg.exchange.id, symbols, first.name)
        ex = make_exchanges(endpoint, mode, cfg.exchange.api_key is not None)
        worker = TradingWorker()
        # every REST call of the boot sequence goes through the one retry policy (429/418/5xx/timeouts)
        retry = RetryPolicy(sink=events, exchange=ex.orders, max_total_s=120.0)
        store = RuntimeStore(db, account)
        try:
            instruments = await boot.instruments(ex.orders, retry, store)
        except BaseException:  # a refusal, the exchange unreachable: the stream's session must not leak
            await ex.feed.close()
            raise
        boot.seal(endpoint, instruments, first.name, dict(first.params), risk_cfg.active_stage)
        risk_store = RiskStateStore(db)
        audit = boot.audit_trail(db, account)
        lost: str | None = None
        try:
            risk = RiskManager(risk_cfg, events, audit, store=risk_store,
                               instruments={s: instruments[s] for s in symbols})
            bot = self.publish(db, account, first.name)
            for symbol in symbols:  # the live account checks look at every symbol's base and quote
                await boot.safety_checks(ex.orders, risk, retry, instruments[symbol])
            book = await self._book(symbols, strategies, instruments, risk, ex.orders, retry, store)
            runners = book.runners
            reconciler = Reconciler(
                lambda symbol: fetch_exchange_view(ex.reads, symbol, retry=retry, recent_orders=True),
                lambda symbol: builder.last_price(retry, ex.orders, symbol), risk, audit, events, now_ms,
                adopt=self.opts.adopt, say=self.say)
            book.state.register("reconciler", reconciler)
            resumed = book.resume()
            record_instruments(store, instruments, now_ms())
            if mode == "live":
                # every symbol's base balance and open orders against the exchange (fills while the previous
                # process was down included): a difference on one halts
                for runner in runners.values():
                    await worker.run(reconciler.at_boot, runner, resumed)
                await worker.run(book.persist, max(r.engine.last_ts for r in runners.values()))
                for runner in runners.values():
                    runner.guard_submits(lambda order: store.save_order_now(order, now_ms()))
            feed = builder.market_feed(ex.feed, cfg, events, db, ex.orders.markets, self.say)
            header: dict[str, object] = {"mode": mode, "config_hash": self.config_hash, "config": masked_dump(cfg),
                                         "version": __version__, "filters": seal(instruments)}
            if several:  # a portfolio's recording (replay reads it as one)
                header["symbols"] = symbols
            recorder = self.recorder_for(book.state, header)
            reporter = Reporter(self.run_dir, mode, self.config_hash, cfg.market.timeframe, events, now_ms)
            stop = self.new_stop()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")
            candles = book.candle_loop(feed, recorder, worker, LoopSettings(
                timeframe=cfg.market.timeframe, warmup_bars=builder.warmup_bars(cfg), duration_ms=self.duration_ms,
                real_market=cfg.exchange.id is not None, trade_after=endpoint.trade_after,
                recording_continued=self.recording_continued, grace_s=cfg.runtime.align_grace_s,
                simulated_exchange=endpoint.simulated, request_stop=self.request_stop,
                duration_text=self.opts.duration, initial_cash=builder.initial_cash(cfg),
                fanout_held=self.events.fanout_held))
            monitor = LoopMonitor(events, now_ms, lambda: {
                "candles_received": candles.received, "feed_healthy": feed.healthy, "worker_jobs": worker.busy},
                cfg.runtime.heartbeat_s)
            components, lease, reoptimizer = self._components(book, risk, risk_store, audit, bot, account, worker)
            scheduler = self._scheduler(db, book, reconciler, reporter, worker, audit, loop, reoptimizer, several)
            try:
                await run_components(candles, stop, monitor, components, scheduler)
            finally:
                lost = lease.lost_reason if lease is not None else None
                await worker.run(self._stop_step, book, lost)
                await monitor.stop()
                await feed.close()
                recorder.close()
        finally:
            worker.close()
            with contextlib.suppress(Exception):
                await ex.feed.close()
            audit.sync(now_ms())
            audit.close()
        metrics = book.report(reporter, self.stop_reason, monitor.stall_max_ms)
        return self.outcome(1 if lost else 0, self.stop_reason, book.candles_seen, metrics)

    async def _book(self, symbols: list[str], strategies: Mapping[str, Strategy],
                    instruments: Mapping[str, Instrument], risk: RiskManager, exchange: CcxtExchange,
                    retry: RetryPolicy, store: RuntimeStore) -> Book:
        """The runners and their state keeper: one engine with its own cash, or engines on one portfolio."""
        cfg, mode, events = self.cfg, self.opts.mode, self.events
        live, fresh = mode == "live", cfg.exchange.id is None
        if len(symbols) == 1:
            (symbol,) = symbols
            runner = await builder.build_runner(cfg, mode, strategies[symbol], instruments[symbol], risk, exchange,
                                                retry, events, now_ms)
            return OneSymbolBook(runner, StateKeeper(store, events, now_ms, live=live,
                                                     fresh_after_clean_stop=fresh, say=self.say))
        portfolio = shared_portfolio([instruments[s] for s in symbols], builder.initial_cash(cfg))
        runners = {s: await builder.build_runner(cfg, mode, strategies[s], instruments[s], risk, exchange, retry,
                                                 events, now_ms, portfolio=portfolio) for s in symbols}
        return PortfolioBook(runners, portfolio, PortfolioStateKeeper(
            store, runners, portfolio, events, now_ms, live=live, fresh_after_clean_stop=fresh, say=self.say))

    def _components(self, book: Book, risk: RiskManager, risk_store: RiskStateStore, audit: AccountAuditTrail,
                    bot: str, account: str, worker: TradingWorker,
                    ) -> tuple[list[Component], LeaseWatcher | None, Reoptimizer | None]:
        """The components around the candle loop, in start order: kill-switch watcher, lease watcher, order
        follower (live), re-optimizer (``reoptimize.every_days``)."""
        cfg, events, runners = self.cfg, self.events, book.runners

        async def on_worker(fn: Callable[[], None]) -> None:
            await worker.run(fn)

        def carry_out_kill_switch() -> None:
            for runner in runners.values():  # the switch halts the account: every symbol's orders and position
                runner.carry_out_kill_switch(now_ms())
            book.persist_if_changed()

        def reload_now() -> str:  # an operator's reload_params request: every symbol's runner
            path = cfg.strategy.params_file
            if path is None:
                return "no parameter file to reload (strategy.params_file is not set)"
            return builder.reload_params(cfg, runners, events, audit, path, now_ms, per_symbol=len(runners) > 1)

        commands = NodeCommands(risk_store, runners, reload_now, book.persist_if_changed, now_ms, account)
        components: list[Component] = [KillSwitchWatcher(
            KillSwitchPoll(risk, audit, bot, now_ms), carry_out_kill_switch, on_worker,
            now_ms, cfg.runtime.kill_switch_poll_s, commands)]
        lease: LeaseWatcher | None = None
        if self.boot.lease_keeper is not None:
            keeper = self.boot.lease_keeper
            lease = LeaseWatcher(lambda: keeper.lost, risk, events, now_ms, self.request_stop,
                                 cfg.runtime.kill_switch_poll_s, self.say)
            components.append(lease)
        exchanges = [r.exchange for r in runners.values() if r.exchange is not None]
        if exchanges:
            def poll_orders() -> None:
                for runner in runners.values():
                    runner.poll()
                book.persist_if_changed()

            def recheck_in() -> float | None:
                waits = [w for w in (e.recheck_in() for e in exchanges) if w is not None]
                return min(waits) if waits else None

            components.append(OrderFollower(lambda: any(r.engine.open_orders for r in runners.values()),
                                            recheck_in, poll_orders, on_worker, cfg.runtime.order_poll_s))
        reoptimizer = None
        if cfg.reoptimize.every_days is not None:  # one symbol (the config refuses it for several)
            reoptimizer = Reoptimizer(cfg, self.run_dir / "reoptimize", self.run_dir / "recording.jsonl",
                                      events, now_ms, risk_store.record_operator_action)
            components.append(reoptimizer)  # its child process is killed when the session stops
        return components, lease, reoptimizer

    def _stop_step(self, book: Book, lease_lost: str | None) -> None:
        """On the worker, at a stop: cancel or keep the open orders, and persist the account for the next run."""
        if lease_lost is None:  # else the account and its orders may be another bot's by now
            for runner in book.runners.values():
                runner.finish_orders(self.cfg.runtime.on_stop)
            book.finish()

    def recorder_for(self, state: StateKeeper | PortfolioStateKeeper, header: dict[str, object]) -> Recorder:
        """This run's recording. After a crash it continues the session's: the previous process's recording
        up to the last stored candle, then a ``resumed`` line (see :mod:`tradewarden.runtime.recording`)."""
        from tradewarden.runtime.recording import continue_recording

        path = self.run_dir / "recording.jsonl"
        resumed_after = state.resumed_after
        if resumed_after is not None:
            previous = state.previous_recording
            if previous is not None and continue_recording(path, previous, resumed_after):
                self.recording_continued = True
            else:  # replay refuses such a recording rather than replaying half a session as if it were whole
                header["missing_before"] = str(previous or "(not recorded)")
        recorder = Recorder(path, dict(header))
        state.recording_path = path
        if self.recording_continued:
            recorder.event("resumed", after=resumed_after, config_hash=self.config_hash)
        return recorder

    def _scheduler(self, db: Database, book: Book, reconciler: Reconciler, reporter: Reporter,
                   worker: TradingWorker, audit: AccountAuditTrail, loop: asyncio.AbstractEventLoop,
                   reoptimizer: Reoptimizer | None, several: bool) -> SessionScheduler:
        jobs: set[asyncio.Future[None]] = set()  # kept referenced until done
        runners = book.runners

        def queue(fn: Callable[[], None]) -> None:
            job = asyncio.ensure_future(worker.run(fn))
            jobs.add(job)
            job.add_done_callback(jobs.discard)

        def reconcile_all() -> None:
            for runner in runners.values():
                reconciler.periodic(runner)

        def reload_params(path: Path) -> None:  # the file changed: its parameters for every symbol
            builder.reload_params(self.cfg, runners, self.events, audit, path, now_ms, per_symbol=several)

        sched = SessionScheduler(str(db.engine.url), f"{self.opts.mode}-{','.join(runners)}", engine=db.engine)
        return builder.schedule(sched, self.cfg, self.opts.mode, queue, loop,
                                lambda: book.daily_summary(reporter), reconcile_all, reload_params, reoptimizer)


def run_session(opts: RunOptions, console_print: Callable[[str], None] = print) -> SessionOutcome:
    return TradingNode(opts, console_print).run()
