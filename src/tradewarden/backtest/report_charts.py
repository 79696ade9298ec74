"""Inline SVG charts for the HTML report: no script, no font or file to fetch, readable offline.

Long series are cut to at most two points per horizontal pixel (the minimum and the maximum of each
bucket, in time order), which draws exactly the same envelope as the full series. Trade markers are all
drawn when there are few; when there are many, markers that would land on the same pixel are merged and
the rest capped at ``MAX_MARKERS``, with a caption saying how many are shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from html import escape

import numpy as np
import numpy.typing as npt

from tradewarden.domain.trades import Trade

WIDTH = 1200                 # SVG user units; the SVG scales to the page width
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 78, 16, 22, 26
MAX_MARKERS = 2000           # entry + exit markers drawn at most (after merging same-pixel ones)
ALL_MARKERS_UP_TO = 500      # with at most this many trades every marker is drawn, none merged
_DRAWABLE = 1e300

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def minmax_indices(n: int, values: FloatArray, buckets: int) -> IntArray:
    """Indices of the min and max of each of ``buckets`` equal runs of ``values``, in time order.

    The first and last index are always kept so the line spans the whole range.
    """
    if n <= 2 * buckets:
        return np.arange(n, dtype=np.int64)
    size = math.ceil(n / buckets)
    rows = math.ceil(n / size)
    full = n // size
    # The whole runs as a view of ``values`` (no padded copy of a per-bar series); the short last run apart.
    grid = np.ascontiguousarray(values[: full * size]).reshape(full, size)
    lo = np.arange(full, dtype=np.int64) * size
    hi = lo + grid.argmax(axis=1)
    lo += grid.argmin(axis=1)
    if rows > full:
        tail = values[full * size:]
        lo = np.append(lo, full * size + int(tail.argmin()))
        hi = np.append(hi, full * size + int(tail.argmax()))
    idx = np.sort(np.stack([lo, hi], axis=1), axis=1).ravel()
    idx = np.minimum(idx, n - 1)
    idx = np.concatenate([[0], idx, [n - 1]])
    keep = np.ones(idx.size, dtype=bool)
    keep[1:] = idx[1:] != idx[:-1]
    return idx[keep]


@dataclass(frozen=True)
class Frame:
    """Maps time (ms) and value to SVG coordinates for one chart."""

    t0: int
    t1: int
    lo: float
    hi: float
    height: int

    @property
    def left(self) -> float:
        return MARGIN_LEFT

    @property
    def right(self) -> float:
        return WIDTH - MARGIN_RIGHT

    @property
    def top(self) -> float:
        return MARGIN_TOP

    @property
    def bottom(self) -> float:
        return self.height - MARGIN_BOTTOM

    def x(self, t: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> FloatArray:
        span = max(self.t1 - self.t0, 1)
        return self.left + (np.asarray(t, dtype=np.float64) - self.t0) / span * (self.right - self.left)

    def y(self, v: FloatArray) -> FloatArray:
        span = self.hi - self.lo or 1.0
        return self.bottom - (np.asarray(v, dtype=np.float64) - self.lo) / span * (self.bottom - self.top)


def padded_range(lo: float, hi: float) -> tuple[float, float]:
    if hi <= lo:
        pad = abs(lo) * 0.01 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round values (1, 2, 5 x 10^k steps) inside [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    count = int((hi - first) / step) + 1
    return [first + i * step for i in range(max(count, 0))]


_TIME_STEPS_MS = [60_000 * m for m in (1, 5, 15, 30, 60, 120, 360, 720, 1440, 2880, 10080, 20160)]


def time_ticks(t0: int, t1: int, target: int = 8) -> list[tuple[int, str]]:
    """Tick positions (ms) and labels: fixed steps up to two weeks, then whole months."""
    span = max(t1 - t0, 1)
    for step in _TIME_STEPS_MS:
        if span / step <= target:
            first = -(-t0 // step) * step
            fmt = "%Y-%m-%d" if step >= 86_400_000 else "%m-%d %H:%M"
            return [(t, _fmt_ms(t, fmt)) for t in range(first, t1 + 1, step)]
    months = next((m for m in (1, 2, 3, 6, 12, 24, 60, 120) if span / (m * 30.4 * 86_400_000) <= target), 240)
    start = datetime.fromtimestamp(t0 / 1000, tz=UTC)
    year, month = start.year, start.month
    ticks: list[tuple[int, str]] = []
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (year * 12 + month - 1) % months:
            continue
        ms = int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
        if ms > t1:
            return ticks
        ticks.append((ms, f"{year}" if months >= 12 else f"{year}-{month:02d}"))


def _fmt_ms(ms: int, fmt: str) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(fmt)


def _fmt_value(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.4g}"


def _points(xs: FloatArray, ys: FloatArray) -> str:
    # One %-format over the whole tuple runs in C: ~5x faster than an f-string per point.
    flat = np.column_stack([xs, ys]).ravel().tolist()
    return ("%.1f,%.1f " * xs.size % tuple(flat)).rstrip()


def axes(frame: Frame, unit: str) -> list[str]:
    """Grid lines and labels for both axes."""
    out: list[str] = []
    for v in nice_ticks(frame.lo, frame.hi):
        y = float(frame.y(np.array([v]))[0])
        out.append(f'<line class="grid" x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="ylab" x="{frame.left - 6}" y="{y + 4:.1f}">{escape(_fmt_value(v))}</text>')
    for t, label in time_ticks(frame.t0, frame.t1):
        x = float(frame.x(np.array([t]))[0])
        # Labels at the very edges are anchored inwards so that none is cut off.
        anchor = ' style="text-anchor:end"' if x > frame.right - 40 else (
            ' style="text-anchor:start"' if x < frame.left + 40 else "")
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{frame.bottom}"/>'
                   f'<text class="xlab" x="{x:.1f}" y="{frame.bottom + 17}"{anchor}>{escape(label)}</text>')
    out.append(f'<rect class="frame" x="{frame.left}" y="{frame.top}" width="{frame.right - frame.left}" '
               f'height="{frame.bottom - frame.top}"/>')
    if unit:
        out.append(f'<text class="unit" x="{frame.left}" y="{frame.top - 7}">{escape(unit)}</text>')
    return out


def svg(height: int, body: list[str], label: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
            f'preserveAspectRatio="xMidYMid meet">{"".join(body)}</svg>')


def line_chart(ts: IntArray, values: FloatArray, t_end: int, height: int, unit: str, label: str,
               css: str, baseline: float | None = None, fill_to: float | None = None,
               extra_range: tuple[float, float] | None = None) -> tuple[str, Frame]:
    """A downsampled line (optionally filled down/up to ``fill_to``) with axes; returns the SVG and frame."""
    # Keeps the scale arithmetic finite even for absurd values (a drawdown against a peak of 1e-300).
    # A copy only when some value needs it: a per-bar series is 4 MB a year of minutes.
    if not (float(values.min()) >= -_DRAWABLE and float(values.max()) <= _DRAWABLE):
        values = np.clip(values, -_DRAWABLE, _DRAWABLE)
    n = values.size
    idx = minmax_indices(n, values, int(WIDTH - MARGIN_LEFT - MARGIN_RIGHT))
    lo, hi = float(values.min()), float(values.max())
    for extra in (baseline, fill_to):
        if extra is not None:
            lo, hi = min(lo, extra), max(hi, extra)
    if extra_range is not None:
        lo, hi = min(lo, extra_range[0]), max(hi, extra_range[1])
    frame = Frame(int(ts[0]), t_end, *padded_range(lo, hi), height)
    xs, ys = frame.x(ts[idx]), frame.y(values[idx])
    body = axes(frame, unit)
    if baseline is not None:
        yb = float(frame.y(np.array([baseline]))[0])
        body.append(f'<line class="baseline" x1="{frame.left}" x2="{frame.right}" '
                    f'y1="{yb:.1f}" y2="{yb:.1f}"/>')
    if fill_to is not None:
        yf = float(frame.y(np.array([fill_to]))[0])
        body.append(f'<polygon class="{css}-area" points="{xs[0]:.1f},{yf:.1f} {_points(xs, ys)} '
                    f'{xs[-1]:.1f},{yf:.1f}"/>')
    body.append(f'<polyline class="{css}" points="{_points(xs, ys)}"/>')
    return svg(height, body, label), frame


@dataclass(frozen=True)
class TradeArrays:
    """The trades' times and prices as arrays (converted from Decimal once, used by every chart step)."""

    entry_ts: IntArray
    exit_ts: IntArray
    entry_price: FloatArray
    exit_price: FloatArray

    @classmethod
    def of(cls, trades: Sequence[Trade]) -> TradeArrays:
        n = len(trades)
        return cls(np.fromiter((t.entry_ts for t in trades), dtype=np.int64, count=n),
                   np.fromiter((t.exit_ts for t in trades), dtype=np.int64, count=n),
                   np.fromiter((float(t.entry_price) for t in trades), dtype=np.float64, count=n),
                   np.fromiter((float(t.exit_price) for t in trades), dtype=np.float64, count=n))

    def price_range(self) -> tuple[float, float] | None:
        if self.entry_price.size == 0:
            return None
        both = np.concatenate([self.entry_price, self.exit_price])
        return float(both.min()), float(both.max())


