"""The node builder: the components of a session, built from its config and options.

It decides what the config asks for: the venue of the mode (paper: the fill model; shadow: the shadow log;
live: the exchange), live-only parts (the exchange-side protection, the reconciler's schedule, the order
follower), the lease watcher when the account holds a lease, and the event bus whose journal is the run's
``events.jsonl`` (the API, metrics and notifier subscribe to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tradewarden.backtest.settings import BacktestSettings
from tradewarden.backup import declare_backup_job
from tradewarden.config.models import AppConfig
from tradewarden.config.run import RunConfig
from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.portfolio import Portfolio
from tradewarden.domain.ports import EventSink
from tradewarden.engine.engine import Engine
from tradewarden.engine.window import SESSION_WINDOW, session_history_bars
from tradewarden.node.endpoint import CcxtExchange
from tradewarden.node.options import RunOptions, SessionError, run_dir_for
from tradewarden.node.runner import StrategyRunner, TradingVenue
from tradewarden.observability.bus import EventBus
from tradewarden.persistence import Database
from tradewarden.risk import RiskManager
from tradewarden.risk.account_audit import AccountAuditTrail
from tradewarden.runtime.reoptimize import JOB_ID as REOPTIMIZE_JOB
from tradewarden.runtime.reoptimize import Reoptimizer
from tradewarden.runtime.scheduler import SessionScheduler
from tradewarden.strategies.base import Strategy

if TYPE_CHECKING:
    from tradewarden.data.feed_ccxt import CcxtFeed
    from tradewarden.notify.notifier import Notifier
    from tradewarden.observability.metrics import MetricsHandle


@dataclass
class NodeConfig:
    """The config as the session trades it, its hash, and what the options make of it."""

    cfg: AppConfig
    config_hash: str
    opts: RunOptions
    run_dir: Path
    duration_ms: int | None = field(default=None)


def node_config(opts: RunOptions) -> NodeConfig:
    """Load the config (simulator timeframe applied) and set up logging; the run directory's path."""
    from tradewarden.config import load_run_config
    from tradewarden.node.options import parse_duration
    from tradewarden.observability import setup_logging

    # the config as the session trades it and its hash: what `config show` prints, so the hash an operator
    # confirms is the one the gate checks
    effective: RunConfig = load_run_config(opts.config, opts.overrides, env=opts.env)
    cfg = effective.config
    # JSON lines to the log file, readable lines on the terminal, both scrubbed of secrets
    setup_logging(cfg.logging.level, cfg.log_file, cfg.logging.console, max_bytes=cfg.logging.max_bytes,
                  backups=cfg.logging.backups)
    for chatty in ("alembic", "apscheduler"):  # their INFO lines say nothing an operator needs
        logging.getLogger(chatty).setLevel(logging.WARNING)
    duration_ms = parse_duration(opts.duration)
    root = opts.out_dir.parent if opts.out_dir else cfg.backtest.out_dir
    symbols = cfg.market.traded_symbols
    run_dir = opts.out_dir or run_dir_for(root, opts.mode, symbols[0] if len(symbols) == 1
                                          else f"portfolio{len(symbols)}")
    return NodeConfig(cfg, effective.config_hash, opts, run_dir, duration_ms)


def event_bus(run_dir: Path) -> EventBus:
    """The node's event bus; its journal (the record) is the run's ``events.jsonl``."""
    from tradewarden.observability import EventJournal
    from tradewarden.private_files import UnwritablePathError, private_dir

    private_dir(run_dir)
    try:
        journal = EventJournal(run_dir / "events.jsonl")
    except OSError as exc:  # e.g. events.jsonl is a directory, or the disk is full
        raise UnwritablePathError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}") from None
    link_latest(run_dir)
    return EventBus(journal)


def link_latest(run_dir: Path) -> None:
    """``latest`` next to the run directory points at it (replaced atomically; where links cannot be made,
    e.g. some mounted file systems, there is simply none)."""
    import os

    link, tmp = run_dir.parent / "latest", run_dir.parent / f".latest-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        logging.getLogger(__name__).warning("could not point %s at %s", link, run_dir.name)


def strategy_params(cfg: AppConfig) -> dict[str, object]:
    """The strategy's parameters: the config's, overridden by the parameter file when one is set."""
    params: dict[str, object] = dict(cfg.strategy.params)
    if cfg.strategy.params_file is not None:
        from tradewarden.optimize.paramsfile import load_params_file

        pf = load_params_file(cfg.strategy.params_file)
        if pf.strategy != cfg.strategy.name:
            raise SessionError(f"{cfg.strategy.params_file} holds parameters of {pf.strategy}, "
                               f"not of {cfg.strategy.name}")
        params.update(pf.params)
    return params


def load_strategy(cfg: AppConfig, symbol: str | None = None) -> Strategy:
    """The strategy with its parameters; with ``symbol``, that symbol's (``strategy.per_symbol`` over them)."""
    from tradewarden.strategies import load_strategy as load

    params = strategy_params(cfg)
    if symbol is not None:
        params.update(cfg.strategy.per_symbol.get(symbol, {}))
    return load(cfg.strategy.name, params)


