"""The candle store: where downloaded and imported candles live, keyed by exchange, symbol and timeframe.

Two implementations share one protocol: :class:`~tradewarden.data.store_arrow.ArrowCandleStore`, the
embedded default on local disk, and :class:`~tradewarden.data.store_sql.SqlCandleStore` for PostgreSQL (or
any SQLAlchemy URL) when several machines share the data. :func:`open_store` picks one from a URL or path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tradewarden.data.validation import Gap, first_problem
from tradewarden.domain.candles import CandleSeries, timeframe_ms


class StoreError(ValueError):
    """A store that cannot be opened or data that cannot be written; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What the store holds for one (exchange, symbol, timeframe)."""

    exchange: str
    symbol: str
    timeframe: str
    first_ts: int
    last_ts: int
    count: int
    gaps: list[Gap] = field(default_factory=list)
    exchange_gaps: list[tuple[int, int]] = field(default_factory=list)  # [start, end) known empty upstream

    @property
    def missing(self) -> int:
        return sum(g.count for g in self.gaps)


class CandleStore(Protocol):
    def write(self, exchange: str, series: CandleSeries) -> int:
        """Insert or replace candles (same open time: the new values win); returns rows written."""
        ...

    def write_many(self, exchange: str, batch: Sequence[CandleSeries]) -> int:
        """:meth:`write` of several series at once (one transaction where the store has them)."""
        ...

    def load(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> CandleSeries:
        """Candles with open time in ``[start_ms, end_ms)``, sorted; an empty series when none."""
        ...

    def series(self) -> list[SeriesInfo]:
        """Every stored (exchange, symbol, timeframe) with its range, count and gaps."""
        ...

    def exchange_gaps(self, exchange: str, symbol: str, timeframe: str) -> list[tuple[int, int]]:
        """Ranges ``[start, end)`` the exchange itself has no candles for (found while downloading)."""
        ...

    def add_exchange_gap(
        self, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> None: ...

    def close(self) -> None: ...


def open_store(target: str | Path | None, data_dir: str | Path | None = None) -> CandleStore:
    """A store from a SQLAlchemy URL (``postgresql://...``, ``sqlite:///...``) or a directory path.

    ``None`` means the default: an Arrow IPC store in ``<data_dir>/candles``.
    """
    if target is None or str(target) == "":
        if data_dir is None:
            raise StoreError("no candle store given: pass --store/--db-url or --data-dir")
        from tradewarden.data.store_arrow import ArrowCandleStore

        return ArrowCandleStore(Path(data_dir) / "candles")
    text = str(target)
    if "://" in text:
        from tradewarden.data.store_sql import SqlCandleStore

        return SqlCandleStore(text)
    from tradewarden.data.store_arrow import ArrowCandleStore

    return ArrowCandleStore(Path(text))


def from_columns(cols: Sequence[np.ndarray], symbol: str, timeframe: str) -> CandleSeries:
    """A series from six columns in the order ts, open, high, low, close, volume."""
    ts, o, h, lo, c, v = cols
    return CandleSeries(ts, o, h, lo, c, v, symbol, timeframe)


def empty_series(symbol: str, timeframe: str) -> CandleSeries:
    f = np.empty(0, dtype=np.float64)
    return CandleSeries(
        np.empty(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy(), f.copy(), symbol, timeframe
    )


def check_writable(exchange: str, series: CandleSeries) -> None:
    """Refuse bad candles before they reach the store, naming the series and the first bad row."""
    if not exchange:
        raise StoreError("exchange name must not be empty")
    step = timeframe_ms(series.timeframe)
    problem = first_problem(
        series.ts, series.open, series.high, series.low, series.close, series.volume, step
    )
    if problem is not None:
        raise StoreError(
            f"{exchange} {series.symbol} {series.timeframe}: row {problem.index}: {problem.message}"
        )


def merge(old: CandleSeries, new: CandleSeries) -> CandleSeries:
    """Union of two sorted series; where both have a candle at the same time, ``new`` wins."""
    if len(old) == 0:
        return new
    if len(new) == 0:
        return old
    ts = np.concatenate((new.ts, old.ts))
    # stable sort keeps `new` first among equal timestamps, so the first of each run is the new value
    order = np.argsort(ts, kind="stable")
    ts_sorted = ts[order]
    keep = np.concatenate(([True], np.diff(ts_sorted) != 0))
    idx = order[keep]
    cols = [
        np.concatenate((getattr(new, n), getattr(old, n)))[idx]
        for n in ("open", "high", "low", "close", "volume")
    ]
    return from_columns([ts_sorted[keep], *cols], new.symbol, new.timeframe)


def missing_ranges(
    stored_ts: np.ndarray, start_ms: int, end_ms: int, step_ms: int, known_empty: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Ranges ``[a, b)`` in ``[start_ms, end_ms)`` with no stored candle, not known to be empty upstream."""
    start = -(-start_ms // step_ms) * step_ms  # first aligned open time at or after start
    if start >= end_ms:
        return []
    ts = stored_ts[(stored_ts >= start) & (stored_ts < end_ms)]
    edges = np.concatenate(([start - step_ms], ts, [end_ms]))
    holes: list[tuple[int, int]] = []
    for i in np.flatnonzero(np.diff(edges) > step_ms):
        a, b = int(edges[i]) + step_ms, int(edges[i + 1])
        if i == len(edges) - 2:  # the tail runs up to end_ms itself, not to a stored candle
            b = end_ms
        holes.append((a, b))
    return _subtract(holes, known_empty)


def _subtract(ranges: list[tuple[int, int]], minus: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = ranges
    for ma, mb in minus:
        nxt: list[tuple[int, int]] = []
        for a, b in out:
            if mb <= a or ma >= b:
                nxt.append((a, b))
                continue
            if a < ma:
                nxt.append((a, ma))
            if mb < b:
                nxt.append((mb, b))
        out = nxt
    return out
