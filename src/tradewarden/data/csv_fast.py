"""A lean reader for candle CSVs in their plain form: the common case without pyarrow.

pyarrow's CSV reader is fast, but loading it costs about 50 MB of memory and its parse of a year of
one-minute candles holds about three times the data while it works; a backtest's whole budget is 250 MB.
This compiled reader streams the file in 4 MB pieces straight into the six columns. It accepts only the
plain form (``digits`` for the time; ``[-]digits[.digits]`` for prices and volume; no quotes, blanks or
exponents; every row with the file's column count; CRLF or LF) and gives up on anything else, so the
caller falls back to pyarrow, which then parses or names the bad line. Numbers are exact: a decimal with at
most 15 significant digits and 22 decimals is ``mantissa / 10**decimals`` of two exact doubles, which IEEE
division rounds correctly, so every value is the double pyarrow (or ``float()``) would give.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

_Columns = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64],
                 npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]
CHUNK = 4 << 20
_SAMPLE = 1 << 16
_POW10 = np.array([10.0**k for k in range(23)])
_MAX_MANTISSA = 1 << 53
_MAX_TS_DIGITS = 18         # stays far inside int64

# parse_chunk status
_OK, _NOT_PLAIN = 0, 1


@njit(cache=True, nogil=True)
def _parse_chunk(buf: Any, size: Any, final: Any, ncols: Any, ts: Any, cols: Any, row: Any) -> Any:
    """Parse the whole lines of ``buf[:size]`` (and the last partial one when ``final``) into ``ts`` and
    the five arrays of the tuple ``cols`` from ``row`` on. Returns (status, rows parsed up to, bytes
    consumed)."""
    pos = 0
    capacity = ts.shape[0]
    while pos < size:
        # find the end of this line first: a partial line waits for the next chunk
        end = pos
        while end < size and buf[end] != 10:
            end += 1
        if end == size and not final:
            break
        stop = end
        if stop > pos and buf[stop - 1] == 13:  # CRLF
            stop -= 1
        if stop == pos:  # an empty line: pyarrow skips them too
            pos = end + 1
            continue
        if row >= capacity:
            return _NOT_PLAIN, row, pos  # more rows than the caller guessed: it grows the columns
        p = pos
        # the time: plain digits
        t = 0
        digits = 0
        while p < stop and 48 <= buf[p] <= 57:
            t = t * 10 + (buf[p] - 48)
            digits += 1
            p += 1
        if digits == 0 or digits > _MAX_TS_DIGITS or p >= stop or buf[p] != 44:
            return _NOT_PLAIN, row, pos
        ts[row] = t
        for c in range(5):
            p += 1  # the comma before this cell
            negative = False
            if p < stop and buf[p] == 45:
                negative = True
                p += 1
            m = 0
            significant = 0
            whole = 0
            while p < stop and 48 <= buf[p] <= 57:
                m = m * 10 + (buf[p] - 48)
                if m > 0:
                    significant += 1
                whole += 1
                p += 1
            decimals = 0
            if p < stop and buf[p] == 46:
                p += 1
                while p < stop and 48 <= buf[p] <= 57:
                    m = m * 10 + (buf[p] - 48)
                    if m > 0:
                        significant += 1
                    decimals += 1
                    p += 1
                if decimals == 0:
                    return _NOT_PLAIN, row, pos
            if whole == 0 or significant > 15 or decimals > 22 or m >= _MAX_MANTISSA:
                return _NOT_PLAIN, row, pos
            value = m / _POW10[decimals]
            cols[c][row] = -value if negative else value
            if c < 4 and (p >= stop or buf[p] != 44):
                return _NOT_PLAIN, row, pos
        # further columns (Binance klines have 12): skipped, but their count must match
        extra = 0
        while p < stop:
            if buf[p] == 44:
                extra += 1
            elif buf[p] == 34:  # a quote: leave quoting rules to pyarrow
                return _NOT_PLAIN, row, pos
            p += 1
        if extra != ncols - 6:
            return _NOT_PLAIN, row, pos
        row += 1
        pos = end + 1
    return _OK, row, min(pos, size)


def parse_plain_csv(source: Path | io.BytesIO, has_header: bool, ncols: int) -> _Columns | None:
    """(ts, open, high, low, close, volume) of a plain candle CSV, or None when it is not plain (or not
    what this reader can vouch for) and pyarrow must read it."""
    if ncols < 6:
        return None
    size = source.stat().st_size if isinstance(source, Path) else source.getbuffer().nbytes
    # a BytesIO stays open and is rewound: the caller hands it to pyarrow when this reader gives up
    with source.open("rb") if isinstance(source, Path) else contextlib.nullcontext(source) as handle:
        try:
            return _parse_stream(handle, size, has_header, ncols)
        finally:
            if not isinstance(source, Path):
                source.seek(0)


def _parse_stream(handle: io.BufferedIOBase, size: int, has_header: bool, ncols: int) -> _Columns | None:
    buf = np.empty(CHUNK, dtype=np.uint8)
    view = memoryview(buf)  # type: ignore[arg-type]
    got = handle.readinto(view)
    start = 0
    if has_header:
        start = bytes(view[:_SAMPLE]).find(b"\n") + 1
        if start == 0:
            return None
    # Rows guessed from the line length of a sample, with room to spare: pages of the columns that are
    # never written are never given memory, and a wrong guess only costs a copy.
    sample = min(got - start, _SAMPLE)
    lines = max(1, bytes(view[start:start + sample]).count(b"\n"))
    rows = int((size - start) / max(1.0, sample / lines) * 1.05) + 1024
    ts = np.empty(rows, dtype=np.int64)
    # one array per column, not rows of one block: a caller done with some columns (a backtest's reports
    # read the closes only) can let those go
    cols = tuple(np.empty(rows, dtype=np.float64) for _ in range(5))
    total = got - start
    buf[:total] = buf[start:got]
    final = False  # known only when a read returns nothing
    row = 0
    while True:
        status, row, used = _parse_chunk(buf, total, final, ncols, ts, cols, row)
        if status != _OK and row < ts.shape[0]:
            return None
        held = total - used
        buf[:held] = buf[used:total]
        total = held
        if status != _OK:  # the guess of rows was short: grow the columns, parse on
            ts, cols = _grow(ts, cols)
            continue
        if final:
            break
        if held == CHUNK:
            return None  # a line longer than a whole chunk is no candle row
        more = handle.readinto(view[held:])
        final = more == 0
        total += more
    return ts[:row], cols[0][:row], cols[1][:row], cols[2][:row], cols[3][:row], cols[4][:row]


def _grow(ts: npt.NDArray[np.int64], cols: tuple[npt.NDArray[np.float64], ...],
          ) -> tuple[npt.NDArray[np.int64], tuple[npt.NDArray[np.float64], ...]]:
    rows = ts.shape[0] * 2
    bigger_ts = np.empty(rows, dtype=np.int64)
    bigger_ts[: ts.shape[0]] = ts
    bigger = tuple(np.empty(rows, dtype=np.float64) for _ in cols)
    for old, new in zip(cols, bigger, strict=True):
        new[: old.shape[0]] = old
    return bigger_ts, bigger
