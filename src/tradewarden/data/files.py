"""Reading candle files: the uniform CSV and Binance public kline CSVs (plain or zipped).

In a process that runs the compiled kernels (a backtest) the fast path is a compiled reader of the plain
form (``csv_fast``); pyarrow's C++ CSV reader reads anything else, and every file in a process without numba
(the simulator, the data commands), where loading the compiler would cost more than pyarrow. If anything
is wrong with a file, we re-read it line by line only to name the exact line and problem: a bad row never
surfaces as a traceback.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import zipfile
from pathlib import Path

import numpy as np

from tradewarden.data.validation import Gap, find_gaps, first_problem
from tradewarden.domain.candles import CandleSeries, timeframe_ms

UNIFORM_HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
BINANCE_COLUMNS = 12


class CandleFileError(ValueError):
    """A candle file that cannot be used; the message names file, line and problem."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".csv")]
            if not names:
                raise CandleFileError(path, None, "zip archive holds no .csv file")
            return zf.read(names[0])
    return path.read_bytes()


def _detect(first_line: str) -> tuple[bool, int]:
    """(has_header, column_count) from the first line."""
    cells = first_line.strip().split(",")
    try:
        float(cells[0].strip('"'))
        return False, len(cells)
    except ValueError:
        return True, len(cells)


def read_candle_file(path: str | Path, timeframe: str | None = None, symbol: str | None = None) -> CandleSeries:
    """Read and validate one candle file; raise :class:`CandleFileError` on the first bad line.

    The timeframe is inferred from the most common spacing when not given; the symbol from a file
    name such as ``BTCUSDT-1h-...csv`` when not given.
    """
    p = Path(path)
    if not p.exists():
        raise CandleFileError(p, None, "file not found")
    if p.suffix == ".zip":
        zipped = _read_bytes(p)
        raw: bytes | None = zipped
        first_line = zipped[: zipped.find(b"\n")].decode("utf-8", "replace") if zipped.strip() else ""
    else:
        raw = None  # let pyarrow stream the file itself: no second copy of it in memory
        with p.open("rb") as fh:
            first_line = fh.readline().decode("utf-8", "replace")
    if not first_line.strip():
        raise CandleFileError(p, None, "file is empty")
    has_header, ncols = _detect(first_line)
    if has_header:
        header = [h.strip().strip('"').lower() for h in first_line.strip().split(",")]
        if header[:6] != UNIFORM_HEADER and not (ncols == BINANCE_COLUMNS and header[0] == "open_time"):
            raise CandleFileError(p, 1, f"unexpected header {first_line.strip()!r}; expected "
                                        f"{','.join(UNIFORM_HEADER)} or a Binance kline CSV")
    elif ncols not in (6, BINANCE_COLUMNS):
        raise CandleFileError(p, 1, f"expected 6 (uniform) or 12 (Binance kline) columns, found {ncols}")
    source: Path | io.BytesIO = p if raw is None else io.BytesIO(raw)
    try:
        cols = _fast_parse(source, has_header, ncols)
    except ValueError:  # pyarrow's ArrowInvalid is one
        _locate_parse_error(p, raw if raw is not None else p.read_bytes(), has_header, ncols)
        raise CandleFileError(p, None, "could not parse file") from None  # pragma: no cover
    ts, o, h, lo, c, v = cols
    if len(ts) and ts.max() > 10**14:  # Binance public data switched spot files to microseconds in 2025
        ts = ts // 1000
    tf = timeframe or _infer_timeframe(ts)
    step = timeframe_ms(tf) if tf else None
    problem = first_problem(ts, o, h, lo, c, v, step)
    if problem is not None:
        raise CandleFileError(p, problem.index + 1 + int(has_header), problem.message)
    return CandleSeries(ts, o, h, lo, c, v, symbol or _symbol_from_name(p), tf or "1h")


