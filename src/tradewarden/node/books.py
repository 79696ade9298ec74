"""What differs between a session of one symbol and one of several on a shared portfolio, behind one shape.

The node (:mod:`tradewarden.node.node`) wires the same components for both: boot, reconciler, watchers, order
follower, scheduler, monitor. Only the book differs: one runner whose engine keeps its own cash, its
:class:`~tradewarden.node.state.StateKeeper`, :class:`~tradewarden.node.candle_loop.CandleLoop` and
:class:`~tradewarden.node.reporter.Reporter`; or runners on one :class:`~tradewarden.domain.portfolio.Portfolio`
with the :class:`~tradewarden.node.portfolio_state.PortfolioStateKeeper`, the
:class:`~tradewarden.node.portfolio_loop.PortfolioCandleLoop` (aligned steps, as the portfolio backtest runs
them) and the :class:`~tradewarden.node.reporter.PortfolioReporter`. A one-symbol session keeps its own state
and loop (not a portfolio of one) so that its stored state, its recording and its bar-for-bar parity with the
single-symbol backtest stay what they were.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tradewarden.domain.instrument import Instrument
from tradewarden.domain.portfolio import Portfolio
from tradewarden.node.candle_loop import CandleLoop, Feed
from tradewarden.node.options import SessionError
from tradewarden.node.portfolio_loop import PortfolioCandleLoop
from tradewarden.node.portfolio_state import PortfolioStateKeeper
from tradewarden.node.reporter import PortfolioReporter, Reporter
from tradewarden.node.runner import StrategyRunner
from tradewarden.node.state import StateKeeper
from tradewarden.node.worker import TradingWorker
from tradewarden.runtime.recording import Recorder


@dataclass(frozen=True)
class LoopSettings:
    """What the candle loop takes from the config, the endpoint and the node."""

    timeframe: str
    warmup_bars: int
    duration_ms: int | None
    real_market: bool
    trade_after: int | None
    recording_continued: bool
    grace_s: float
    simulated_exchange: bool
    request_stop: Callable[[str], None]
    duration_text: str | None
    initial_cash: Decimal
    #: holds the event bus's fan-out while a step decides (``EventBus.fanout_held``)
    fanout_held: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext


class Book(Protocol):
    """The runners of a session and what keeps, steps and reports them."""

    @property
    def runners(self) -> Mapping[str, StrategyRunner]: ...

    @property
    def state(self) -> StateKeeper | PortfolioStateKeeper: ...

    @property
    def candles_seen(self) -> int: ...

    def resume(self) -> bool: ...

    def persist(self, ts: int) -> None: ...

    def persist_if_changed(self) -> None: ...

    def finish(self) -> None: ...

    def candle_loop(self, feed: Feed, recorder: Recorder, worker: TradingWorker,
                    settings: LoopSettings) -> CandleLoop | PortfolioCandleLoop: ...

    def daily_summary(self, reporter: Reporter) -> None: ...

    def report(self, reporter: Reporter, reason: str, loop_stall_max_ms: float) -> dict[str, object]: ...


@dataclass
class OneSymbolBook:
    runner: StrategyRunner
    state: StateKeeper

    @property
    def runners(self) -> Mapping[str, StrategyRunner]:
        return {self.runner.symbol: self.runner}

    @property
    def candles_seen(self) -> int:
        return self.state.candles_seen

    def resume(self) -> bool:
        return self.state.resume(self.runner)

    def persist(self, ts: int) -> None:
        self.state.persist(self.runner, ts)

    def persist_if_changed(self) -> None:
        self.state.persist_if_changed(self.runner)

    def finish(self) -> None:
        self.state.finish(self.runner)

    def candle_loop(self, feed: Feed, recorder: Recorder, worker: TradingWorker,
                    settings: LoopSettings) -> CandleLoop:
        s = settings
        return CandleLoop(self.runners, feed, recorder, worker, self.state, self.state.events, self.state.clock_ms,
                          timeframe=s.timeframe, warmup_bars=s.warmup_bars, duration_ms=s.duration_ms,
                          real_market=s.real_market, trade_after=s.trade_after,
                          recording_continued=s.recording_continued, request_stop=s.request_stop,
                          duration_text=s.duration_text, initial_cash=s.initial_cash, fanout_held=s.fanout_held)

    def daily_summary(self, reporter: Reporter) -> None:
        reporter.daily_summary(self.runner, self.state.candles_seen)

    def report(self, reporter: Reporter, reason: str, loop_stall_max_ms: float) -> dict[str, object]:
        return reporter.finish(self.runner, self.state.candles_seen, reason, loop_stall_max_ms,
                               self.state.results(self.runner))


@dataclass
class PortfolioBook:
    runners: Mapping[str, StrategyRunner]
    portfolio: Portfolio
    state: PortfolioStateKeeper
    _reporters: dict[int, PortfolioReporter] = field(default_factory=dict)

    @property
    def candles_seen(self) -> int:
        return self.state.candles_seen

    def resume(self) -> bool:
        return self.state.resume()

    def persist(self, ts: int) -> None:
        self.state.persist(ts)

    def persist_if_changed(self) -> None:
        self.state.persist_if_changed()

    def finish(self) -> None:
        self.state.finish()

    def candle_loop(self, feed: Feed, recorder: Recorder, worker: TradingWorker,
                    settings: LoopSettings) -> PortfolioCandleLoop:
        s = settings
        return PortfolioCandleLoop(self.runners, self.portfolio, feed, recorder, worker, self.state,
                                   self.state.events, self.state.clock_ms, timeframe=s.timeframe,
                                   warmup_bars=s.warmup_bars, duration_ms=s.duration_ms, real_market=s.real_market,
                                   trade_after=s.trade_after, recording_continued=s.recording_continued,
                                   grace_s=s.grace_s, request_stop=s.request_stop, duration_text=s.duration_text,
                                   initial_cash=s.initial_cash, simulated_exchange=s.simulated_exchange,
                                   fanout_held=s.fanout_held)

    def _reporter(self, base: Reporter) -> PortfolioReporter:
        return self._reporters.setdefault(id(base), PortfolioReporter(base))

    def daily_summary(self, reporter: Reporter) -> None:
        self._reporter(reporter).daily_summary(self.runners, self.portfolio, self.state.candles_seen)

    def report(self, reporter: Reporter, reason: str, loop_stall_max_ms: float) -> dict[str, object]:
        return self._reporter(reporter).finish(self.runners, self.portfolio, self.state.equity,
                                               self.state.candles_seen, reason, loop_stall_max_ms,
                                               self.state.results())


def account_key(mode: str, exchange: str | None, symbols: Sequence[str], strategy: str) -> str:
    """The runtime store's account of a session: every symbol, in order (another list is another account).

    The store's account keys hold 128 characters: a list too long for that (20 symbols) is named by a digest
    of it, still one account per list."""
    key = f"{mode}:{exchange or 'simulator'}:{','.join(symbols)}:{strategy}"
    if len(key) <= 128:
        return key
    digest = hashlib.sha256(",".join(symbols).encode()).hexdigest()[:16]
    return f"{mode}:{exchange or 'simulator'}:{len(symbols)}-symbols-{digest}:{strategy}"[:128]


def shared_portfolio(instruments: Sequence[Instrument], cash: Decimal) -> Portfolio:
    """One cash ledger over every symbol; they must share the quote currency."""
    quotes = sorted({i.quote for i in instruments})
    if len(quotes) != 1:
        raise SessionError(f"every symbol of a session must be quoted in one currency, got {', '.join(quotes)}")
    return Portfolio(quotes[0], [i.symbol for i in instruments], [i.atom for i in instruments], cash)
