"""The embedded candle store: Arrow IPC (feather v2) files on local disk, one folder per series.

Why Arrow IPC, uncompressed: ``benchmarks/bench_store.py`` loads one year of 1-minute candles (525,600
rows) in about 2 ms from it (memory-mapped, no decoding), 0.1-0.5 s from Parquet or compressed Arrow
depending on how busy the CPU is, and 1.3-2 s from SQLite (one Python object per value). The requirement
is under 0.3 s even on a loaded machine, so we pay for it with disk: about 25 MB per symbol-year of 1m
candles instead of 13 MB. The files are the standard Arrow format: pyarrow, polars, DuckDB or pandas open
them directly.

Layout: ``<root>/<exchange>/<BASE_QUOTE>/<timeframe>/<partition>.arrow`` plus ``meta.json`` (the real
symbol and ranges the exchange has no candles for). Partitions are calendar months below 1h and years from
1h up, so a write rewrites at most one month of 1-minute candles. Files are replaced atomically
(write to a temporary file, then ``os.replace``) and writers of one series serialize on an advisory lock
(``fcntl.flock``), so a reader never sees a half-written file and two downloads cannot lose each other's rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from tradewarden.data.store import SeriesInfo, StoreError, check_writable, empty_series, from_columns, merge
from tradewarden.data.validation import find_gaps
from tradewarden.domain.candles import CandleSeries, timeframe_ms

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
SCHEMA = pa.schema([("ts", pa.int64())] + [(c, pa.float64()) for c in COLUMNS[1:]])
META = "meta.json"


def _folder_name(symbol: str) -> str:
    return symbol.replace("/", "_").replace(":", "_")


class ArrowCandleStore:
    """Candles as Arrow IPC files under ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"candle store {self.root} exists and is not a directory")

    # -- paths -------------------------------------------------------------------------------------
    def _dir(self, exchange: str, symbol: str, timeframe: str) -> Path:
        return self.root / exchange / _folder_name(symbol) / timeframe

    @staticmethod
    def _partition(ts_ms: int, timeframe: str) -> str:
        d = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        return f"{d.year:04d}-{d.month:02d}" if timeframe_ms(timeframe) < 3_600_000 else f"{d.year:04d}"

    @contextlib.contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- writing -----------------------------------------------------------------------------------
    def write(self, exchange: str, series: CandleSeries) -> int:
        if len(series) == 0:
            return 0
        check_writable(exchange, series)
        folder = self._dir(exchange, series.symbol, series.timeframe)
        # partition of every row, vectorised: calendar month (or year) of the open time
        unit = "M" if timeframe_ms(series.timeframe) < 3_600_000 else "Y"
        periods = series.ts.astype("datetime64[ms]").astype(f"datetime64[{unit}]")
        bounds = np.flatnonzero(np.concatenate(([True], periods[1:] != periods[:-1])))
        ends = np.concatenate((bounds[1:], [len(series)]))
        with self._locked(folder):
            self._write_meta(folder, series.symbol, None)
            for a, b in zip(bounds, ends, strict=True):
                name = self._partition(int(series.ts[a]), series.timeframe)
                self._merge_partition(folder / f"{name}.arrow", series[int(a) : int(b)])
        return len(series)

    def write_many(self, exchange: str, batch: Sequence[CandleSeries]) -> int:
        """One series after the other (each series' files are replaced on their own anyway), every series checked
        before any is written."""
        for series in batch:
            if len(series):
                check_writable(exchange, series)
        return sum(self.write(exchange, series) for series in batch)

    def _merge_partition(self, path: Path, new: CandleSeries) -> None:
        old = self._read_file(path, new.symbol, new.timeframe) if path.exists() else None
        merged = merge(old, new) if old is not None else new
        table = pa.table([pa.array(getattr(merged, c)) for c in COLUMNS], schema=SCHEMA)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".arrow")
        os.close(fd)
        try:
            with ipc.new_file(tmp, SCHEMA) as writer:
                writer.write_table(table)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _read_meta(self, folder: Path) -> dict[str, object]:
        p = folder / META
        if not p.exists():
            return {}
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{p}: unreadable store metadata ({exc})") from None
        return data if isinstance(data, dict) else {}

    def _write_meta(self, folder: Path, symbol: str, gaps: list[tuple[int, int]] | None) -> None:
        meta = self._read_meta(folder)
        if meta.get("symbol") == symbol and gaps is None:
            return
        meta["symbol"] = symbol
        if gaps is not None:
            meta["exchange_gaps"] = [list(g) for g in gaps]
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(meta, fh)
        os.replace(tmp, folder / META)

    # -- reading -----------------------------------------------------------------------------------
    @staticmethod
    def _read_file(path: Path, symbol: str, timeframe: str) -> CandleSeries:
        try:
            table = ipc.open_file(pa.memory_map(str(path))).read_all()
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"{path}: unreadable candle file ({exc})") from None
        cols = [table.column(c).to_numpy() for c in COLUMNS]
        return from_columns(cols, symbol, timeframe)

    def load(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> CandleSeries:
        folder = self._dir(exchange, symbol, timeframe)
        files = sorted(folder.glob("[0-9]*.arrow")) if folder.is_dir() else []
        if start_ms is not None or end_ms is not None:
            lo = self._partition(start_ms, timeframe) if start_ms is not None else ""
            hi = self._partition(end_ms - 1, timeframe) if end_ms is not None else "~"
            files = [f for f in files if lo <= f.stem <= hi]
        if not files:
            return empty_series(symbol, timeframe)
        parts = [self._read_file(f, symbol, timeframe) for f in files]
        cols = [np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS]
        whole = from_columns(cols, symbol, timeframe)
        return whole.between(start_ms, end_ms) if start_ms is not None or end_ms is not None else whole

    def held(self) -> list[tuple[str, str, str]]:
        """(exchange, symbol, timeframe) of every stored series, without reading any candle."""
        out: list[tuple[str, str, str]] = []
        if not self.root.is_dir():
            return out
        for tf_dir in sorted(self.root.glob("*/*/*")):
            if not tf_dir.is_dir() or not any(tf_dir.glob("[0-9]*.arrow")):
                continue
            meta = self._read_meta(tf_dir)
            symbol = str(meta.get("symbol") or tf_dir.parent.name.replace("_", "/", 1))
            out.append((tf_dir.parent.parent.name, symbol, tf_dir.name))
        return out

    def series(self) -> list[SeriesInfo]:
        out: list[SeriesInfo] = []
        for exchange, symbol, timeframe in self.held():
            s = self.load(exchange, symbol, timeframe)
            if len(s) == 0:
                continue
            out.append(
                SeriesInfo(
                    exchange,
                    symbol,
                    timeframe,
                    int(s.ts[0]),
                    int(s.ts[-1]),
                    len(s),
                    find_gaps(s.ts, timeframe_ms(timeframe)),
                    self.exchange_gaps(exchange, symbol, timeframe),
                )
            )
        return out

    def exchange_gaps(self, exchange: str, symbol: str, timeframe: str) -> list[tuple[int, int]]:
        raw = self._read_meta(self._dir(exchange, symbol, timeframe)).get("exchange_gaps", [])
        return [(int(a), int(b)) for a, b in raw] if isinstance(raw, list) else []

    def add_exchange_gap(
        self, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> None:
        folder = self._dir(exchange, symbol, timeframe)
        with self._locked(folder):
            gaps = self.exchange_gaps(exchange, symbol, timeframe)
            if (start_ms, end_ms) not in gaps:
                gaps.append((start_ms, end_ms))
            self._write_meta(folder, symbol, sorted(gaps))

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own files."""