def _fast_parse(source: Path | io.BytesIO, has_header: bool, ncols: int) -> tuple[np.ndarray, ...]:
    if "numba" in sys.modules:  # the kernels' compiler is loaded already: the lean reader costs nothing more
        from tradewarden.data.csv_fast import parse_plain_csv

        plain = parse_plain_csv(source, has_header, ncols)
        if plain is not None:
            return plain
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(ncols)]
    types = {"c0": pa.int64(), **{f"c{i}": pa.float64() for i in range(1, 6)}}
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header else 0),
        convert_options=pacsv.ConvertOptions(column_types=types, include_columns=names[:6]),
    )
    if any(table.column(i).null_count for i in range(6)):
        raise ValueError("empty cell")
    return tuple(table.column(i).to_numpy() for i in range(6))


def _locate_parse_error(path: Path, raw: bytes, has_header: bool, ncols: int) -> None:
    reader = csv.reader(io.StringIO(raw.decode("utf-8", "replace")))
    for lineno, row in enumerate(reader, start=1):
        if lineno == 1 and has_header:
            continue
        if not row:
            raise CandleFileError(path, lineno, "empty line")
        if len(row) != ncols:
            raise CandleFileError(path, lineno, f"expected {ncols} columns, found {len(row)}")
        try:
            int(row[0])
        except ValueError:
            raise CandleFileError(path, lineno, f"timestamp {row[0]!r} is not an integer") from None
        for name, cell in zip(UNIFORM_HEADER[1:], row[1:6], strict=True):
            try:
                value = float(cell)
            except ValueError:
                raise CandleFileError(path, lineno, f"{name} {cell!r} is not a number") from None
            if not math.isfinite(value):
                raise CandleFileError(path, lineno, f"{name} {cell!r} is not a finite number")
    raise CandleFileError(path, None, "could not parse file")


def _infer_timeframe(ts: np.ndarray) -> str | None:
    if len(ts) < 2:
        return None
    d = np.diff(ts[: min(len(ts), 1000)])
    d = d[d > 0]
    if not d.size:
        return None
    step = int(np.min(d))
    from tradewarden.domain.candles import TIMEFRAME_MS

    for name, ms in TIMEFRAME_MS.items():
        if ms == step:
            return name
    return None


def _symbol_from_name(path: Path) -> str:
    stem = path.name.split("-")[0].upper()
    for quote in ("USDT", "USDC", "BUSD", "BTC", "ETH", "EUR", "USD"):
        if stem.endswith(quote) and len(stem) > len(quote):
            return f"{stem[: -len(quote)]}/{quote}"
    return stem


def load_candles(path: str | Path, timeframe: str | None = None, symbol: str | None = None) -> CandleSeries:
    """Load a file, or every candle file of one symbol in a directory (concatenated in time order)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".csv", ".zip"))
        if symbol:
            key = symbol.replace("/", "").upper()
            files = [f for f in files if f.name.upper().startswith(key)]
        if timeframe:
            files = [f for f in files if f"-{timeframe}-" in f.name or not _has_tf(f.name)]
        if not files:
            raise CandleFileError(p, None, f"no candle files{' for ' + symbol if symbol else ''} in directory")
        parts = [read_candle_file(f, timeframe, symbol) for f in files]
        merged = _concat(parts)
        return merged
    return read_candle_file(p, timeframe, symbol)


def _has_tf(name: str) -> bool:
    from tradewarden.domain.candles import TIMEFRAME_MS

    return any(f"-{tf}-" in name for tf in TIMEFRAME_MS)


def _concat(parts: list[CandleSeries]) -> CandleSeries:
    parts = sorted(parts, key=lambda s: int(s.ts[0]) if len(s) else 0)
    cols = [np.concatenate([getattr(s, n) for s in parts]) for n in ("ts", "open", "high", "low", "close", "volume")]
    ts = cols[0]
    keep = np.concatenate(([True], np.diff(ts) > 0))  # overlapping files: keep the first copy
    if not np.all(np.diff(ts[keep]) > 0):
        raise CandleFileError(parts[0].symbol, None, "files overlap in a way that cannot be merged")
    ts_, o, h, lo, c, v = (col[keep] for col in cols)
    return CandleSeries(ts_, o, h, lo, c, v, parts[0].symbol, parts[0].timeframe)


def gaps_of(series: CandleSeries) -> list[Gap]:
    return find_gaps(series.ts, timeframe_ms(series.timeframe))
