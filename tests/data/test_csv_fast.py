"""The compiled reader of plain candle CSVs gives exactly pyarrow's columns, or gives up (None) so that
pyarrow reads the file; and loading a plain file does not load pyarrow at all."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from tradewarden.data import csv_fast, read_candle_file
from tradewarden.data.csv_fast import parse_plain_csv

HEADER = "timestamp,open,high,low,close,volume\n"


def arrow_columns(data: bytes, has_header: bool, ncols: int) -> tuple[np.ndarray, ...]:
    names = [f"c{i}" for i in range(ncols)]
    types = {"c0": pa.int64(), **{f"c{i}": pa.float64() for i in range(1, 6)}}
    table = pacsv.read_csv(io.BytesIO(data),
                           read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header else 0),
                           convert_options=pacsv.ConvertOptions(column_types=types, include_columns=names[:6]))
    return tuple(table.column(i).to_numpy() for i in range(6))


def assert_same(ours: tuple[np.ndarray, ...] | None, theirs: tuple[np.ndarray, ...]) -> None:
    assert ours is not None
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b))  # -0.0 stays -0.0


@pytest.mark.parametrize("name", ["BTCUSDT-1m-2021-04-20_2021-05-20.csv", "BTCUSDT-1h-2017-08-17_2022-12-31.csv",
                                  "ETHUSDT-1h-2017-08-17_2022-07-11.csv"])
def test_real_files_read_exactly_as_pyarrow_reads_them(shared_data: Path, name: str) -> None:
    path = shared_data / name
    assert_same(parse_plain_csv(path, True, 6), arrow_columns(path.read_bytes(), True, 6))


def test_awkward_but_plain_numbers_are_the_same_doubles(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(3000):
        # up to 15 significant digits, up to 22 decimals, leading zeros, integers, negatives and -0
        digits = rng.integers(1, 16)
        mantissa = int(rng.integers(1, 10**digits))
        places = int(rng.integers(0, 23))
        text = str(mantissa).rjust(places + 1, "0")
        number = text if places == 0 else f"{text[:-places]}.{text[-places:]}"
        rows.append(f"{1_600_000_000_000 + i * 60_000},{number},007.50,-{number},-0,{i % 7}.0")
    data = (HEADER + "\n".join(rows) + "\n").encode()
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    assert_same(parse_plain_csv(path, True, 6), arrow_columns(data, True, 6))


@pytest.mark.parametrize(("text", "has_header", "ncols"), [
    (HEADER + "1,2,3,1,2,5\r\n2,2,3,1,2,5\r\n", True, 6),                 # CRLF
    (HEADER + "1,2,3,1,2,5\n2,2,3,1,2,5", True, 6),                       # no newline at the end
    (HEADER + "1,2,3,1,2,5\n\n2,2,3,1,2,5\n\n", True, 6),                 # empty lines, as pyarrow skips them
    ("1,2,3,1,2,5,9,1.5,3,0.5,1.5,0\n2,2,3,1,2,5,9,1.5,3,0.5,1.5,0\n", False, 12),  # a Binance kline file
])
def test_line_endings_empty_lines_and_kline_columns(text: str, has_header: bool, ncols: int) -> None:
    data = text.encode()
    assert_same(parse_plain_csv(io.BytesIO(data), has_header, ncols), arrow_columns(data, has_header, ncols))


@pytest.mark.parametrize("row", [
    "1,3e4,3,1,2,5",                  # exponent
    '1,"2",3,1,2,5',                  # quoted
    "1, 2,3,1,2,5",                   # blank
    "1,2,3,1,2",                      # a column short
    "1,2,3,1,2,5,6",                  # a column over
    "1,2,,1,2,5",                     # empty cell
    "1,1234567890.1234567,3,1,2,5",   # 17 significant digits: not exact by division
    "1,2.,3,1,2,5",                   # a bare point
    "-1,2,3,1,2,5",                   # a negative time
    "1.5,2,3,1,2,5",                  # a fractional time
    "1,nan,3,1,2,5",
])
def test_anything_not_plain_is_left_to_pyarrow(row: str) -> None:
    data = (HEADER + "1,2,3,1,2,5\n" + row + "\n").encode()
    source = io.BytesIO(data)
    assert parse_plain_csv(source, True, 6) is None
    assert source.tell() == 0  # rewound for pyarrow


def test_a_file_longer_than_its_first_chunk_suggests_grows_its_columns(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_fast, "CHUNK", 256)  # the row guess comes from the long lines of the first chunk
    long_rows = [f"{i},123456.123456789,123456.123456789,123456.12345678,123456.1234567,99.123456789"
                 for i in range(10)]
    short_rows = [f"{i},1,2,1,2,{i % 10}" for i in range(10, 6000)]
    data = (HEADER + "\n".join(long_rows + short_rows) + "\n").encode()
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    grown: list[int] = []
    real_grow = csv_fast._grow

    def counting_grow(ts: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grown.append(ts.shape[0])
        return real_grow(ts, cols)

    monkeypatch.setattr(csv_fast, "_grow", counting_grow)
    assert_same(parse_plain_csv(path, True, 6), arrow_columns(data, True, 6))
    assert grown


def test_a_line_longer_than_a_chunk_is_left_to_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ("1,2,3,1,2,5,9,1.5,3,0.5,1.5,0\n" + "2,2,3,1,2,5," + "9" * 100 + ",1.5,3,0.5,1.5,0\n").encode()
    assert_same(parse_plain_csv(io.BytesIO(data), False, 12), arrow_columns(data, False, 12))
    monkeypatch.setattr(csv_fast, "CHUNK", 64)
    assert parse_plain_csv(io.BytesIO(data), False, 12) is None


def test_a_file_that_is_not_plain_still_loads_through_pyarrow(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1h-x.csv"
    path.write_text(HEADER + "1609459200000,1e2,110,90,105,1.5\n1609462800000,105,112,101,111,2\n")
    assert read_candle_file(path).open.tolist() == [100.0, 105.0]


def loaded_after(shared_data: Path, first: str) -> list[str]:
    """Load a plain candle file in a fresh process after ``first``; which of the heavy modules are loaded."""
    code = (f"import sys; {first}; from tradewarden.data import load_candles; "
            f"s = load_candles({str(shared_data / 'BTCUSDT-1m-2024-04-02_2024-04-07.csv')!r}); assert len(s) == 7207; "
            "print(' '.join(m for m in ('pyarrow', 'asyncio', 'numba') if m in sys.modules))")
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()


def test_a_backtest_reads_plain_files_without_pyarrow_or_asyncio(shared_data: Path) -> None:
    # pyarrow costs about 50 MB of a backtest's 250 MB budget; asyncio is for sessions only
    assert loaded_after(shared_data, "import tradewarden.backtest.runner") == ["numba"]


def test_a_process_without_kernels_does_not_load_numba_to_read_a_file(shared_data: Path) -> None:
    # the simulator and the data commands: numba would cost them far more than pyarrow
    assert loaded_after(shared_data, "pass") == ["pyarrow"]