def warmup_bars(cfg: AppConfig) -> int:
    if cfg.runtime.warmup_bars:
        return int(cfg.runtime.warmup_bars)
    from tradewarden.strategies import load_strategy as load

    strategy = load(cfg.strategy.name, dict(cfg.strategy.params))
    return max(strategy.lookback + 10, 50)


def make_venue(mode: str, instrument: Instrument, settings: BacktestSettings, rest: CcxtExchange,
               events: EventSink, retry: RetryPolicy, clock_ms: Callable[[], int]) -> TradingVenue:
    """Where the runner's orders go: the fill model (paper), the shadow log (shadow) or the exchange (live)."""
    from tradewarden.venues.shadow import ShadowVenue
    from tradewarden.venues.simulated import SimulatedVenue

    if mode == "paper":
        return SimulatedVenue(instrument, settings.fill, settings.initial_cash)
    if mode == "shadow":
        return ShadowVenue(instrument, settings.fill, settings.initial_cash, events)
    from tradewarden.venues.exchange import ExchangeVenue

    retry.call(rest.load_markets, label="load_markets")
    return ExchangeVenue(rest, instrument, events, clock_ms, retry=retry)


async def build_runner(cfg: AppConfig, mode: str, strategy: Strategy, instrument: Instrument, risk: RiskManager,
                       rest: CcxtExchange, retry: RetryPolicy, events: EventSink,
                       clock_ms: Callable[[], int], portfolio: Portfolio | None = None) -> StrategyRunner:
    """One strategy on one symbol: its engine, its venue and (live) the exchange-side protection."""
    from tradewarden.runtime.protection import LiveProtection, ProtectionSettings

    settings = BacktestSettings.from_config(cfg.backtest)
    venue = await asyncio.to_thread(make_venue, mode, instrument, settings, rest, events, retry, clock_ms)
    engine = Engine(strategy, instrument, venue, events, settings.engine_settings(), settings.initial_cash,
                    cfg.market.timeframe, check=risk, risk=risk, keep_history=False, portfolio=portfolio,
                    window=SESSION_WINDOW)
    engine.history.max_bars = session_history_bars(strategy.lookback)
    protection = None
    if mode == "live":  # exchange-side stops for a live position (paper and shadow: the fill model applies them)
        fill = settings.fill
        protection = LiveProtection(ProtectionSettings(fill.stop_loss_pct, fill.take_profit_pct,
                                                       fill.trailing_stop_pct, cfg.runtime.stop_limit_offset_pct))
    return StrategyRunner(engine, venue, risk, protection)


def market_feed(exchange: CcxtExchange, cfg: AppConfig, events: EventSink, db: Database, markets: object,
                say: Callable[[str], None]) -> CcxtFeed:
    """The session's candle feed; with ``market.warmup_from_cache`` it reads history and backfills from the
    shared Redis cache of the registry's exchange when fresh (docs/DATA.md, "Shared candle cache")."""
    from tradewarden.data.feed_ccxt import CcxtFeed
    from tradewarden.fleet.bot_cache import CacheSetupError, history_cache_for

    try:
        cache = history_cache_for(cfg, db, markets if isinstance(markets, dict) else {}, say)
    except CacheSetupError as exc:
        raise SessionError(str(exc)) from None
    return CcxtFeed(exchange, sink=events, name=cfg.exchange.id or "simulator", history_cache=cache)


def initial_cash(cfg: AppConfig) -> Decimal:
    return BacktestSettings.from_config(cfg.backtest).initial_cash


def schedule(scheduler: SessionScheduler, cfg: AppConfig, mode: str, queue: Callable[[Callable[[], None]], None],
             loop: asyncio.AbstractEventLoop, daily_summary: Callable[[], None], reconcile: Callable[[], None],
             reload_params: Callable[[Path], None], reoptimizer: Reoptimizer | None = None) -> SessionScheduler:
    """Periodic jobs on APScheduler with a persistent job store; each hands its work to the trading worker
    (``queue``, on the loop: the engine is single-threaded), so a job never runs in the middle of a step. The
    backup, the daily report and the re-optimization (``reoptimizer``, when ``reoptimize.every_days`` is set)
    never touch the engine: they run in the scheduler's own threads."""
    def on_loop(fn: Callable[[], None]) -> Callable[[], None]:
        # one hand-over at a time: when the worker is busier than the job's period (a reconciliation of many
        # symbols, slow exchange answers), the job waits once instead of piling up ahead of the candle steps
        waiting = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                waiting.clear()

        def hand_over() -> None:
            if waiting.is_set():
                return
            waiting.set()
            loop.call_soon_threadsafe(queue, run)

        return hand_over

    def reload(path: Path) -> None:
        loop.call_soon_threadsafe(queue, lambda: reload_params(path))

    scheduler.daily_at("daily-summary", cfg.runtime.daily_summary_utc, on_loop(daily_summary))
    if mode == "live":
        scheduler.every("reconcile", cfg.runtime.reconcile_every_s, on_loop(reconcile))
    if cfg.strategy.params_file is not None:
        scheduler.watch_file("params-reload", cfg.strategy.params_file, reload)
    # an online copy (SQLite's backup API or a single-snapshot export) never touches the engine: it runs in the
    # scheduler's own thread, not on the trading worker
    declare_backup_job(scheduler, cfg)
    scheduler.daily_at("daily-report", cfg.runtime.daily_summary_utc, lambda: _write_daily_report(cfg))
    if reoptimizer is not None and cfg.reoptimize.every_days is not None:
        # the optimizer runs in a child process; this thread only waits for it. A run missed while the bot was
        # down runs once at the next start (a grace of one period)
        seconds = cfg.reoptimize.every_days * 86_400
        scheduler.every(REOPTIMIZE_JOB, seconds, reoptimizer.run_job, misfire_grace_seconds=max(60, int(seconds)))
    return scheduler


