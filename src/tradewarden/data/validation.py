"""Row-level validation of candle columns and gap detection.

Checks are vectorised; only when one fails do we look at the offending rows, so a good year of 1-minute
candles validates in milliseconds. Every bad row is counted and the first few are named, so one run shows
what is wrong with a file instead of one row per attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tradewarden.domain.candles import TIMEFRAME_MS, FloatArray, IntArray

#: plausible open times in milliseconds since the epoch: 1973-03-03 .. year 5138. A value outside is
#: another unit (seconds below, micro- or nanoseconds above); each unit's plausible range is this one
#: scaled by 1000, so the order of magnitude tells which.
MS_MIN = 10**11
MS_MAX = 10**14

#: how many bad rows a message names (the rest are counted)
SHOWN = 5

#: rows checked at a time: the per-rule masks and temporaries of a block stay a few hundred kB (a
#: backtest's memory budget has no room for several whole-column copies of a year of minutes)
BLOCK = 1 << 16


@dataclass(frozen=True, slots=True)
class Problem:
    index: int  # row index into the columns
    message: str


@dataclass(frozen=True, slots=True)
class RowProblems:
    """The first bad rows (at most ``SHOWN``, in row order) and how many rows are bad in all."""

    shown: list[Problem]
    total: int

    def describe(self, line_of_index: int = 1, line_word: str = "line") -> str:
        """One line: the first problem, then the next ones by line number, then the count.

        ``line_of_index`` is the line number of row 0 (2 for a file with a header); the first problem is
        given without its line, which the caller puts in front (``file:line: problem``).
        """
        first, rest = self.shown[0], self.shown[1:]
        text = first.message
        if self.total > 1:
            listed = "; ".join(f"{line_word} {p.index + line_of_index}: {p.message}" for p in rest)
            more = self.total - len(self.shown)
            tail = f"{listed}; and {more} more" if more > 0 else listed
            text += f" [{self.total} bad rows in all: {tail}]"
        return text


def timeframe_of_step(step_ms: int) -> str:
    return next((name for name, ms in TIMEFRAME_MS.items() if ms == step_ms), f"{step_ms} ms")


def unit_hint(ts: int) -> str:
    """Why ``ts`` is not a plausible open time in milliseconds, naming the unit it looks like."""
    if MS_MIN / 1000 <= ts < MS_MIN:
        return "looks like seconds since the epoch, not milliseconds (multiply by 1000)"
    if MS_MAX <= ts < MS_MAX * 1000:
        return "looks like microseconds since the epoch, not milliseconds (divide by 1000)"
    if ts >= MS_MAX * 1000:
        return "looks like nanoseconds since the epoch, not milliseconds (divide by 1000000)"
    return f"is not a time in milliseconds since the epoch (expected {MS_MIN} .. {MS_MAX})"


def _rules(
    ts: IntArray, o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, step_ms: int | None
) -> list[tuple[np.ndarray, str]]:
    """(bad-row mask, message) per rule about one row alone, in the order a row's problem is named."""
    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(v)
    with np.errstate(invalid="ignore"):  # NaN compares False: reported as not finite above
        rules = [
            ((ts < MS_MIN) | (ts >= MS_MAX), "timestamp"),  # message made per row: see _describe
            (~finite, "a price or volume is not a finite number"),
            ((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "prices must be positive"),
            (lo > np.minimum(o, c), "low is above open or close"),
            (h < np.maximum(o, c), "high is below open or close"),
            (v < 0, "volume is negative"),
        ]
    if step_ms:
        rules.append((ts % step_ms != 0, f"timestamp is not aligned to the {timeframe_of_step(step_ms)} grid"))
    return rules


def bad_row_mask(
    ts: IntArray, o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, step_ms: int | None
) -> np.ndarray:
    """Rows that break a rule on their own (not counting duplicates or order)."""
    mask = np.zeros(len(ts), dtype=bool)
    for bad, _ in _rules(ts, o, h, lo, c, v, step_ms):
        mask |= bad
    return mask


def find_problems(
    ts: IntArray, o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, step_ms: int | None,
    limit: int = SHOWN,
) -> RowProblems | None:
    """Every bad row counted, the first ``limit`` described; ``None`` when every row is good.

    The rules run over ``BLOCK`` rows at a time: on a year of one-minute candles, whole-column masks and
    temporaries (a 4 MB difference or min/max per rule) added about 10 MB to a backtest's memory peak.
    """
    shown: list[Problem] = []
    total = 0
    for a in range(0, len(ts), BLOCK):
        b = min(a + BLOCK, len(ts))
        rules = _rules(ts[a:b], o[a:b], h[a:b], lo[a:b], c[a:b], v[a:b], step_ms)
        if len(ts) > 1:
            # each row against the one before it, across the block's start too
            d = np.diff(ts[max(a - 1, 0):b])
            duplicate, unsorted = d == 0, d < 0
            if a == 0:  # the first row has none before it
                duplicate, unsorted = np.concatenate(([False], duplicate)), np.concatenate(([False], unsorted))
            rules.append((duplicate, "duplicate timestamp"))
            rules.append((unsorted, "timestamps are not sorted ascending"))
        any_bad = np.zeros(b - a, dtype=bool)
        for bad, _ in rules:
            any_bad |= bad
        rows = np.flatnonzero(any_bad)
        total += int(rows.size)
        for k in (int(r) for r in rows[:limit - len(shown)]):
            message = next(m for bad, m in rules if bad[k])
            shown.append(Problem(a + k, _describe(message, a + k, ts, o, h, lo, c, v)))
    return RowProblems(shown, total) if total else None


def first_problem(
    ts: IntArray, o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, step_ms: int | None
) -> Problem | None:
    """The first row that breaks a rule, or ``None`` when every row is good."""
    found = find_problems(ts, o, h, lo, c, v, step_ms, limit=1)
    return found.shown[0] if found else None


def _describe(message: str, i: int, ts: IntArray, o: FloatArray, h: FloatArray, lo: FloatArray,
              c: FloatArray, v: FloatArray) -> str:
    t = int(ts[i])
    if message == "timestamp":
        return f"timestamp {t} {unit_hint(t)}"
    when = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (f"{message} (timestamp={t} [{when} UTC] open={o[i]:g} high={h[i]:g} low={lo[i]:g} "
            f"close={c[i]:g} volume={v[i]:g})")


def dominant_step(ts: IntArray) -> int | None:
    """The most common spacing between consecutive rows (ties: the larger), or ``None`` with < 2 times.

    The most common spacing, not the smallest: one stray row at :30 in an hourly file must be a bad row
    of an hourly file, not turn it into half-hourly data.
    """
    if len(ts) < 2:
        return None
    counts: dict[int, int] = {}
    for _, d in _diffs(ts):  # a block at a time: no whole-column difference, mask and sorted copy
        values, n = np.unique(d[d > 0], return_counts=True)
        for value, count in zip(values.tolist(), n.tolist(), strict=True):
            counts[value] = counts.get(value, 0) + count
    if not counts:
        return None
    most = max(counts.values())
    return max(value for value, count in counts.items() if count == most)


def _diffs(ts: IntArray) -> Iterator[tuple[int, IntArray]]:
    """``(a, ts[a + 1 : b + 1] - ts[a : b])`` over blocks of ``BLOCK`` differences, in order."""
    for a in range(0, len(ts) - 1, BLOCK):
        yield a, np.diff(ts[a:min(a + BLOCK, len(ts) - 1) + 1])


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles: ``count`` bars are absent between ``after_ts`` and ``before_ts``."""

    after_ts: int
    before_ts: int
    count: int


def find_gaps(ts: IntArray, step_ms: int) -> list[Gap]:
    if len(ts) < 2:
        return []
    gaps = []
    for a, d in _diffs(ts):
        gaps += [Gap(int(ts[a + i]), int(ts[a + i + 1]), int(d[i] // step_ms) - 1)
                 for i in np.flatnonzero(d > step_ms).tolist()]
    return gaps