def trade_markers(frame: Frame, trades: Sequence[Trade], arrays: TradeArrays) -> tuple[list[str], str]:
    """Entry (▲) and exit (▼) markers at the fill prices, plus a caption on how many are drawn."""
    if not trades:
        return [], "no trades"
    out: list[str] = []
    merged_total = shown = 0
    size = 5 if len(trades) <= 200 else 3   # smaller when many, so the price line still shows
    cap = MAX_MARKERS // 2
    sides = (("entry", arrays.entry_ts, arrays.entry_price), ("exit", arrays.exit_ts, arrays.exit_price))
    for kind, t, p in sides:
        xs, ys = frame.x(t), frame.y(p)
        order = np.arange(len(trades))
        if len(trades) > ALL_MARKERS_UP_TO:
            # Markers on the same pixel look identical: keep one of each.
            key = np.round(xs).astype(np.int64) * 100_000 + np.round(ys).astype(np.int64)
            order = np.sort(np.unique(key, return_index=True)[1])
        merged_total += order.size
        if order.size > cap:
            order = order[np.linspace(0, order.size - 1, cap).astype(np.int64)]
        shown += order.size
        when = iso_minutes(t[order])
        out.extend(_marker(kind, trades[i], i, float(xs[i]), float(ys[i]), w, size)
                   for i, w in zip(order.tolist(), when, strict=True))
    markers = 2 * len(trades)
    if shown == markers:
        caption = f"all {len(trades)} trades marked"
    elif merged_total == shown:
        caption = f"{markers} markers, {markers - shown} hidden under others on the same pixel"
    else:
        caption = (f"{shown} of {markers} markers drawn (same-pixel markers merged, then evenly thinned); "
                   "every trade is in trades.csv")
    return out, caption