def _write_daily_report(cfg: AppConfig) -> None:
    """The daily (and on ``reports.weekly_day`` the weekly) report, in the scheduler's own thread: it reads the
    database and writes files, never on the event loop or the trading worker; a failure is logged, never raised
    into the scheduler."""
    from tradewarden.reports import daily_report_job

    try:
        result = daily_report_job(cfg)
    except Exception:
        logging.getLogger(__name__).exception("the daily report could not be written")
        return
    logging.getLogger(__name__).info("daily report: %s", result.summary)


def last_price(retry: RetryPolicy, rest: CcxtExchange, symbol: str) -> Decimal:
    ticker = retry.call(rest.fetch_ticker, symbol, label="fetch_ticker")
    return Decimal(str(ticker["last"]))


def reload_params(cfg: AppConfig, runners: Mapping[str, StrategyRunner], events: EventSink,
                  audit: AccountAuditTrail, path: Path, clock_ms: Callable[[], int], per_symbol: bool = False) -> str:
    """The parameter file changed: every runner's strategy takes its parameters, with ``per_symbol`` its
    symbol's ``strategy.per_symbol`` overrides over them (a portfolio: as it was built at boot). All or nothing:
    a bad file (or parameters a symbol's strategy refuses) keeps every running strategy. The reload is an
    operator action in the audit trail. Says how it went."""
    from tradewarden.risk.account_audit import file_owner
    from tradewarden.strategies import load_strategy as load

    where = ""  # names the symbol whose strategy refused its parameters, in a portfolio
    try:
        params = strategy_params(cfg)
        strategies: dict[str, Strategy] = {}
        for symbol in runners:
            where = f"{symbol}: " if per_symbol else ""
            own = {**params, **cfg.strategy.per_symbol.get(symbol, {})} if per_symbol else params
            strategies[symbol] = load(cfg.strategy.name, own)
    except Exception as exc:  # a bad file keeps the running parameters
        error = f"{where}{exc}"
        events.emit(EventType.PARAMS_RELOAD_FAILED, clock_ms(), file=str(path), error=error)
        return f"kept the running parameters: {error}"
    for symbol, runner in runners.items():
        strategy = strategies[symbol]
        runner.engine.strategy = strategy
        history = runner.engine.history
        if history.max_bars is not None:  # a longer lookback keeps more candles from now on
            history.max_bars = max(history.max_bars, session_history_bars(strategy.lookback))
    events.emit(EventType.PARAMS_RELOADED, clock_ms(), file=str(path), params=params)
    audit.operator_action(clock_ms(), "params_reload", file_owner(path), file=str(path), params=params)
    return f"reloaded {path}"


# -- issue 13 point 6: Prometheus metrics (observability.metrics) ------------------------------------------------
@contextlib.contextmanager
def serve_metrics(bus: EventBus, cfg: AppConfig, mode: str) -> Iterator[MetricsHandle | None]:
    """While the session runs, serve its metrics at ``observability.metrics_host:metrics_port`` (unset: none).
    The configured host is the operator's explicit choice, so a non-loopback one is allowed."""
    port = cfg.observability.metrics_port
    if port is None:
        yield None
        return
    from tradewarden.domain.candles import timeframe_ms
    from tradewarden.observability.metrics import MetricsServerError, attach_metrics

    try:
        handle = attach_metrics(bus, port, cfg.observability.metrics_host, cfg.market.traded_symbols,
                                timeframe_ms(cfg.market.timeframe), allow_remote=True, live=mode == "live")
    except MetricsServerError as exc:
        raise SessionError(str(exc)) from None
    try:
        yield handle
    finally:
        handle.stop()


# -- issue 14 point 1: alerts and Telegram commands (notify) ----------------------------------------------------
def start_notifier(bus: EventBus, cfg: AppConfig, mode: str, metrics: MetricsHandle | None) -> Notifier | None:
    """Subscribe the notifier to the bus when ``notify`` has a channel (else None); its counters join the
    metrics when they are served. The caller closes it after the bus closed, so the last events are sent."""
    if not cfg.notify.channels_configured:
        return None
    from tradewarden.notify.build import build_notifier

    notifier = build_notifier(cfg, mode)
    if notifier is None:
        return None
    notifier.attach(bus)
    if metrics is not None:
        metrics.metrics.count_notifications(notifier.counts)
    return notifier
