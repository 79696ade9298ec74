"""Fast CSV formatting of the per-bar equity curve (one row per bar, so 525,600 rows for a year of minutes).

pyarrow's CSV writer needs about 60 ms per float column of that size on the reference machine, more than
the whole report budget; this compiled formatter writes the same numbers (fixed decimals, trailing zeros
dropped) in a reused buffer chunk by chunk, so the cost is little more than the file write itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from tradewarden.private_files import open_private, write_private

# "00".."99" as bytes: two digits per division.
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype=np.uint8).copy()
_POW10 = np.array([10**i for i in range(20)], dtype=np.uint64)
_ROW_BYTES = 96          # upper bound: 20-digit ms + two 30-byte numbers + separators
_CHUNK_ROWS = 16_384     # buffer stays in cache and is reused; no 30 MB allocation
# A double holds ~15.9 significant digits; more decimals than that would print noise.
_SIGNIFICANT = 15
_LARGEST = 1e18          # |value| * 10**decimals must fit a uint64, else the (slow) Python path


@njit(cache=True, inline="always")
def _digit_count(v: Any) -> Any:
    n = 1
    while n < 20 and v >= _POW10[n]:
        n += 1
    return n


@njit(cache=True, inline="always")
def _put_digits(buf: Any, end: Any, v: Any, n: Any) -> None:
    """Write exactly ``n`` digits of ``v`` (leading zeros included) so that the last one is at ``end - 1``."""
    p = end
    while n >= 2:
        q = v // np.uint64(100)
        r = v - q * np.uint64(100)
        p -= 2
        buf[p] = _PAIRS[2 * r]
        buf[p + 1] = _PAIRS[2 * r + 1]
        v = q
        n -= 2
    if n == 1:
        buf[p - 1] = np.uint8(48) + np.uint8(v % np.uint64(10))


@njit(cache=True, inline="always")
def _put_uint(buf: Any, pos: Any, v: Any) -> Any:
    n = _digit_count(v)
    _put_digits(buf, pos + n, v, n)
    return pos + n


@njit(cache=True, inline="always")
def _put_fixed(buf: Any, pos: Any, x: Any, scale: Any, decimals: Any) -> Any:
    """``x`` rounded to ``decimals`` places, trailing zeros (and a bare point) dropped, no exponent."""
    r = np.rint(x * scale)
    if r < 0:
        buf[pos] = 45  # '-'
        pos += 1
        r = -r
    v = np.uint64(r)
    s = np.uint64(scale)
    whole = v // s
    frac = v - whole * s
    pos = _put_uint(buf, pos, whole)
    if frac != 0:
        buf[pos] = 46  # '.'
        pos += 1
        d = decimals
        while frac % np.uint64(10) == 0:
            frac //= np.uint64(10)
            d -= 1
        _put_digits(buf, pos + d, frac, d)
        pos += d
    return pos


@njit(cache=True, nogil=True)   # nogil: a caller may format in a thread while Python builds the HTML
def _format_rows(ts: Any, a: Any, a_decimals: Any, b: Any, b_decimals: Any, start: Any, stop: Any,
                 buf: Any) -> Any:
    """Rows ``start..stop-1`` as ``ts,a,b\\n`` into ``buf``; returns the number of bytes written."""
    sa = 10.0**a_decimals
    sb = 10.0**b_decimals
    million = np.uint64(1_000_000)
    # Consecutive bar times share all but their last few digits: format the shared head once.
    head = np.zeros(20, dtype=np.uint8)
    head_len = 0
    head_value = np.uint64(0)
    pos = 0
    for i in range(start, stop):
        t = np.uint64(ts[i])
        high = t // million
        if high == 0:
            pos = _put_uint(buf, pos, t)
        else:
            if high != head_value or head_len == 0:
                head_value = high
                head_len = _put_uint(head, 0, high)
            for k in range(head_len):
                buf[pos + k] = head[k]
            pos += head_len
            _put_digits(buf, pos + 6, t - high * million, 6)
            pos += 6
        buf[pos] = 44  # ','
        pos = _put_fixed(buf, pos + 1, a[i], sa, a_decimals)
        buf[pos] = 44
        pos = _put_fixed(buf, pos + 1, b[i], sb, b_decimals)
        buf[pos] = 10  # '\\n'
        pos += 1
    return pos


def decimals_for(values: npt.NDArray[np.float64], wanted: int) -> int:
    """``wanted`` decimals, fewer if the largest magnitude would leave them below float precision."""
    biggest = float(np.abs(values).max()) if values.size else 0.0
    whole_digits = len(str(int(biggest)))   # exact, unlike log10 just below a power of ten
    return max(0, min(wanted, _SIGNIFICANT - whole_digits))


def write_columns_csv(path: Path, header: tuple[str, str, str], ts: npt.NDArray[np.int64],
                      a: npt.NDArray[np.float64], a_decimals: int, b: npt.NDArray[np.float64],
                      b_decimals: int) -> None:
    """Write ``header`` and one ``ts,a,b`` row per element; ``ts`` as integers, ``a``/``b`` as decimals.

    A column gets ``*_decimals`` places, fewer when its largest value leaves less float precision
    (see ``decimals_for``), so no row prints digits that are only binary noise.
    """
    n = ts.shape[0]
    if not (a.shape[0] == b.shape[0] == n):
        raise ValueError(f"{path.name}: columns differ in length ({n}, {a.shape[0]}, {b.shape[0]})")
    if n and int(ts.min()) < 0:
        raise ValueError(f"{path.name}: negative timestamp {int(ts.min())}")
    for name, col in ((header[1], a), (header[2], b)):
        if n and not np.isfinite(col).all():
            bad = int(np.flatnonzero(~np.isfinite(col))[0])
            raise ValueError(f"{path.name}: {name} at row {bad} (ts {int(ts[bad])}) is {col[bad]}, "
                             "not a finite number")
    a_decimals, b_decimals = decimals_for(a, a_decimals), decimals_for(b, b_decimals)
    if n and max(float(np.abs(a).max()), float(np.abs(b).max())) >= _LARGEST:
        # Absurd magnitudes (a drawdown against a peak of 1e-70...): correct but slow.
        _write_with_python(path, header, ts, a, a_decimals, b, b_decimals)
        return
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    buf = np.empty(min(n, _CHUNK_ROWS) * _ROW_BYTES + 1, dtype=np.uint8)
    view = memoryview(buf)  # type: ignore[arg-type]
    with open_private(path, append=False) as out:
        out.write((",".join(header) + "\n").encode())
        for start in range(0, n, _CHUNK_ROWS):
            used = _format_rows(ts, a, a_decimals, b, b_decimals, start, min(n, start + _CHUNK_ROWS), buf)
            out.write(view[:used])


def _write_with_python(path: Path, header: tuple[str, str, str], ts: npt.NDArray[np.int64],
                       a: npt.NDArray[np.float64], a_decimals: int, b: npt.NDArray[np.float64],
                       b_decimals: int) -> None:
    def fixed(x: float, decimals: int) -> str:
        text = f"{x:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text == "-0" else text

    lines = [",".join(header)]
    lines.extend(f"{t},{fixed(x, a_decimals)},{fixed(y, b_decimals)}"
                 for t, x, y in zip(ts.tolist(), a.tolist(), b.tolist(), strict=True))
    write_private(path, "\n".join(lines) + "\n")  # ASCII: digits, signs and points
