"""Candle times: every row on the file's grid, the grid taken from the most common spacing, and times in
another unit than milliseconds refused with that hint, by the reader, the backtest and ``data check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.data import CandleFileError, read_candle_file

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
HEADER = "timestamp,open,high,low,close,volume\n"
runner = CliRunner()


def row(ts: int, close: float = 100.5) -> str:
    return f"{ts},100,101,99,{close},1"


def hourly(n: int, extra: dict[int, int] | None = None) -> list[str]:
    """``n`` hourly rows from T0; ``extra`` inserts a row at time ``value`` before row ``key``."""
    rows = []
    for i in range(n):
        if extra and i in extra:
            rows.append(row(extra[i], close=100.2))
        rows.append(row(T0 + i * HOUR))
    return rows


def write(tmp_path: Path, rows: list[str], name: str = "BTCUSDT-1h-test.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "TRADEWARDEN_DATA_DIR": str(tmp_path / "dd"), "COLUMNS": "250"}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_a_stray_row_at_half_past_is_a_bad_row_of_an_hourly_file(tmp_path: Path) -> None:
    # 40 hourly rows and one at 10:30: the most common spacing is 1h, so 10:30 is off the grid (line 13:
    # header, 11 rows, then the stray row), instead of the file passing as 30m data
    path = write(tmp_path, hourly(40, {11: T0 + 10 * HOUR + HOUR // 2}))
    with pytest.raises(CandleFileError) as exc:
        read_candle_file(path)
    assert exc.value.line == 13
    assert str(exc.value).startswith(f"{path}:13: timestamp is not aligned to the 1h grid")
    assert "2024-01-01 10:30:00 UTC" in str(exc.value)


@pytest.mark.parametrize("offset_min", [17, 30])
def test_backtest_with_a_timeframe_refuses_a_row_off_its_grid(tmp_path: Path, offset_min: int) -> None:
    path = write(tmp_path, hourly(60, {30: T0 + 29 * HOUR + offset_min * 60_000}))
    code, output = cli(tmp_path, "backtest", "--data", str(path), "--timeframe", "1h", "--out", str(tmp_path / "r"))
    flat = output.replace("\n", "")
    assert code == 2, output
    assert f"{path}:32: timestamp is not aligned to the 1h grid" in flat
    assert "Traceback" not in output
    assert not (tmp_path / "r").exists()


def test_several_bad_rows_are_listed_with_their_lines_and_counted(tmp_path: Path) -> None:
    rows = hourly(50, {k: T0 + (k - 1) * HOUR + 60_000 for k in (5, 10, 15, 20, 25, 30, 35)})
    path = write(tmp_path, rows)
    with pytest.raises(CandleFileError) as exc:
        read_candle_file(path, timeframe="1h")
    text = str(exc.value)
    assert text.startswith(f"{path}:7: timestamp is not aligned")  # header + 5 rows, then the first
    assert "[7 bad rows in all: line 13: timestamp is not aligned" in text
    for line in (19, 25, 31):
        assert f"line {line}: " in text
    assert "and 2 more]" in text and "\n" not in text


@pytest.mark.parametrize(
    ("scale", "words"),
    [
        (0.001, "looks like seconds since the epoch, not milliseconds (multiply by 1000)"),
        (1000, "looks like microseconds since the epoch, not milliseconds (divide by 1000)"),
    ],
)
def test_timestamps_in_another_unit_are_refused_with_that_hint(tmp_path: Path, scale: float, words: str) -> None:
    path = write(tmp_path, [row(int((T0 + i * HOUR) * scale)) for i in range(30)])
    with pytest.raises(CandleFileError) as exc:
        read_candle_file(path)
    assert str(exc.value).startswith(f"{path}:2: timestamp {int(T0 * scale)} {words}")
    code, output = cli(tmp_path, "backtest", "--data", str(path), "--timeframe", "1h", "--out", str(tmp_path / "r"))
    assert code == 2 and words in output.replace("\n", "")


def test_binance_kline_files_in_microseconds_stay_readable(tmp_path: Path) -> None:
    # Binance writes its spot kline files in microseconds since 2025: all rows in µs is that format
    rows = [f"{(T0 + i * HOUR) * 1000},1,2,0.5,1.5,10,{(T0 + (i + 1) * HOUR) * 1000 - 1},15,3,5,7.5,0"
            for i in range(3)]
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("\n".join(rows) + "\n")
    assert read_candle_file(path).ts.tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR]


def check_row(output: str, name: str) -> list[str]:
    line = next(line for line in output.splitlines() if name[:10] in line)
    return [c.strip() for c in line.split("│")]


def test_data_check_fails_on_an_unsorted_file(tmp_path: Path) -> None:
    rows = hourly(10)
    rows[3], rows[4] = rows[4], rows[3]
    path = write(tmp_path, rows)
    code, output = cli(tmp_path, "data", "check", str(path))
    assert code == 1, output
    cells = check_row(output, path.name)
    assert cells[2] == "10" and cells[7] == "1"  # rows; one row earlier than the row before it
    assert "not sorted" in output


def test_data_check_fails_on_a_row_off_the_grid_of_the_dominant_spacing(tmp_path: Path) -> None:
    path = write(tmp_path, hourly(20, {5: T0 + 4 * HOUR + HOUR // 2}))
    code, output = cli(tmp_path, "data", "check", str(path))
    assert code == 1, output
    cells = check_row(output, path.name)
    assert cells[2:8] == ["21", "0", "0", "0", "1", "0"]  # rows, gaps, missing, duplicates, bad, unsorted
    assert "line 7" in output and "aligned" in output


def test_data_check_passes_a_good_file_and_refuses_seconds_with_the_hint(tmp_path: Path) -> None:
    good = write(tmp_path, hourly(20))
    code, output = cli(tmp_path, "data", "check", str(good))
    assert code == 0, output
    seconds = write(tmp_path, [row((T0 + i * HOUR) // 1000) for i in range(20)], name="BTCUSDT-1h-s.csv")
    code, output = cli(tmp_path, "data", "check", str(seconds))
    assert code != 0 and "looks like seconds" in output.replace("\n", "")


def test_the_store_refuses_candles_in_seconds(tmp_path: Path) -> None:
    src = tmp_path / "BTC_USDT-1h.json"
    src.write_text(json.dumps([[(T0 + i * HOUR) // 1000, 100, 101, 99, 100.5, 1] for i in range(5)]))
    code, output = cli(tmp_path, "data", "import", str(src), "--store", str(tmp_path / "store"))
    assert code == 2 and "looks like seconds" in output.replace("\n", "")
    assert not any((tmp_path / "store").rglob("*.arrow"))
