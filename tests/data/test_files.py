import zipfile
from pathlib import Path

import numpy as np
import pytest

from tradewarden.data import CandleFileError, load_candles, read_candle_file, sample_path
from tradewarden.data.files import gaps_of

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "1609459200000,100,110,90,105,1.5",
    "1609462800000,105,112,101,111,2",
    "1609466400000,111,115,108,109,0",
]


def write(tmp_path: Path, rows: list[str], header: bool = True, name: str = "BTCUSDT-1h-x.csv") -> Path:
    p = tmp_path / name
    p.write_text((HEADER if header else "") + "\n".join(rows) + "\n")
    return p


def test_reads_uniform_csv(tmp_path: Path) -> None:
    s = read_candle_file(write(tmp_path, GOOD))
    assert len(s) == 3
    assert s.symbol == "BTC/USDT"
    assert s.timeframe == "1h"
    assert s.close.tolist() == [105.0, 111.0, 109.0]


def binance_row(ts: int, o: str, h: str, lo: str, c: str, v: str) -> str:
    return f"{ts},{o},{h},{lo},{c},{v},{ts + 3_599_999},1000.0,10,0.5,500.0,0"


def test_reads_binance_kline_csv_plain_and_zipped_and_microseconds(tmp_path: Path) -> None:
    rows = [binance_row(1609459200000, "1", "2", "0.5", "1.5", "10"),
            binance_row(1609462800000, "1.5", "2", "1", "1.2", "3")]
    plain = write(tmp_path, rows, header=False, name="ETHUSDT-1h-2021-01.csv")
    s = read_candle_file(plain)
    assert s.symbol == "ETH/USDT" and len(s) == 2 and s.volume.tolist() == [10.0, 3.0]
    zipped = tmp_path / "ETHUSDT-1h-2021-01.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(plain, "ETHUSDT-1h-2021-01.csv")
    assert np.array_equal(read_candle_file(zipped).ts, s.ts)
    micro = [binance_row(1609459200000000, "1", "2", "0.5", "1.5", "10")]
    assert read_candle_file(write(tmp_path, micro, header=False, name="m.csv"), timeframe="1h").ts[0] == 1609459200000


@pytest.mark.parametrize(
    ("rows", "line", "words"),
    [
        ([*GOOD[:1], "1609462800000,105,112,101,abc,2", *GOOD[2:]], 3, "close 'abc' is not a number"),
        ([*GOOD[:2], "1609466400000,111,115,108"], 4, "expected 6 columns"),
        ([*GOOD[:1], "1609462800000,105,100,101,101,2", *GOOD[2:]], 3, "high is below"),
        ([*GOOD[:1], "1609462800000,105,112,106,111,2", *GOOD[2:]], 3, "low is above"),
        ([*GOOD[:1], "1609462800000,-105,112,-106,111,2", *GOOD[2:]], 3, "prices must be positive"),
        ([*GOOD[:2], "1609466400000,111,115,108,109,-1"], 4, "volume is negative"),
        ([*GOOD[:2], GOOD[1]], 4, "duplicate timestamp"),
        ([GOOD[1], GOOD[0], GOOD[2]], 3, "not sorted"),
        ([*GOOD[:2], "1609466400001,111,115,108,109,0"], 4, "not aligned"),
        ([*GOOD[:1], "1609462800000,105,112,101,nan,2", *GOOD[2:]], 3, "not a finite number"),
    ],
)
def test_bad_rows_name_file_line_and_problem(tmp_path: Path, rows: list[str], line: int, words: str) -> None:
    path = write(tmp_path, rows)
    with pytest.raises(CandleFileError) as exc:
        read_candle_file(path, timeframe="1h")
    assert exc.value.line == line
    assert words in str(exc.value)
    assert str(exc.value).startswith(f"{path}:{line}: ")


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CandleFileError, match="unexpected header"):
        read_candle_file(write(tmp_path, ["date,o,h,l,c,v"], header=False))
    with pytest.raises(CandleFileError, match="not found"):
        read_candle_file(tmp_path / "nope.csv")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(CandleFileError, match="empty"):
        read_candle_file(empty)


def test_gaps_are_reported_not_filled(shared_data: Path) -> None:
    s = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")
    gaps = gaps_of(s)
    # the provenance README lists 27 gaps with 127 missing candles for this file
    assert len(gaps) == 27
    assert sum(g.count for g in gaps) == 127
    assert len(s) == 46_981


def test_bundled_sample_is_the_last_two_years(shared_data: Path) -> None:
    sample = load_candles(sample_path())
    full = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")
    tail = full.between(int(sample.ts[0]), None)
    assert sample.ts[0] == 1609459200000  # 2021-01-01 00:00 UTC
    assert np.array_equal(sample.close, tail.close) and np.array_equal(sample.ts, tail.ts)


def test_directory_loading_picks_symbol_and_timeframe(shared_data: Path) -> None:
    eth = load_candles(shared_data, timeframe="1m", symbol="ETH/USDT")
    assert eth.symbol == "ETH/USDT" and eth.timeframe == "1m" and len(eth) == 42_915
