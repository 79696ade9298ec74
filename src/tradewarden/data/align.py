"""Bars of many symbols, aligned by open time: the live counterpart of the portfolio backtest's time axis.

A multi-symbol session follows one stream of closed candles per symbol (the feed yields each in order, once).
The portfolio must act on time steps as the backtest does (:func:`tradewarden.backtest.portfolio.align`): at
open time ``T``, every symbol with a bar at ``T`` fills first, then the equity is marked, then each decides. So
the streams are merged into steps ``(T, {symbol: candle})``, in time order, each emitted once, when:

* every symbol has delivered a bar at ``T`` or a later one (a symbol whose stream skipped ``T`` has no bar
  there: the feed delivers in order and backfills, so it never will), or
* the grace deadline has passed: ``T`` + one bar (the close) + ``grace_ms`` on the market's clock. The
  symbols still missing are missing for that step (:class:`Step.missing`, ``BarsMissing``); a bar is never
  made up for them.

A candle for a step already emitted is late: reported (:class:`LateBar`, ``BarLate``) and dropped, never
traded out of order. The end or error of any stream ends the merged stream (the error is raised to the
consumer).

:class:`BarAligner` is the pure state machine (inputs "candle arrived" and "time is now", outputs the steps to
emit); :func:`aligned_steps` runs it over async streams with a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink


@dataclass(frozen=True)
class Step:
    """One time step: the bars of the symbols that have one at ``ts``, in the aligner's symbol order."""

    ts: int
    bars: Mapping[str, Candle]
    missing: tuple[str, ...] = ()  # symbols without a bar here when the step was emitted (grace passed)


@dataclass(frozen=True)
class LateBar:
    """A candle that arrived after its step was emitted (or out of its stream's order): dropped."""

    symbol: str
    candle: Candle
    emitted_through: int  # the newest open time already emitted, or already delivered by its stream


Output = Step | LateBar


@dataclass
class BarAligner:
    """Merge per-symbol closed candles into time steps (pure: no clock, no I/O).

    ``on_candle`` and ``on_time`` return what is to be emitted, in order. ``missing`` and ``late`` count per
    symbol the steps it missed and the candles dropped.
    """

    symbols: Sequence[str]
    step_ms: int
    grace_ms: int
    pending: dict[int, dict[str, Candle]] = field(default_factory=dict)
    last_ts: dict[str, int] = field(default_factory=dict)   # per symbol: the newest bar it delivered
    emitted_through: int | None = None                      # the open time of the last step emitted
    missing: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols) or not self.symbols:
            raise ValueError(f"the aligner needs distinct symbols, got {list(self.symbols)}")
        if self.step_ms <= 0 or self.grace_ms < 0:
            raise ValueError(f"bad bar length {self.step_ms} ms or grace {self.grace_ms} ms")
        self.missing = dict.fromkeys(self.symbols, 0)
        self.late = dict.fromkeys(self.symbols, 0)

    def deadline(self, ts: int) -> int:
        """When a step at open time ``ts`` is emitted whatever is missing: its close plus the grace."""
        return ts + self.step_ms + self.grace_ms

    def next_deadline(self) -> int | None:
        return self.deadline(min(self.pending)) if self.pending else None

    def on_candle(self, symbol: str, candle: Candle) -> list[Output]:
        if symbol not in self.missing:
            raise ValueError(f"{symbol} is not one of the aligned symbols {list(self.symbols)}")
        known = [t for t in (self.emitted_through, self.last_ts.get(symbol)) if t is not None]
        if known and candle.ts <= max(known):
            self.late[symbol] += 1
            return [LateBar(symbol, candle, max(known))]
        self.last_ts[symbol] = candle.ts
        self.pending.setdefault(candle.ts, {})[symbol] = candle
        return self._release(None)

    def on_time(self, now_ms: int) -> list[Output]:
        return self._release(now_ms)

    def _release(self, now_ms: int | None) -> list[Output]:
        """Emit, oldest first, every step that is complete or past its deadline; stop at the first that is
        neither (a later step never overtakes an earlier one)."""
        out: list[Output] = []
        while self.pending:
            ts = min(self.pending)
            complete = all(self.last_ts.get(s, ts - 1) >= ts for s in self.symbols)
            if not complete and (now_ms is None or now_ms < self.deadline(ts)):
                break
            got = self.pending.pop(ts)
            bars = {s: got[s] for s in self.symbols if s in got}
            missing = tuple(s for s in self.symbols if s not in got)
            for s in missing:
                self.missing[s] += 1
            self.emitted_through = ts
            out.append(Step(ts, bars, missing))
        return out


def _wall_ms() -> int:
    return int(time.time() * 1000)


_END = object()


async def aligned_steps(streams: Mapping[str, AsyncIterator[Candle]], step_ms: int, *, grace_s: float = 5.0,
                        clock_ms: Callable[[], int] = _wall_ms, sink: EventSink | None = None,
                        timeframe: str = "", max_wait_s: float = 1.0,
                        aligner: BarAligner | None = None) -> AsyncIterator[Step]:
    """Steps from one closed-candle stream per symbol (symbol order = the mapping's order).

    ``clock_ms`` is the market's clock (the exchange's, or the simulator's); it is read at least every
    ``max_wait_s`` while a step waits for its deadline, so a clock that jumps is seen. Missing and late bars
    are emitted to ``sink`` as ``BarsMissing`` and ``BarLate``. Any stream's end ends the steps (after what is
    complete); its error is raised here.
    """
    core = aligner or BarAligner(list(streams), step_ms, int(grace_s * 1000))
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()

    async def pump(symbol: str, stream: AsyncIterator[Candle]) -> None:
        try:
            async for candle in stream:
                queue.put_nowait((symbol, candle))
        except Exception as exc:  # handed to the consumer, which raises it
            queue.put_nowait((symbol, exc))
            return
        queue.put_nowait((symbol, _END))

    pumps = [asyncio.create_task(pump(s, it), name=f"align-{s}") for s, it in streams.items()]
    try:
        while True:
            due = core.next_deadline()
            wait = max_wait_s if due is None else min(max_wait_s, max(0.0, (due - clock_ms()) / 1000))
            outputs: list[Output] = []
            try:
                symbol, item = await asyncio.wait_for(queue.get(), timeout=wait) if wait > 0 \
                    else queue.get_nowait()
            except (TimeoutError, asyncio.QueueEmpty):
                pass
            else:
                if isinstance(item, Exception):
                    raise item
                if item is _END:
                    return
                assert isinstance(item, Candle)
                outputs = core.on_candle(symbol, item)
            outputs += core.on_time(clock_ms())  # a deadline may pass while candles keep arriving
            for out in outputs:
                if isinstance(out, LateBar):
                    _report_late(sink, out, timeframe, clock_ms())
                    continue
                if out.missing:
                    _report_missing(sink, out, timeframe, clock_ms())
                yield out
    finally:
        for task in pumps:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _report_missing(sink: EventSink | None, step: Step, timeframe: str, now: int) -> None:
    if sink is not None:
        sink.emit(EventType.BARS_MISSING, now, timeframe=timeframe, bar_ts=step.ts, symbols=list(step.missing),
                  present=len(step.bars))


def _report_late(sink: EventSink | None, late: LateBar, timeframe: str, now: int) -> None:
    if sink is not None:
        sink.emit(EventType.BAR_LATE, now, symbol=late.symbol, timeframe=timeframe, bar_ts=late.candle.ts,
                  emitted_through=late.emitted_through)
