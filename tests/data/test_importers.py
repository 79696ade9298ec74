"""Importing files into the store: uniform CSV, Binance kline CSV/zip, freqtrade json/json.gz/feather."""

from __future__ import annotations

import gzip
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from tradewarden.data.files import CandleFileError
from tradewarden.data.importers import import_files, read_any
from tradewarden.data.store_arrow import ArrowCandleStore
from tradewarden.domain.candles import CandleSeries

Mk = Callable[..., CandleSeries]


def rows(s: CandleSeries) -> list[list[float]]:
    return [[int(s.ts[i]), s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]] for i in range(len(s))]


def write_freqtrade_feather(path: Path, s: CandleSeries) -> None:
    table = pa.table(
        {
            "date": pa.array(s.ts * 1_000_000, type=pa.timestamp("ns", tz="UTC")),
            "open": s.open,
            "high": s.high,
            "low": s.low,
            "close": s.close,
            "volume": s.volume,
        }
    )
    feather.write_feather(table, path)


def test_freqtrade_json_gz_and_feather_read_with_symbol_and_timeframe_from_name(
    tmp_path: Path, mk: Mk
) -> None:
    s = mk(30, timeframe="5m")
    (tmp_path / "ETH_USDT-5m.json").write_text(json.dumps(rows(s)))
    (tmp_path / "SOL_USDT-5m.json.gz").write_bytes(gzip.compress(json.dumps(rows(s)).encode()))
    write_freqtrade_feather(tmp_path / "BTC_USDT_USDT-5m-futures.feather", s)
    for name, symbol in [
        ("ETH_USDT-5m.json", "ETH/USDT"),
        ("SOL_USDT-5m.json.gz", "SOL/USDT"),
        ("BTC_USDT_USDT-5m-futures.feather", "BTC/USDT:USDT"),
    ]:
        got = read_any(tmp_path / name)
        assert (got.symbol, got.timeframe) == (symbol, "5m")
        assert np.array_equal(got.ts, s.ts) and np.allclose(got.close, s.close)


def test_import_directory_of_mixed_formats_into_store(tmp_path: Path, mk: Mk) -> None:
    src = tmp_path / "src"
    src.mkdir()
    s = mk(50, timeframe="1h")
    (src / "ETH_USDT-1h.json").write_text(json.dumps(rows(s)))
    lines = "\n".join(
        f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]},{r[0] + 3_599_999},0,1,0,0,0" for r in rows(s)
    )
    with zipfile.ZipFile(src / "BTCUSDT-1h-2024-01.zip", "w") as zf:
        zf.writestr("BTCUSDT-1h-2024-01.csv", lines + "\n")
    store = ArrowCandleStore(tmp_path / "store")
    done = import_files(store, "binance", src)
    assert sorted((d.symbol, d.rows) for d in done) == [("BTC/USDT", 50), ("ETH/USDT", 50)]
    assert np.allclose(store.load("binance", "BTC/USDT", "1h").close, s.close)


def test_import_shared_uniform_csv(tmp_path: Path, shared_data: Path) -> None:
    store = ArrowCandleStore(tmp_path)
    (done,) = import_files(store, "binance", shared_data / "BTCUSDT-1m-2024-04-02_2024-04-07.csv")
    assert (done.symbol, done.timeframe, done.rows) == ("BTC/USDT", "1m", 7207)
    (info,) = store.series()
    assert info.count == 7207 and info.gaps == []


def test_bad_file_stops_import_before_any_write(tmp_path: Path, mk: Mk) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "AAA_USDT-1m.json").write_text(json.dumps(rows(mk(5))))
    bad = rows(mk(5))
    bad[3][2] = -1.0  # negative high
    (src / "BBB_USDT-1m.json").write_text(json.dumps(bad))
    store = ArrowCandleStore(tmp_path / "store")
    with pytest.raises(CandleFileError, match=r"BBB_USDT-1m.json: row 3: prices must be positive"):
        import_files(store, "binance", src)
    assert store.series() == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("X_USDT-1m.json", "{not json", "invalid JSON"),
        ("X_USDT-1m.json", '{"a": 1}', "expected a JSON array"),
        ("X_USDT-1m.json", "[[1, 2, 3]]", "row 0: expected"),
        ("whatever.json", "[]", "cannot tell the symbol"),
        ("X_USDT-7x.json", "[]", "cannot tell the timeframe"),
        ("X_USDT-1m.feather", "nope", "not a readable feather file"),
        ("X_USDT-1m.parquet", "", "unsupported file type"),
    ],
)
def test_malformed_files_name_file_and_problem(tmp_path: Path, name: str, content: str, message: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(CandleFileError, match=message) as err:
        read_any(p)
    assert str(p) in str(err.value)


def test_feather_without_date_column(tmp_path: Path) -> None:
    p = tmp_path / "X_USDT-1m.feather"
    feather.write_feather(pa.table({"open": [1.0]}), p)
    with pytest.raises(CandleFileError, match="missing column"):
        read_any(p)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(CandleFileError, match="not found"):
        import_files(ArrowCandleStore(tmp_path), "binance", tmp_path / "nope")
