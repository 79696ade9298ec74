"""Importing candle files into the store: the uniform CSV, Binance public-data klines and freqtrade files.

Formats recognised by file name:

* ``*.csv`` / ``*.zip``: the uniform CSV (``timestamp,open,high,low,close,volume``) or Binance public-data
  kline CSVs (plain or zipped, ms or µs), read by :func:`tradewarden.data.files.read_candle_file`;
* ``*.json`` / ``*.json.gz``: freqtrade's default OHLCV JSON, an array of ``[ms, o, h, l, c, v]``;
* ``*.feather``: freqtrade's feather (Arrow IPC) table with a ``date`` column and OHLCV columns.

freqtrade names files ``BTC_USDT-1m.json`` (spot) or ``BTC_USDT_USDT-1h-futures.feather``; the symbol and
timeframe come from that name unless given. Every file is validated before anything is written.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from tradewarden.data.files import CandleFileError, read_candle_file
from tradewarden.data.store import CandleStore
from tradewarden.data.validation import find_problems
from tradewarden.domain.candles import TIMEFRAME_MS, CandleSeries, timeframe_ms

SUFFIXES = (".csv", ".zip", ".json", ".json.gz", ".feather")
_FREQTRADE_NAME = re.compile(
    r"^(?P<sym>[A-Z0-9]+_[A-Z0-9]+(?:_[A-Z0-9]+)?)-(?P<tf>[0-9A-Za-z]+)(?:-(?P<kind>\w+))?$"
)


@dataclass(frozen=True, slots=True)
class Imported:
    path: Path
    symbol: str
    timeframe: str
    rows: int


def candle_files(target: Path) -> list[Path]:
    """The importable files: ``target`` itself, or every importable file below a directory."""
    if not target.exists():
        raise CandleFileError(target, None, "file or directory not found")
    if target.is_file():
        return [target]
    files = sorted(p for p in target.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
    if not files:
        raise CandleFileError(target, None, f"no candle files ({', '.join(SUFFIXES)}) in directory")
    return files


def read_any(path: Path, symbol: str | None = None, timeframe: str | None = None) -> CandleSeries:
    """Read and validate one file of any supported format."""
    name = path.name
    if name.endswith((".csv", ".zip")):
        return read_candle_file(path, timeframe, symbol)
    if name.endswith((".json", ".json.gz")):
        stem = name.removesuffix(".gz").removesuffix(".json")
        return _finish(path, _read_freqtrade_json(path), stem, symbol, timeframe)
    if name.endswith(".feather"):
        return _finish(path, _read_freqtrade_feather(path), name.removesuffix(".feather"), symbol, timeframe)
    raise CandleFileError(path, None, f"unsupported file type (supported: {', '.join(SUFFIXES)})")


def import_files(
    store: CandleStore, exchange: str, target: Path, symbol: str | None = None, timeframe: str | None = None
) -> list[Imported]:
    """Validate every file first, then write them all; a bad file stops the import before any write."""
    series = [(p, read_any(p, symbol, timeframe)) for p in candle_files(target)]
    done: list[Imported] = []
    for path, s in series:
        done.append(Imported(path, s.symbol, s.timeframe, store.write(exchange, s)))
    return done


def _read_freqtrade_json(path: Path) -> tuple[np.ndarray, ...]:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise CandleFileError(path, None, f"not a gzip file ({exc})") from None
    try:
        rows = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CandleFileError(path, None, f"invalid JSON ({exc})") from None
    if not isinstance(rows, list):
        raise CandleFileError(
            path, None, "expected a JSON array of [timestamp, open, high, low, close, volume]"
        )
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) < 6 or not all(isinstance(x, int | float) for x in row[:6]):
            raise CandleFileError(
                path,
                None,
                f"row {i}: expected [timestamp, open, high, low, close, volume], got {str(row)[:80]}",
            )
    arr = np.array([r[:6] for r in rows], dtype=np.float64).reshape(-1, 6)
    ts = np.array([int(r[0]) for r in rows], dtype=np.int64)
    return (ts, *(np.ascontiguousarray(arr[:, i]) for i in range(1, 6)))


def _read_freqtrade_feather(path: Path) -> tuple[np.ndarray, ...]:
    try:
        table = feather.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise CandleFileError(path, None, f"not a readable feather file ({exc})") from None
    need = ("date", "open", "high", "low", "close", "volume")
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise CandleFileError(
            path, None, f"missing column(s) {', '.join(missing)}; found {table.column_names}"
        )
    date = table.column("date")
    if pa.types.is_timestamp(date.type):
        ts = pc.cast(pc.cast(date, pa.timestamp("ms", tz="UTC")), pa.int64()).to_numpy()
    elif pa.types.is_integer(date.type):
        ts = date.to_numpy().astype(np.int64)
    else:
        raise CandleFileError(path, None, f"column 'date' has type {date.type}, expected a timestamp")
    try:
        cols = [table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in need[1:]]
    except pa.ArrowException as exc:
        raise CandleFileError(path, None, f"price/volume columns are not numeric ({exc})") from None
    return (np.ascontiguousarray(ts, dtype=np.int64), *cols)


def _finish(
    path: Path, cols: tuple[np.ndarray, ...], stem: str, symbol: str | None, timeframe: str | None
) -> CandleSeries:
    ts, o, h, lo, c, v = cols
    m = _FREQTRADE_NAME.match(stem)
    if symbol is None:
        if m is None:
            raise CandleFileError(
                path,
                None,
                "cannot tell the symbol from the file name (expected e.g. BTC_USDT-1m.json); pass --symbol",
            )
        parts = m.group("sym").split("_")
        symbol = f"{parts[0]}/{parts[1]}" + (f":{parts[2]}" if len(parts) > 2 else "")
    if timeframe is None:
        if m is None or m.group("tf") not in TIMEFRAME_MS:
            raise CandleFileError(
                path, None, "cannot tell the timeframe from the file name; pass --timeframe"
            )
        timeframe = m.group("tf")
    found = find_problems(ts, o, h, lo, c, v, timeframe_ms(timeframe))
    if found is not None:  # rows counted from 0: these formats have no lines to name
        raise CandleFileError(path, None, f"row {found.shown[0].index}: {found.describe(0, 'row')}")
    return CandleSeries(ts, o, h, lo, c, v, symbol, timeframe)
