"""The candle loop: warm-up, then every closed candle from the feed through the runner of its symbol.

The feed is read on the event loop by the :class:`~tradewarden.node.intake.CandleIntake`; each candle is
recorded, then its step (engine, protection, persistence) runs on the trading worker. After a crash on a real
market the candles that closed while the bot was down are history (warm-up), never traded hours late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Protocol

from tradewarden.domain.candles import Candle, timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.portfolio import Portfolio
from tradewarden.domain.ports import EventSink
from tradewarden.node.intake import CandleIntake
from tradewarden.node.runner import Runners, StrategyRunner
from tradewarden.node.state import StateKeeper
from tradewarden.node.worker import TradingWorker
from tradewarden.runtime.recording import Recorder


class Feed(Protocol):
    """The market data the loop reads (:class:`tradewarden.data.feed_ccxt.CcxtFeed`)."""

    @property
    def healthy(self) -> bool: ...

    async def history(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]: ...

    def closed_candles(self, symbol: str, timeframe: str, after_ms: int | None = None) -> AsyncIterator[Candle]: ...


def emit_equity_sample(events: EventSink, ts: int, candle_ts: int, portfolio: Portfolio, initial_cash: Decimal,
                       stepped: Iterable[tuple[StrategyRunner, Candle]]) -> None:
    """``EquitySample`` after a closed candle's (or time step's) orders: what the bot is worth, the closes it
    was marked at and its balances; the read model's equity curve (one ``put_nowait`` on the trading path)."""
    equity = portfolio.equity
    marks: dict[str, object] = {}
    balances: dict[str, object] = {portfolio.quote: str(portfolio.cash)}
    for runner, candle in stepped:
        instrument = runner.engine.instrument
        marks[instrument.symbol] = repr(candle.close)
        balances[instrument.base] = str(instrument.from_steps(runner.engine.pos_steps))
    events.emit(EventType.EQUITY_SAMPLE, ts, candle_ts=candle_ts, equity=str(equity),
                pnl=str(equity - initial_cash), marks=marks, balances=balances)


