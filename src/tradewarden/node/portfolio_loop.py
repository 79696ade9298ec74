"""The candle loop of a session of several symbols on one portfolio: one feed stream per symbol, merged into
time steps by the bar aligner, each step run exactly as the portfolio backtest runs it.

Every symbol warms up on its own history; then the streams go through
:func:`tradewarden.data.align.aligned_steps` and each step runs on the trading worker: every symbol with a bar
advances (its fills booked into the shared cash, its mark moved to the close) in the portfolio's symbol order,
then the portfolio equity is marked (risk breakers and stages see it), then each decides in the same order
(:func:`tradewarden.backtest.portfolio.step_order`, as :class:`~tradewarden.backtest.portfolio.PortfolioStepper`
does), then the whole step is persisted in one transaction. Nothing that can wait runs before the orders: the
event bus's subscribers get the step's events and the risk state is written once they are out.

The aligner's deadline runs on the market's clock. A real exchange's market runs in wall time; a simulator's
(the built-in one, or one the exchange's ``urls`` point at) runs ``sim_speed`` times faster, so its clock is
the newest close seen plus the wall time since it arrived: a symbol's bar is waited for ``grace`` wall seconds
after another symbol's bar of the same step.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager
from decimal import Decimal

from tradewarden.backtest.portfolio import step_order
from tradewarden.data.align import BarAligner, aligned_steps
from tradewarden.domain.candles import Candle, timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.portfolio import Portfolio
from tradewarden.domain.ports import EventSink
from tradewarden.node.candle_loop import Feed, emit_equity_sample
from tradewarden.node.portfolio_state import PortfolioStateKeeper
from tradewarden.node.runner import StrategyRunner
from tradewarden.node.worker import TradingWorker
from tradewarden.runtime.recording import Recorder
from tradewarden.venues.shadow import ShadowVenue
from tradewarden.venues.simulated import SimulatedVenue


class ArrivalClock:
    """The built-in simulator's market clock as the aligner sees it: the oldest waiting step's close plus the
    wall time since its first bar arrived. So a step waits ``grace`` wall seconds for its other symbols, at any
    simulator speed (the simulator's own clock runs ``sim_speed`` times faster than the wall)."""

    def __init__(self, aligner: BarAligner, wall: Callable[[], float] = time.monotonic) -> None:
        self.aligner = aligner
        self.wall = wall
        self.first_arrival: dict[int, float] = {}  # bar open time -> wall time its first bar arrived

    def saw(self, candle: Candle) -> None:
        self.first_arrival.setdefault(candle.ts, self.wall())

    def now_ms(self) -> int:
        pending = self.aligner.pending
        if not pending:
            self.first_arrival.clear()
            return 0  # nothing waits: no deadline to pass
        oldest = min(pending)
        for ts in [t for t in self.first_arrival if t < oldest]:  # released steps
            del self.first_arrival[ts]
        waited = self.wall() - self.first_arrival.get(oldest, self.wall())
        return oldest + self.aligner.step_ms + int(waited * 1000)


class PortfolioCandleLoop:
    def __init__(self, runners: Mapping[str, StrategyRunner], portfolio: Portfolio, feed: Feed, recorder: Recorder,
                 worker: TradingWorker, state: PortfolioStateKeeper, events: EventSink,
                 clock_ms: Callable[[], int], *, timeframe: str, warmup_bars: int, duration_ms: int | None,
                 real_market: bool, trade_after: int | None, recording_continued: bool, grace_s: float,
                 request_stop: Callable[[str], None], duration_text: str | None, initial_cash: Decimal,
                 simulated_exchange: bool = False,
                 fanout_held: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> None:
        self.initial_cash = initial_cash  # what the PnL of the equity samples is measured from
        # the event bus's subscribers wait while a step decides (EventBus.fanout_held): their threads would
        # take the interpreter lock from the decisions, and the step's last order waited for them
        self.fanout_held = fanout_held
        self.runners = dict(runners)
        self.symbols = list(runners)
        self.portfolio = portfolio
        self.feed = feed
        self.recorder = recorder
        self.worker = worker
        self.state = state
        self.events = events
        self.clock_ms = clock_ms
        self.timeframe = timeframe
        self.step_ms = timeframe_ms(timeframe)
        self.warmup_bars = warmup_bars
        self.duration_ms = duration_ms
        self.real_market = real_market
        self.trade_after = trade_after
        self.recording_continued = recording_continued
        self.grace_s = grace_s
        self.request_stop = request_stop
        self.duration_text = duration_text
        self.end_ms: int | None = None
        self.received = 0
        self.catch_up_until: int | None = None  # resumed on a real market: bars before it are history
        self.history_only: list[int] = []
        self.aligner = BarAligner(self.symbols, self.step_ms, int(grace_s * 1000))
        self.market_clock: Callable[[], int] = clock_ms
        self._arrivals: ArrivalClock | None = None
        if not real_market or simulated_exchange:  # a simulator's market runs sim_speed times the wall clock
            self._arrivals = ArrivalClock(self.aligner)
            self.market_clock = self._arrivals.now_ms

    async def _warm_up(self, symbol: str, runner: StrategyRunner) -> int | None:
        """The last candle before this symbol's stream."""
        engine, tf = runner.engine, self.timeframe
        await self.worker.run(engine.prepare)
        if engine.last_ts:  # resumed: the history came from the snapshot
            if not self.recording_continued:
                for candle in engine.history.tail(engine.history.n).candle_list():
                    self.recorder.candle(symbol, tf, candle, warmup=True)
            return engine.last_ts
        history = list(await self.feed.history(symbol, tf, self.warmup_bars + 300))
        if self.trade_after is not None:
            history = [c for c in history if c.ts <= self.trade_after]
        history = history[-self.warmup_bars:]
        for candle in history:
            self.recorder.candle(symbol, tf, candle, warmup=True)
        await self.worker.run(engine.warm_up, history)
        after = history[-1].ts if history else None
        self.events.emit(EventType.WARM_UP_DONE, self.clock_ms(), symbol=symbol, candles=len(history), last=after)
        return after

    async def _catch_up_until(self) -> int | None:
        """Resumed on a real market: the newest closed bar of any symbol, if it closed after the last one the
        session stepped. The bars before it closed while the bot was down: history, never traded late."""
        last = max(r.engine.last_ts for r in self.runners.values())
        newest = [c[-1].ts for c in [list(await self.feed.history(s, self.timeframe, 1)) for s in self.symbols] if c]
        cut = max(newest, default=0)
        return cut if cut > last else None

    async def _stream(self, symbol: str, after: int | None) -> AsyncIterator[Candle]:
        async for candle in self.feed.closed_candles(symbol, self.timeframe, after_ms=after):
            self.received += 1
            if self.catch_up_until is not None and candle.ts < self.catch_up_until:
                # closed while the bot was down: the strategy's history (as in the warm-up), not a step
                self.recorder.candle(symbol, self.timeframe, candle, warmup=True)
                await self.worker.run(self.runners[symbol].engine.warm_up, [candle])
                self.history_only.append(candle.ts)
                continue
            if self._arrivals is not None:
                self._arrivals.saw(candle)
            yield candle

    async def run(self, stop: asyncio.Event) -> None:
        after = {s: await self._warm_up(s, r) for s, r in self.runners.items()}
        if self.state.started_ts is not None and self.duration_ms is not None:
            self.end_ms = self.state.started_ts + self.duration_ms
        if self.real_market and any(r.engine.last_ts for r in self.runners.values()):
            # resumed on a real market: the bars that closed meanwhile arrive first and are history only
            self.catch_up_until = await self._catch_up_until()
        catching_up = self.catch_up_until is not None
        steps = aligned_steps({s: self._stream(s, after[s]) for s in self.symbols}, self.step_ms,
                              grace_s=self.grace_s, clock_ms=self.market_clock, sink=self.events,
                              timeframe=self.timeframe, aligner=self.aligner)
        stopper = asyncio.ensure_future(stop.wait())
        ended = False
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(anext(steps, None))
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    # the generator is still running inside the cancelled anext(): let the cancellation land
                    # before aclose() below, which refuses a generator that is already running
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await getter
                    break
                step = getter.result()
                if step is None:
                    ended = True
                    break
                if catching_up:
                    skipped = sorted(self.history_only)
                    self.events.emit(EventType.CAUGHT_UP, self.clock_ms(), history_only=len(skipped),
                                     first=skipped[0] if skipped else None, last=skipped[-1] if skipped else None,
                                     trading_from=step.ts)
                    catching_up = False
                for symbol, candle in step_order_items(self.symbols, step.bars):
                    self.recorder.candle(symbol, self.timeframe, candle)
                if await self.worker.run(self.step, step.ts, step.bars, self.feed.healthy):
                    self.request_stop(f"duration {self.duration_text} reached")
            if ended:
                self.request_stop("market data ended")
        finally:
            stopper.cancel()
            if isinstance(steps, AsyncGenerator):  # the streams' finally blocks run now, not at collection
                await steps.aclose()

    def step(self, ts: int, bars: Mapping[str, Candle], feed_healthy: bool) -> bool:
        """One aligned time step through every runner with a bar, then persisted; True once --duration is up."""
        order = step_order(self.symbols, bars)
        runners = [self.runners[self.symbols[j]] for j, _ in order]
        risk = runners[0].risk
        # the risk state is written when the outer block ends, the subscribers get the events when the inner
        # one does: both once the step's orders are out
        with risk.writes_held(), self.fanout_held():
            risk.on_feed_health(ts, feed_healthy)
            close_ticks: list[int] = []
            for runner, (_, candle) in zip(runners, order, strict=True):
                venue = runner.venue
                if isinstance(venue, SimulatedVenue | ShadowVenue):  # the fill model spends the shared cash
                    venue.set_cash_atoms(self.portfolio.cash_atoms(runner.symbol))
                close_ticks.append(runner.engine.advance(candle))
            if self.portfolio.open_positions():  # counted where PortfolioStepper counts it: fills booked
                self.state.equity.exposed_steps += 1
            risk.on_mark(ts, self.portfolio.equity, {self.symbols[j]: Decimal(repr(c.close)) for j, c in order})
            for runner, (_, candle), ticks in zip(runners, order, close_ticks, strict=True):
                runner.engine.decide_on(candle, ticks)
                if runner.protection is not None:
                    runner.protection.sync(runner.engine, candle)
        state = self.state
        state.candles_seen += len(order)
        if state.started_ts is None:
            state.started_ts = ts
            if self.duration_ms is not None:
                self.end_ms = ts + self.duration_ms
        state.mark_step(ts, self.portfolio)
        state.persist(ts)
        emit_equity_sample(self.events, self.clock_ms(), ts, self.portfolio, self.initial_cash,
                           [(runner, candle) for runner, (_, candle) in zip(runners, order, strict=True)])
        return self.end_ms is not None and ts + self.step_ms >= self.end_ms

    def start(self) -> None:
        """Nothing to schedule: the node awaits :meth:`run`."""

    async def stop(self) -> None:
        """The streams close with :meth:`run`."""


def step_order_items(symbols: list[str], bars: Mapping[str, Candle]) -> list[tuple[str, Candle]]:
    return [(symbols[j], candle) for j, candle in step_order(symbols, bars)]
