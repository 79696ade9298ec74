"""The bar aligner: per-symbol closed candles merged into time steps, as the portfolio backtest steps.

The pure core is driven with explicit "candle arrived" and "time is now" inputs; the async wrapper with
queue-fed streams and a fake clock. The simulator test is in test_align_sim.py.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from tradewarden.backtest.portfolio import Market, align
from tradewarden.data.align import BarAligner, LateBar, Step, aligned_steps
from tradewarden.domain.candles import Candle, CandleSeries
from tradewarden.domain.events import EventType, payload_problems
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy

H = 3_600_000


def bar(ts: int, close: float = 100.0) -> Candle:
    return Candle(ts, close, close + 1, close - 1, close, 1.0)


def steps_of(outputs: list[Any]) -> list[Step]:
    return [o for o in outputs if isinstance(o, Step)]


def test_a_step_is_emitted_when_the_last_symbol_delivers_its_bar() -> None:
    al = BarAligner(["A", "B", "C"], H, grace_ms=5_000)
    assert al.on_candle("B", bar(0)) == []
    assert al.on_candle("A", bar(0)) == []
    out = al.on_candle("C", bar(0))
    assert out == [Step(0, {"A": bar(0), "B": bar(0), "C": bar(0)})]
    assert list(steps_of(out)[0].bars) == ["A", "B", "C"]  # the aligner's symbol order, not the arrival order
    assert al.missing == {"A": 0, "B": 0, "C": 0}


def test_a_symbol_whose_stream_moved_past_the_bar_has_none_there_without_waiting_for_the_deadline() -> None:
    al = BarAligner(["A", "B"], H, grace_ms=5_000)
    assert al.on_candle("A", bar(0)) == []
    out = al.on_candle("B", bar(H))  # B has no bar at 0: its feed delivers in order, it never will
    assert out == [Step(0, {"A": bar(0)}, missing=("B",))]
    assert al.on_candle("A", bar(H)) == [Step(H, {"A": bar(H), "B": bar(H)})]
    assert al.missing == {"A": 0, "B": 1}


def test_the_grace_deadline_emits_the_step_without_the_silent_symbol_and_its_bar_then_is_late() -> None:
    al = BarAligner(["A", "B"], H, grace_ms=5_000)
    al.on_candle("A", bar(0))
    assert al.next_deadline() == H + 5_000
    assert al.on_time(H + 4_999) == []
    assert al.on_time(H + 5_000) == [Step(0, {"A": bar(0)}, missing=("B",))]
    assert al.next_deadline() is None
    assert al.on_candle("B", bar(0)) == [LateBar("B", bar(0), 0)]  # dropped, never traded out of order
    assert al.late == {"A": 0, "B": 1}
    assert al.on_candle("B", bar(H)) == []  # its next bar counts again
    assert al.on_candle("A", bar(H)) == [Step(H, {"A": bar(H), "B": bar(H)})]


def test_steps_come_out_in_time_order_and_stop_at_the_first_one_still_waiting() -> None:
    al = BarAligner(["A", "B"], H, grace_ms=0)
    for t in (0, H, 2 * H):
        assert al.on_candle("A", bar(t)) == []
    out = al.on_time(2 * H)  # the deadlines of 0 and H have passed, not that of 2H
    assert [(s.ts, s.missing) for s in steps_of(out)] == [(0, ("B",)), (H, ("B",))]
    assert al.on_candle("B", bar(2 * H)) == [Step(2 * H, {"A": bar(2 * H), "B": bar(2 * H)})]


def test_a_candle_repeated_or_out_of_its_stream_order_is_late() -> None:
    al = BarAligner(["A", "B"], H, grace_ms=0)
    al.on_candle("A", bar(H))
    assert al.on_candle("A", bar(H)) == [LateBar("A", bar(H), H)]
    assert al.on_candle("A", bar(0)) == [LateBar("A", bar(0), H)]
    assert al.late["A"] == 2 and al.pending == {H: {"A": bar(H)}}


def test_unknown_symbols_and_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="not one of the aligned symbols"):
        BarAligner(["A"], H, 0).on_candle("Z", bar(0))
    with pytest.raises(ValueError, match="distinct symbols"):
        BarAligner(["A", "A"], H, 0)
    with pytest.raises(ValueError, match="bad bar length"):
        BarAligner(["A"], 0, 0)


def _series(seed: int, n: int, drop: float) -> CandleSeries:
    rng = np.random.default_rng(seed)
    ts = np.arange(n, dtype=np.int64) * H
    ts = ts[rng.random(n) >= drop]  # bars missing here and there, also at the start and the end
    close = 100 + rng.standard_normal(len(ts)).cumsum()
    return CandleSeries(ts, close, close + 1, close - 1, close, np.ones(len(ts)), timeframe="1h")


@pytest.mark.parametrize("seed", range(6))
def test_any_arrival_interleaving_gives_the_backtest_time_axis_and_bars(seed: int) -> None:
    """Streams with gaps, their candles arriving in a random interleaving (each stream in its own order), the
    clock never reaching a deadline until the end: the steps are exactly the backtest's aligned steps."""
    rng = random.Random(seed)
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    series = [_series(seed * 10 + j, 60, drop=0.15) for j in range(3)]
    queues = [[(sym, s.candle(i)) for i in range(len(s))] for sym, s in zip(symbols, series, strict=True)]
    al = BarAligner(symbols, H, grace_ms=10_000)
    out: list[Any] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        out += al.on_candle(*q.pop(0))
    out += al.on_time(2**62)  # the streams ended: whatever waits is past its deadline
    assert not any(isinstance(o, LateBar) for o in out)
    inst = Instrument.default_spot()
    expected = align([Market(s, inst, load_strategy("sma_cross", {})) for s in series])
    steps = steps_of(out)
    assert [s.ts for s in steps] == expected.ts.tolist()
    for step, column in zip(steps, expected.index.T.tolist(), strict=True):
        assert step.bars == {sym: series[j].candle(i) for j, (sym, i) in enumerate(zip(symbols, column,
                                                                                        strict=True)) if i >= 0}


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[EventType, dict[str, Any]]] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        self.items.append((type_, fields))