class CandleLoop:
    def __init__(self, runners: Runners, feed: Feed, recorder: Recorder, worker: TradingWorker,
                 state: StateKeeper, events: EventSink, clock_ms: Callable[[], int], *, timeframe: str,
                 warmup_bars: int, duration_ms: int | None, real_market: bool, trade_after: int | None,
                 recording_continued: bool, request_stop: Callable[[str], None], duration_text: str | None,
                 initial_cash: Decimal,
                 fanout_held: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> None:
        self.initial_cash = initial_cash  # what the PnL of the equity samples is measured from
        self.fanout_held = fanout_held  # the bus's subscribers wait while the step decides (as a portfolio's)
        self.runners = runners
        self.feed = feed
        self.recorder = recorder
        self.worker = worker
        self.state = state
        self.events = events
        self.clock_ms = clock_ms
        self.timeframe = timeframe
        self.warmup_bars = warmup_bars
        self.duration_ms = duration_ms
        self.real_market = real_market            # a market that went on while the bot was down
        self.trade_after = trade_after            # built-in simulator: its first bar
        self.recording_continued = recording_continued  # a continued recording holds the history already
        self.request_stop = request_stop
        self.duration_text = duration_text
        self.end_ms: int | None = None            # market time at which --duration is up
        self.intakes: dict[str, CandleIntake] = {symbol: CandleIntake() for symbol in runners}

    @property
    def received(self) -> int:
        return sum(intake.received for intake in self.intakes.values())

    async def run(self, stop: asyncio.Event) -> None:
        # one stream per runner; today's node has one runner, the multi-symbol node merges their intakes
        (symbol, runner), = self.runners.items()
        await self._run_one(symbol, runner, self.intakes[symbol], stop)

    async def _warm_up(self, symbol: str, runner: StrategyRunner) -> tuple[int | None, int | None]:
        """(the last candle before the stream, the first candle to trade on after a catch-up or None)."""
        engine, tf = runner.engine, self.timeframe
        # load the strategy's compiled code now, not on the first candle's way to an order; and before the
        # history is fetched, so no candle closes between the history and the stream while it loads
        await self.worker.run(engine.prepare)
        if engine.last_ts:  # resumed: the history came from the snapshot; continue after its last candle
            catch_up_until: int | None = None
            if not self.recording_continued:
                for candle in engine.history.tail(engine.history.n).candle_list():
                    self.recorder.candle(symbol, tf, candle, warmup=True)
            if self.real_market:
                # a real market went on while the bot was down: the candles that closed meanwhile are history,
                # never traded hours late; trading resumes at the newest closed candle
                newest = list(await self.feed.history(symbol, tf, 1))
                if newest and newest[-1].ts > engine.last_ts:
                    catch_up_until = newest[-1].ts
            return engine.last_ts, catch_up_until
        warm = self.warmup_bars
        history = list(await self.feed.history(symbol, tf, warm + 300))
        if self.trade_after is not None:  # built-in simulator: start at its first bar, not at "now"
            history = [c for c in history if c.ts <= self.trade_after]
        history = history[-warm:]
        for candle in history:
            self.recorder.candle(symbol, tf, candle, warmup=True)
        await self.worker.run(engine.warm_up, history)
        after = history[-1].ts if history else None
        self.events.emit(EventType.WARM_UP_DONE, self.clock_ms(), candles=len(history), last=after)
        return after, None

    async def _run_one(self, symbol: str, runner: StrategyRunner, intake: CandleIntake,
                       stop: asyncio.Event) -> None:
        tf = self.timeframe
        after, catch_up_until = await self._warm_up(symbol, runner)
        self.end_ms = None
        if self.state.started_ts is not None and self.duration_ms is not None:
            self.end_ms = self.state.started_ts + self.duration_ms
        intake.start(self.feed.closed_candles(symbol, tf, after_ms=after))
        skipped: list[int] = []
        try:
            while not stop.is_set():
                candle = await intake.next(stop)
                if candle is None:
                    break
                if catch_up_until is not None:
                    if candle.ts < catch_up_until:
                        self.recorder.candle(symbol, tf, candle, warmup=True)
                        await self.worker.run(runner.engine.warm_up, [candle])
                        skipped.append(candle.ts)
                        continue
                    self.events.emit(EventType.CAUGHT_UP, self.clock_ms(), history_only=len(skipped),
                                     first=skipped[0] if skipped else None, last=skipped[-1] if skipped else None,
                                     trading_from=candle.ts)
                    catch_up_until = None
                self.recorder.candle(symbol, tf, candle)
                if await self.worker.run(self.step, runner, candle, self.feed.healthy):
                    self.request_stop(f"duration {self.duration_text} reached")
            if intake.ended:
                self.request_stop("market data ended")
        finally:
            await intake.stop()

    def step(self, runner: StrategyRunner, candle: Candle, feed_healthy: bool) -> bool:
        """One closed candle through the runner, then persisted (on the worker); True once --duration is up."""
        with self.fanout_held():
            runner.step(candle, feed_healthy)
        state = self.state
        state.candles_seen += 1
        if state.started_ts is None:
            state.started_ts = candle.ts
            if self.duration_ms is not None:
                self.end_ms = candle.ts + self.duration_ms  # market time from the first traded candle's open
        state.persist(runner, candle.ts)
        emit_equity_sample(self.events, self.clock_ms(), candle.ts, runner.engine.portfolio, self.initial_cash,
                           [(runner, candle)])
        return self.end_ms is not None and candle.ts + timeframe_ms(self.timeframe) >= self.end_ms

    def start(self) -> None:
        """Nothing to schedule: the node awaits :meth:`run`."""

    async def stop(self) -> None:
        for intake in self.intakes.values():
            await intake.stop()
