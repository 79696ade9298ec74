"""Walk-forward windows and the final holdout, as pure functions of bar counts.

All positions are bar indices into the candle series, ranges half-open ``[start, end)``. The holdout is
carved off the end first; the search and its walk-forward windows only ever see the bars before it.

Rolling windows (the default): window ``k`` has in-sample ``[start + k*step, start + k*step + in_sample)``
and out-of-sample ``[is_end, is_end + out_of_sample)``. Anchored windows keep ``is_start = start`` and grow
the in-sample part instead. Only windows whose out-of-sample part fits entirely before ``end`` are made;
with ``step == out_of_sample`` (the default) the out-of-sample parts tile the search period without gaps or
overlap.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any


class WindowError(ValueError):
    """Window lengths that do not fit the data; the message says which and by how much."""


@dataclass(frozen=True)
class Window:
    index: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int

    @property
    def in_sample_bars(self) -> int:
        return self.is_end - self.is_start

    @property
    def out_of_sample_bars(self) -> int:
        return self.oos_end - self.oos_start


@dataclass(frozen=True)
class WindowPlan:
    """Where the search ends, where the holdout lies and the walk-forward windows inside the search."""

    total_bars: int
    search_end: int  # the search sees bars [0, search_end)
    windows: tuple[Window, ...]
    anchored: bool

    @property
    def holdout(self) -> tuple[int, int]:
        return self.search_end, self.total_bars

    def describe(self) -> dict[str, Any]:
        return {
            "total_bars": self.total_bars,
            "search_end": self.search_end,
            "anchored": self.anchored,
            "windows": [asdict(w) for w in self.windows],
        }


def split_holdout(total_bars: int, holdout_bars: int) -> int:
    """The index where the holdout starts (the search sees bars before it)."""
    if total_bars <= 0:
        raise WindowError("no candles to split")
    if not 0 < holdout_bars < total_bars:
        raise WindowError(
            f"holdout of {holdout_bars} bars must be at least 1 bar and leave bars to search "
            f"({total_bars} bars in total)"
        )
    return total_bars - holdout_bars


def walk_forward_windows(
    start: int, end: int, in_sample: int, out_of_sample: int, step: int | None = None, anchored: bool = False
) -> list[Window]:
    """Every walk-forward window in ``[start, end)`` (see the module docstring)."""
    step = out_of_sample if step is None else step
    if in_sample < 1 or out_of_sample < 1 or step < 1:
        raise WindowError(
            f"window lengths must be at least 1 bar (in-sample {in_sample}, out-of-sample "
            f"{out_of_sample}, step {step})"
        )
    windows: list[Window] = []
    k = 0
    while True:
        is_start = start if anchored else start + k * step
        is_end = start + in_sample + k * step
        oos_end = is_end + out_of_sample
        if oos_end > end:
            break
        windows.append(Window(k, is_start, is_end, is_end, oos_end))
        k += 1
    if not windows:
        raise WindowError(
            f"in-sample {in_sample} + out-of-sample {out_of_sample} bars do not fit in the "
            f"{end - start} bars before the holdout; shorten them or use more data"
        )
    return windows


def default_lengths(search_bars: int, windows: int, in_sample_ratio: int = 2) -> tuple[int, int]:
    """(in_sample, out_of_sample) bars giving exactly ``windows`` rolling windows with in-sample parts
    ``in_sample_ratio`` times the out-of-sample parts and out-of-sample parts tiling the search period."""
    if windows < 1:
        raise WindowError(f"need at least one walk-forward window, got {windows}")
    oos = search_bars // (in_sample_ratio + windows)
    if oos < 1:
        raise WindowError(f"{search_bars} bars are too few for {windows} walk-forward windows")
    return in_sample_ratio * oos, oos


def plan_windows(
    total_bars: int,
    holdout_bars: int,
    in_sample: int | None,
    out_of_sample: int | None,
    step: int | None = None,
    anchored: bool = False,
    windows: int = 5,
) -> WindowPlan:
    """The holdout split plus the walk-forward windows; missing lengths come from :func:`default_lengths`."""
    search_end = split_holdout(total_bars, holdout_bars)
    if in_sample is None or out_of_sample is None:
        d_is, d_oos = default_lengths(search_end, windows)
        in_sample = d_is if in_sample is None else in_sample
        out_of_sample = d_oos if out_of_sample is None else out_of_sample
    found = walk_forward_windows(0, search_end, in_sample, out_of_sample, step, anchored)
    return WindowPlan(total_bars, search_end, tuple(found), anchored)


_LENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|bars?|m|h|d|w)?\s*$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_length(text: str, timeframe_ms: int, total_bars: int, what: str) -> int:
    """Bars for a length written as ``500`` / ``500bars`` (bars), ``90d``, ``12h``, ``4w``, ``30m`` (time,
    whole bars of the timeframe) or ``20%`` (of ``total_bars``)."""
    match = _LENGTH.match(text)
    if not match:
        raise WindowError(
            f"{what}: cannot read {text!r}; use bars (500), a duration (90d, 12h, 4w) or a percentage (20%)"
        )
    number, unit = float(match.group(1)), match.group(2) or "bars"
    if unit == "%":
        if not 0 < number < 100:
            raise WindowError(f"{what}: {text!r} must be between 0% and 100%")
        bars = int(total_bars * number / 100)
    elif unit in _UNIT_MS:
        span = number * _UNIT_MS[unit]
        bars = int(span // timeframe_ms)
        if span % timeframe_ms:
            raise WindowError(
                f"{what}: {text!r} is not a whole number of {timeframe_ms // 60_000}-minute bars"
            )
    else:
        if not number.is_integer():
            raise WindowError(f"{what}: {text!r} must be a whole number of bars")
        bars = int(number)
    if bars < 1:
        raise WindowError(f"{what}: {text!r} is less than one bar")
    return bars
