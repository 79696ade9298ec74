"""The simulator's market clock of the multi-symbol candle loop: a step waits ``grace`` wall seconds after its
first bar arrived, whatever newer bars other symbols deliver meanwhile."""

from __future__ import annotations

from tradewarden.data.align import BarAligner, Step
from tradewarden.domain.candles import Candle
from tradewarden.node.portfolio_loop import ArrivalClock

STEP = 300_000


def bar(ts: int) -> Candle:
    return Candle(ts, 1.0, 1.0, 1.0, 1.0, 1.0)


def test_a_newer_bar_of_one_symbol_does_not_release_a_step_another_symbol_is_still_delivering() -> None:
    wall = [100.0]
    aligner = BarAligner(["A", "B"], STEP, 5_000)
    clock = ArrivalClock(aligner, wall=lambda: wall[0])
    for candle in (bar(0), bar(STEP)):
        clock.saw(candle)
        assert aligner.on_candle("A", candle) == []
    wall[0] += 1.0  # one wall second later: inside the grace
    assert aligner.on_time(clock.now_ms()) == []
    clock.saw(bar(0))
    out = aligner.on_candle("B", bar(0))
    assert [o.ts for o in out if isinstance(o, Step)] == [0] and aligner.missing == {"A": 0, "B": 0}


def test_a_step_is_released_with_its_missing_symbol_once_the_grace_has_passed_in_wall_time() -> None:
    wall = [100.0]
    aligner = BarAligner(["A", "B"], STEP, 5_000)
    clock = ArrivalClock(aligner, wall=lambda: wall[0])
    clock.saw(bar(0))
    aligner.on_candle("A", bar(0))
    wall[0] += 5.5
    [step] = aligner.on_time(clock.now_ms())
    assert isinstance(step, Step) and step.missing == ("B",)
