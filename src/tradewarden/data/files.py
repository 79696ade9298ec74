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

from tradewarden.data.validation import (
    MS_MAX,
    Gap,
    dominant_step,
    find_gaps,
    find_problems,
    timeframe_of_step,
)
from tradewarden.domain.candles import TIMEFRAME_MS, CandleSeries, IntArray, timeframe_ms
from tradewarden.errors import BadInput

UNIFORM_HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
BINANCE_COLUMNS = 12


class CandleFileError(BadInput, ValueError):
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
    """Read and validate one candle file; raise :class:`CandleFileError` naming its bad lines.

    ``timeframe`` is the file's own timeframe: every row must lie on its grid. When not given it is the
    most common spacing between rows, and rows off that grid are bad rows. The symbol comes from a file
    name such as ``BTCUSDT-1h-...csv``; a ``symbol`` that the name contradicts is refused, so candles of
    one market are never labelled as another's.
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
    ts = binance_micros(ts, ncols)
    named = symbol_from_name(p)
    if symbol and named and symbol != named:
        raise CandleFileError(p, None, f"holds {named} candles (by its name), not {symbol}")
    first_line_no = 1 + int(has_header)  # line number of row 0
    tf = timeframe or infer_timeframe(p, ts, o, h, lo, c, v, first_line_no)
    found = find_problems(ts, o, h, lo, c, v, timeframe_ms(tf) if tf else None)
    if found is not None:
        raise CandleFileError(p, found.shown[0].index + first_line_no, found.describe(first_line_no))
    return CandleSeries(ts, o, h, lo, c, v, symbol or named or p.stem.split("-")[0].upper(), tf or "1h")


def binance_micros(ts: IntArray, ncols: int) -> IntArray:
    """Binance kline files (12 columns) in microseconds, as Binance writes spot files since 2025, in ms.

    Only Binance's format and only when every row is in microseconds: a uniform CSV in microseconds, or
    a file mixing units, is refused row by row with that hint instead of being guessed at.
    """
    if ncols == BINANCE_COLUMNS and len(ts) and int(ts.min()) >= MS_MAX:
        return ts // 1000
    return ts


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


def infer_timeframe(path: Path, ts: IntArray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                    v: np.ndarray, first_line_no: int) -> str | None:
    """The timeframe of the most common spacing; ``None`` for a file of one row.

    When that spacing is no timeframe, the rows themselves are usually wrong (timestamps in seconds):
    those rows are named if any row breaks a rule, otherwise the spacing is.
    """
    step = dominant_step(ts)
    if step is None:
        return None
    name = next((n for n, ms in TIMEFRAME_MS.items() if ms == step), None)
    if name is not None:
        return name
    found = find_problems(ts, o, h, lo, c, v, None)
    if found is not None:
        raise CandleFileError(path, found.shown[0].index + first_line_no, found.describe(first_line_no))
    raise CandleFileError(path, None, f"rows are mostly {timeframe_of_step(step)} apart, which is not a timeframe "
                                      f"({', '.join(TIMEFRAME_MS)})")


def symbol_from_name(path: Path) -> str | None:
    """``BTC/USDT`` from ``BTCUSDT-1h-...csv`` (or ``BTC_USDT-1h.csv``); ``None`` when the name does not tell."""
    stem = path.name.split("-")[0].split(".")[0].upper().replace("_", "")
    for quote in ("USDT", "USDC", "BUSD", "BTC", "ETH", "EUR", "USD"):
        if stem.endswith(quote) and len(stem) > len(quote):
            return f"{stem[: -len(quote)]}/{quote}"
    return None


def timeframe_from_name(path: Path) -> str | None:
    """``1h`` from ``BTCUSDT-1h-2024.csv``; ``None`` when the name does not tell."""
    stem = path.name.split(".")[0]
    return next((part for part in stem.split("-")[1:] if part in TIMEFRAME_MS), None)


def load_candles(path: str | Path, timeframe: str | None = None, symbol: str | None = None) -> CandleSeries:
    """Load a file, or the candle files of one symbol at one timeframe in a directory (merged in time order).

    In a directory, files are told apart by name (``BTCUSDT-1h-....csv``): see
    :func:`tradewarden.data.sources.load_directory`.
    """
    p = Path(path)
    if p.is_dir():
        from tradewarden.data.sources import load_directory  # sources reads files through this module

        return load_directory(p, timeframe, symbol)
    return read_candle_file(p, timeframe, symbol)


def gaps_of(series: CandleSeries) -> list[Gap]:
    return find_gaps(series.ts, timeframe_ms(series.timeframe))
