"""Row validation, the dominant spacing and the gap search run a block of rows at a time: they give what
the whole-column formulas give (bad rows on either side of a block edge included), and they hold no
whole-column temporary (a year of minutes is 4 MB per int64 or float64 column, and a backtest must stay
within its memory budget). Memory is measured with tracemalloc, which counts numpy's buffers: a byte
count, not a timing."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from tradewarden.data import validation
from tradewarden.data.validation import BLOCK, Gap, dominant_step, find_gaps, find_problems

MINUTE = 60_000
N = 525_600  # a year of one-minute candles


I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _columns(n: int) -> tuple[I64, F64, F64, F64, F64, F64]:
    ts = 1_672_531_200_000 + np.arange(n, dtype=np.int64) * MINUTE
    close = 30_000.0 + np.cumsum(np.random.default_rng(3).normal(0.0, 5.0, n))
    return ts, close.copy(), close + 10.0, close - 10.0, close.copy(), np.full(n, 2.5)


def _whole_column_problems(ts: I64, o: F64, h: F64, lo: F64, c: F64, v: F64,
                           step_ms: int | None) -> tuple[list[int], list[str], int]:
    """The reference: every rule over the whole columns at once, as the reader did before blocks."""
    rules = validation._rules(ts, o, h, lo, c, v, step_ms)
    d = np.diff(ts)
    rules.append((np.concatenate(([False], d == 0)), "duplicate timestamp"))
    rules.append((np.concatenate(([False], d < 0)), "timestamps are not sorted ascending"))
    bad = np.zeros(len(ts), dtype=bool)
    for mask, _ in rules:
        bad |= mask
    rows = np.flatnonzero(bad)
    return rows[:5].tolist(), [next(m for mask, m in rules if mask[i]) for i in rows[:5].tolist()], int(rows.size)


def test_bad_rows_at_block_edges_are_found_as_over_whole_columns() -> None:
    ts, o, h, lo, c, v = _columns(3 * BLOCK)
    ts[BLOCK] = ts[BLOCK - 1]            # a duplicate whose twin is the last row of the block before
    ts[2 * BLOCK] = ts[2 * BLOCK - 1] - MINUTE  # out of order across the second edge
    h[BLOCK - 1] = o[BLOCK - 1] - 1.0    # high below open on a block's last row
    v[BLOCK + 1] = -1.0
    lo[2 * BLOCK + 1] = np.nan
    ts[3 * BLOCK - 1] += 1               # off the grid on the very last row
    found = find_problems(ts, o, h, lo, c, v, MINUTE)
    rows, messages, total = _whole_column_problems(ts, o, h, lo, c, v, MINUTE)
    assert found is not None
    assert [p.index for p in found.shown] == rows == [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 1]
    assert [p.message.split(" (")[0] for p in found.shown] == [m.split(" (")[0] for m in messages]
    assert found.shown[1].message.startswith("duplicate timestamp")
    assert found.shown[3].message.startswith("timestamps are not sorted ascending")
    assert found.total == total == 6


def test_good_columns_have_no_problems() -> None:
    assert find_problems(*_columns(2 * BLOCK + 5), MINUTE) is None


def test_dominant_step_counts_every_block() -> None:
    # 2 * BLOCK - 1 spacings: one block of minutes, then one of two-minute steps with one more
    ts = np.concatenate((np.arange(BLOCK, dtype=np.int64) * MINUTE,
                         (BLOCK - 1) * MINUTE + np.arange(1, BLOCK + 2, dtype=np.int64) * 2 * MINUTE))
    assert dominant_step(ts) == 2 * MINUTE
    # a tie across blocks: the larger spacing
    tied = np.concatenate((np.arange(BLOCK + 1, dtype=np.int64) * MINUTE,
                           BLOCK * MINUTE + np.arange(1, BLOCK + 1, dtype=np.int64) * 3 * MINUTE))
    assert dominant_step(tied) == 3 * MINUTE
    assert dominant_step(np.zeros(2 * BLOCK, dtype=np.int64)) is None  # no positive spacing


def test_gaps_on_both_sides_of_a_block_edge() -> None:
    ts = np.arange(3 * BLOCK, dtype=np.int64) * MINUTE
    ts[BLOCK:] += 2 * MINUTE        # two bars missing between the last row of block 0 and the first of 1
    ts[BLOCK + 1:] += 5 * MINUTE    # five right after the edge
    ts[-1] += MINUTE                # one before the very last row
    assert find_gaps(ts, MINUTE) == [
        Gap(int(ts[BLOCK - 1]), int(ts[BLOCK]), 2),
        Gap(int(ts[BLOCK]), int(ts[BLOCK + 1]), 5),
        Gap(int(ts[-2]), int(ts[-1]), 1),
    ]


def _peak_in_columns(fn: Callable[[], object], column_bytes: int) -> float:
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / column_bytes


@pytest.mark.parametrize("check", ["find_problems", "dominant_step", "find_gaps"])
def test_no_whole_column_temporary(check: str) -> None:
    cols = _columns(N)
    ts = cols[0]
    run: dict[str, Callable[[], object]] = {
        "find_problems": lambda: find_problems(*cols, MINUTE),
        "dominant_step": lambda: dominant_step(ts),
        "find_gaps": lambda: find_gaps(ts, MINUTE),
    }
    # a block's temporaries are an eighth of a column each; over whole columns a difference of the
    # times alone was one column (find_problems held about three, dominant_step two)
    assert _peak_in_columns(run[check], ts.nbytes) < 0.75