def iso_minutes(ms: IntArray) -> list[str]:
    """``YYYY-MM-DD HH:MM`` (UTC) for many ms values at once."""
    text = np.datetime_as_string(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]"), unit="m")
    return [s.replace("T", " ") for s in text.tolist()]


def _marker(kind: str, trade: Trade, i: int, x: float, y: float, when: str, size: int) -> str:
    """A triangle with its tip at the fill price: ▲ below an entry, ▼ above an exit."""
    # Called up to MAX_MARKERS times: the free-text parts go through the cached escape, numbers need none.
    if kind == "entry":
        side = _esc(trade.side)
        return (f'<path class="m-entry {side}" d="M{x:.1f},{y:.1f}l-{size},{2 * size - 1}h{2 * size}z">'  # ▲
                f"<title>#{i + 1} entry {side} {when} @ {trade.entry_price}</title></path>")
    css = "win" if trade.pnl > 0 else "loss"
    return (f'<path class="m-exit {css}" d="M{x:.1f},{y:.1f}l-{size},{1 - 2 * size}h{2 * size}z">'  # ▼
            f"<title>#{i + 1} exit ({_esc(trade.exit_reason)}) {when} @ {trade.exit_price}, "
            f"pnl {trade.pnl}</title></path>")


@lru_cache(maxsize=256)
def _esc(text: str) -> str:
    return escape(text)
