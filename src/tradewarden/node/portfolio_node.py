"""The body of a session of several symbols (``market.symbols``, ``--symbols``) on one shared portfolio.

The same components as one symbol's session (:mod:`tradewarden.node.node`), wired for many: one strategy runner
per symbol, every engine on one :class:`~tradewarden.domain.portfolio.Portfolio` (one cash ledger); the
:class:`~tradewarden.node.portfolio_loop.PortfolioCandleLoop` (one feed stream per symbol, aligned steps run as
the portfolio backtest runs them); the :class:`~tradewarden.node.portfolio_state.PortfolioStateKeeper` (every
runner in one transaction per step); the boot reconciliation and the periodic one of every symbol (live); the
kill switch carried out on every runner; the reports of the portfolio and of each symbol.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tradewarden import __version__
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.portfolio import Portfolio
from tradewarden.node import builder
from tradewarden.node.commands import NodeCommands
from tradewarden.node.components import Component, run_components
from tradewarden.node.endpoint import Endpoint, make_exchanges
from tradewarden.node.monitor import LoopMonitor
from tradewarden.node.options import SessionError, SessionOutcome, now_ms
from tradewarden.node.portfolio_loop import PortfolioCandleLoop
from tradewarden.node.portfolio_state import PortfolioStateKeeper
from tradewarden.node.reconciler import Reconciler
from tradewarden.node.reporter import PortfolioReporter, Reporter
from tradewarden.node.runner import StrategyRunner
from tradewarden.node.watchers import KillSwitchPoll, KillSwitchWatcher, LeaseWatcher, OrderFollower
from tradewarden.node.worker import TradingWorker
from tradewarden.persistence import Database

if TYPE_CHECKING:
    from tradewarden.node.node import TradingNode


def account_key(mode: str, exchange: str | None, symbols: list[str], strategy: str) -> str:
    """The runtime store's account of a portfolio: every symbol, in order (another list is another account).

    The store's account keys hold 128 characters: a list too long for that (20 symbols) is named by a digest
    of it, still one account per list."""
    key = f"{mode}:{exchange or 'simulator'}:{','.join(symbols)}:{strategy}"
    if len(key) <= 128:
        return key
    import hashlib

    digest = hashlib.sha256(",".join(symbols).encode()).hexdigest()[:16]
    return f"{mode}:{exchange or 'simulator'}:{len(symbols)}-symbols-{digest}:{strategy}"[:128]


def shared_portfolio(instruments: Sequence[Instrument], cash: Decimal) -> Portfolio:
    """One cash ledger over every symbol; they must share the quote currency."""
    quotes = sorted({i.quote for i in instruments})
    if len(quotes) != 1:
        raise SessionError(f"every symbol of a session must be quoted in one currency, got {', '.join(quotes)}")
    return Portfolio(quotes[0], [i.symbol for i in instruments], [i.atom for i in instruments], cash)


async def trade_portfolio(node: TradingNode, db: Database, endpoint: Endpoint) -> SessionOutcome:
    from tradewarden.config import masked_dump
    from tradewarden.data.retry import RetryPolicy
    from tradewarden.persistence.runtime_store import RuntimeStore
    from tradewarden.risk import RiskManager, load_risk_config
    from tradewarden.runtime.instruments import record_instruments, seal
    from tradewarden.runtime.scheduler import SessionScheduler
    from tradewarden.venues.exchange_state import fetch_exchange_view

    cfg, mode, events, boot = node.cfg, node.opts.mode, node.events, node.boot
    symbols = cfg.market.traded_symbols
    strategies = {s: builder.load_strategy(cfg, s) for s in symbols}
    first = strategies[symbols[0]]
    risk_cfg = load_risk_config(cfg.risk)
    account = account_key(mode, cfg.exchange.id, symbols, first.name)
    ex = make_exchanges(endpoint, mode, cfg.exchange.api_key is not None)
    worker = TradingWorker()
    retry = RetryPolicy(sink=events, exchange=ex.orders, max_total_s=120.0)
    store = RuntimeStore(db, account)
    try:
        instruments = await boot.instruments(ex.orders, retry, store)
    except BaseException:
        await ex.feed.close()
        raise
    boot.seal(endpoint, instruments, first.name, dict(first.params), risk_cfg.active_stage)
    audit = boot.audit_trail(db, account)
    lost: str | None = None
    try:
        from tradewarden.risk.store import RiskStateStore

        risk_store = RiskStateStore(db)
        risk = RiskManager(risk_cfg, events, audit, store=risk_store, instruments=dict(instruments))
        bot = node.publish(db, account, first.name)
        for symbol in symbols:  # the live account checks look at every symbol's base and quote
            await boot.safety_checks(ex.orders, risk, retry, instruments[symbol])
        portfolio = shared_portfolio([instruments[s] for s in symbols], builder.initial_cash(cfg))
        runners: dict[str, StrategyRunner] = {}
        for symbol in symbols:
            runners[symbol] = await builder.build_runner(cfg, mode, strategies[symbol], instruments[symbol], risk,
                                                         ex.orders, retry, events, now_ms, portfolio=portfolio)
        state = PortfolioStateKeeper(store, runners, portfolio, events, now_ms, live=mode == "live",
                                     fresh_after_clean_stop=cfg.exchange.id is None, say=node.say)
        reconciler = Reconciler(
            lambda symbol: fetch_exchange_view(ex.reads, symbol, retry=retry, recent_orders=True),
            lambda symbol: builder.last_price(retry, ex.orders, symbol), risk, audit, events, now_ms,
            adopt=node.opts.adopt, say=node.say)
        state.register("reconciler", reconciler)
        resumed = state.resume()
        record_instruments(store, instruments, now_ms())
        if mode == "live":
            # every symbol's base balance and open orders against the exchange: a difference on one halts
            for runner in runners.values():
                await worker.run(reconciler.at_boot, runner, resumed)
            await worker.run(state.persist, max(r.engine.last_ts for r in runners.values()))
            for runner in runners.values():
                runner.guard_submits(lambda order: store.save_order_now(order, now_ms()))
        feed = builder.market_feed(ex.feed, cfg, events, db, ex.orders.markets, node.say)
        recorder = node.recorder_for(state, {
            "mode": mode, "config_hash": node.config_hash, "config": masked_dump(cfg), "version": __version__,
            "filters": seal(instruments), "symbols": symbols})
        reporter = PortfolioReporter(Reporter(node.run_dir, mode, node.config_hash, cfg.market.timeframe,
                                              builder.initial_cash(cfg), events, now_ms))
        stop = node.new_stop()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, node.request_stop, f"signal {sig.name}")
        candles = PortfolioCandleLoop(runners, portfolio, feed, recorder, worker, state, events, now_ms,
                                      timeframe=cfg.market.timeframe, warmup_bars=builder.warmup_bars(cfg),
                                      duration_ms=node.duration_ms, real_market=cfg.exchange.id is not None,
                                      trade_after=endpoint.trade_after,
                                      recording_continued=node.recording_continued,
                                      grace_s=cfg.runtime.align_grace_s, request_stop=node.request_stop,
                                      duration_text=node.opts.duration, initial_cash=builder.initial_cash(cfg),
                                      simulated_exchange=endpoint.simulated, fanout_held=events.fanout_held)
        monitor = LoopMonitor(events, now_ms, lambda: {
            "candles_received": candles.received, "feed_healthy": feed.healthy, "worker_jobs": worker.busy},
            cfg.runtime.heartbeat_s)

        async def on_worker(fn: Callable[[], None]) -> None:
            await worker.run(fn)

        def carry_out_kill_switch() -> None:
            for runner in runners.values():  # the switch halts the account: every symbol's orders and position
                runner.carry_out_kill_switch(now_ms())
            state.persist_if_changed()

        def reload_now() -> str:  # an operator's reload_params request: every symbol's runner
            path = cfg.strategy.params_file
            if path is None:
                return "no parameter file to reload (strategy.params_file is not set)"
            return builder.reload_params(cfg, runners, events, audit, path, now_ms, per_symbol=True)

        commands = NodeCommands(risk_store, runners, reload_now, state.persist_if_changed, now_ms, account)
        components: list[Component] = [KillSwitchWatcher(
            KillSwitchPoll(risk, audit, bot, now_ms), carry_out_kill_switch, on_worker,
            now_ms, cfg.runtime.kill_switch_poll_s, commands)]
        lease: LeaseWatcher | None = None
        if boot.lease_keeper is not None:
            keeper = boot.lease_keeper
            lease = LeaseWatcher(lambda: keeper.lost, risk, events, now_ms, node.request_stop,
                                 cfg.runtime.kill_switch_poll_s, node.say)
            components.append(lease)
        exchanges = [r.exchange for r in runners.values() if r.exchange is not None]
        if exchanges:
            def poll_orders() -> None:
                for runner in runners.values():
                    runner.poll()
                state.persist_if_changed()

            def recheck_in() -> float | None:
                waits = [w for w in (e.recheck_in() for e in exchanges) if w is not None]
                return min(waits) if waits else None

            components.append(OrderFollower(lambda: any(r.engine.open_orders for r in runners.values()),
                                            recheck_in, poll_orders, on_worker, cfg.runtime.order_poll_s))
        jobs: set[asyncio.Future[None]] = set()

        def queue(fn: Callable[[], None]) -> None:
            job = asyncio.ensure_future(worker.run(fn))
            jobs.add(job)
            job.add_done_callback(jobs.discard)

        def reconcile_all() -> None:
            for runner in runners.values():
                reconciler.periodic(runner)

        def reload_params(path: Path) -> None:  # the file changed: its parameters for every symbol
            builder.reload_params(cfg, runners, events, audit, path, now_ms, per_symbol=True)

        scheduler = builder.schedule(
            SessionScheduler(str(db.engine.url), f"{mode}-{','.join(symbols)}", engine=db.engine), cfg, mode,
            queue, loop, lambda: reporter.daily_summary(runners, portfolio, state.candles_seen), reconcile_all,
            reload_params)
        try:
            await run_components(candles, stop, monitor, components, scheduler)
        finally:
            lost = lease.lost_reason if lease is not None else None

            def stop_step() -> None:
                if lost is None:  # else the account and its orders may be another bot's by now
                    for runner in runners.values():
                        runner.finish_orders(cfg.runtime.on_stop)
                    state.finish()

            await worker.run(stop_step)
            await monitor.stop()
            await feed.close()
            recorder.close()
    finally:
        worker.close()
        with contextlib.suppress(Exception):
            await ex.feed.close()
        audit.sync(now_ms())
        audit.close()
    metrics = reporter.finish(runners, portfolio, state.equity, state.candles_seen, node.stop_reason,
                              monitor.stall_max_ms, state.results())
    return node.outcome(1 if lost else 0, node.stop_reason, state.candles_seen, metrics)