async def _stream(queue: asyncio.Queue[Candle | Exception | None]) -> AsyncIterator[Candle]:
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, Exception):
            raise item
        yield item


class Harness:
    """Two queue-fed streams, a fake market clock, and the aligned steps collected in the background."""

    def __init__(self) -> None:
        self.now = 0
        self.q: dict[str, asyncio.Queue[Candle | Exception | None]] = {"A": asyncio.Queue(), "B": asyncio.Queue()}
        self.events = Events()
        self.steps: list[Step] = []
        self.error: BaseException | None = None
        gen = aligned_steps({s: _stream(q) for s, q in self.q.items()}, H, grace_s=5, clock_ms=lambda: self.now,
                            sink=self.events, timeframe="1h", max_wait_s=0.01)
        self.task = asyncio.create_task(self._collect(gen))

    async def _collect(self, gen: AsyncIterator[Step]) -> None:
        try:
            async for step in gen:
                self.steps.append(step)
        except Exception as exc:  # kept for the test to assert on
            self.error = exc

    async def until(self, n: int) -> None:
        while len(self.steps) < n and not self.task.done():
            await asyncio.sleep(0.005)


async def test_the_async_wrapper_emits_steps_reports_missing_and_late_bars_and_ends_with_its_streams() -> None:
    h = Harness()
    h.q["A"].put_nowait(bar(0))
    h.q["B"].put_nowait(bar(0))
    await h.until(1)
    h.q["A"].put_nowait(bar(H))
    await asyncio.sleep(0.05)
    assert len(h.steps) == 1  # B's bar at H may still come: the clock has not reached the deadline
    h.now = 2 * H + 5_000
    await h.until(2)
    h.q["B"].put_nowait(bar(H))  # after its step: late
    h.q["B"].put_nowait(bar(2 * H))
    h.q["A"].put_nowait(bar(2 * H))
    await h.until(3)
    h.q["A"].put_nowait(None)
    await asyncio.wait_for(h.task, 5)
    assert h.error is None
    assert [(s.ts, list(s.bars), s.missing) for s in h.steps] == \
        [(0, ["A", "B"], ()), (H, ["A"], ("B",)), (2 * H, ["A", "B"], ())]
    assert [t for t, _ in h.events.items] == [EventType.BARS_MISSING, EventType.BAR_LATE]
    assert h.events.items[0][1] == {"timeframe": "1h", "bar_ts": H, "symbols": ["B"], "present": 1}
    assert h.events.items[1][1] == {"symbol": "B", "timeframe": "1h", "bar_ts": H, "emitted_through": H}
    assert all(payload_problems(t, f) == [] for t, f in h.events.items)


async def test_a_stream_error_reaches_the_consumer() -> None:
    h = Harness()
    h.q["B"].put_nowait(RuntimeError("feed stopped: bad symbol"))
    await asyncio.wait_for(h.task, 5)
    assert isinstance(h.error, RuntimeError) and "bad symbol" in str(h.error)
