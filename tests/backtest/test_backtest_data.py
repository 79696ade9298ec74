"""Which candles ``tradewarden backtest`` runs on: the symbol is checked against the data, a directory is read
at the requested timeframe, and what ``data import`` / ``data download`` stored is usable as ``--data``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.data import CandleFileError, load_candles, resample, sample_path

runner = CliRunner()
HOUR = 3_600_000


def cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "TRADEWARDEN_DATA_DIR": str(tmp_path / "dd"), "COLUMNS": "250"}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output.replace("\n", "")


def run_info(out: Path) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((out / "summary.json").read_text())["run"]
    return info


def same_run(tmp_path: Path, out: Path, data: Path, *args: str) -> None:
    """The run in ``out`` has the metrics of the same backtest run on ``data``: it traded those candles."""
    ref = tmp_path / "reference"
    code, output = cli(tmp_path, "backtest", "--data", str(data), *args, "--out", str(ref))
    assert code == 0, output
    got = json.loads((out / "summary.json").read_text())["metrics"]
    want = json.loads((ref / "summary.json").read_text())["metrics"]
    assert got == want and got["trade_count"]["value"] > 0  # trades: the prices were used, not only the count
    assert (out / "trades.csv").read_text() == (ref / "trades.csv").read_text()


# -- point 7: a symbol the data does not hold is an error naming what it holds ---------------------------
def test_a_symbol_the_bundled_sample_does_not_hold_is_refused(tmp_path: Path) -> None:
    code, output = cli(tmp_path, "backtest", "--symbol", "ETH/USDT", "--out", str(tmp_path / "r"))
    assert code == 2, output
    assert "the bundled sample holds BTC/USDT only, not ETH/USDT" in output
    assert not (tmp_path / "r").exists()


def test_a_symbol_a_file_does_not_hold_is_refused(tmp_path: Path) -> None:
    code, output = cli(tmp_path, "backtest", "--data", str(sample_path()), "--symbol", "ETH/USDT",
                       "--out", str(tmp_path / "r"))
    assert code == 2, output
    assert f"{sample_path()}: holds BTC/USDT candles (by its name), not ETH/USDT" in output


def test_a_symbol_a_directory_does_not_hold_is_refused_naming_the_symbols_it_holds(
    tmp_path: Path, shared_data: Path
) -> None:
    code, output = cli(tmp_path, "backtest", "--data", str(shared_data), "--symbol", "SOL/USDT",
                       "--out", str(tmp_path / "r"))
    assert code == 2, output
    assert "no SOL/USDT candle files in directory; it holds BTC/USDT, ETH/USDT" in output


# -- point 8: a directory with several timeframes of one symbol ------------------------------------------
def test_a_directory_of_several_timeframes_is_read_at_the_requested_one(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "r"
    code, output = cli(tmp_path, "backtest", "--data", str(shared_data), "--timeframe", "1h",
                       "--from", "2022-03-01", "--to", "2022-03-08", "--out", str(out))
    assert code == 0, output
    info = run_info(out)
    assert info["symbol"] == "BTC/USDT" and info["bars"] == 7 * 24
    assert info["first_candle"] == "2022-03-01T00:00:00Z" and info["last_candle"] == "2022-03-07T23:00:00Z"
    same_run(tmp_path, out, shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv", "--timeframe", "1h",
             "--from", "2022-03-01", "--to", "2022-03-08")


def test_a_timeframe_no_file_holds_is_made_from_the_nearest_finer_one(tmp_path: Path, shared_data: Path) -> None:
    # no 4h files: the 1h files are resampled (the 5m and 1m files cover no day of 2018)
    out = tmp_path / "r"
    sma = ("--strategy", "sma_cross", "--param", "fast=3", "--param", "slow=8")
    code, output = cli(tmp_path, "backtest", "--data", str(shared_data), "--symbol", "ETH/USDT", "--timeframe", "4h",
                       "--from", "2018-03-01", "--to", "2018-03-11", *sma, "--out", str(out))
    assert code == 0, output
    info = run_info(out)
    assert info["symbol"] == "ETH/USDT" and info["timeframe"] == "4h" and info["bars"] == 60
    same_run(tmp_path, out, shared_data / "ETHUSDT-1h-2017-08-17_2022-07-11.csv", "--symbol", "ETH/USDT",
             "--timeframe", "4h", "--from", "2018-03-01", "--to", "2018-03-11", *sma)


def test_overlapping_files_that_disagree_are_named(tmp_path: Path) -> None:
    rows = [f"{1_704_067_200_000 + i * HOUR},100,101,99,100.5,1" for i in range(48)]
    head = "timestamp,open,high,low,close,volume\n"
    (tmp_path / "BTCUSDT-1h-a.csv").write_text(head + "\n".join(rows[:30]) + "\n")
    changed = rows[20:].copy()
    changed[5] = changed[5].replace("100.5", "100.7")  # 2024-01-02 01:00
    (tmp_path / "BTCUSDT-1h-b.csv").write_text(head + "\n".join(changed) + "\n")
    with pytest.raises(CandleFileError) as exc:
        load_candles(tmp_path, "1h", "BTC/USDT")
    assert "BTCUSDT-1h-a.csv and BTCUSDT-1h-b.csv overlap and disagree about the 2024-01-02 01:00 UTC candle" in str(
        exc.value)
    (tmp_path / "BTCUSDT-1h-b.csv").write_text(head + "\n".join(rows[20:]) + "\n")  # the same candles: merged
    merged = load_candles(tmp_path, "1h", "BTC/USDT")
    assert merged.ts.tolist() == [1_704_067_200_000 + i * HOUR for i in range(48)]


def test_a_directory_without_a_timeframe_names_the_timeframes_it_holds(shared_data: Path) -> None:
    with pytest.raises(CandleFileError, match=r"holds ETH/USDT at several timeframes \(1m \(ETHUSDT-1m-"):
        load_candles(shared_data, None, "ETH/USDT")


# -- point 8: what data import / data download stored is usable as --data --------------------------------
def test_candles_imported_into_the_store_are_backtested_from_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, output = cli(tmp_path, "data", "import", str(sample_path()), "--data-dir", str(data_dir))
    assert code == 0, output
    out = tmp_path / "r"
    code, output = cli(tmp_path, "backtest", "--data", str(data_dir), "--timeframe", "4h",
                       "--from", "2022-01-01", "--out", str(out))
    assert code == 0, output
    info = run_info(out)
    want = resample(load_candles(sample_path()), "4h").between(1_640_995_200_000, None)
    assert info["bars"] == len(want) and info["first_candle"] == "2022-01-01T00:00:00Z"
    same_run(tmp_path, out, sample_path(), "--timeframe", "4h", "--from", "2022-01-01")
    code, output = cli(tmp_path, "backtest", "--data", str(data_dir / "candles"), "--symbol", "ETH/USDT",
                       "--out", str(tmp_path / "r2"))
    assert code == 2 and "the candle store holds no ETH/USDT candles; it holds BTC/USDT" in output


sim_testing = pytest.importorskip("tradewarden.simulator.testing")


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with sim_testing.start_simulator(symbols=["BTC/USDT"], seed=1, start_index=300) as handle:
        yield handle


@pytest.mark.slow
def test_candles_downloaded_into_the_store_are_backtested_from_it(tmp_path: Path, sim: Any) -> None:
    cfg = sim.ccxt_config()
    options = tmp_path / "sim.yaml"
    options.write_text(yaml.safe_dump({"urls": cfg["urls"], "options": cfg["options"], "enableRateLimit": False}))
    store = tmp_path / "store"
    code, output = cli(tmp_path, "data", "download", "--exchange", "binance", "--symbols", "BTC/USDT",
                       "--timeframe", "1h", "--from", "2021-01-01", "--to", "2021-01-06", "--store", str(store),
                       "--exchange-options", str(options))
    assert code == 0, output
    out = tmp_path / "r"
    code, output = cli(tmp_path, "backtest", "--data", str(store), "--timeframe", "1h", "--strategy", "sma_cross",
                       "--param", "fast=3", "--param", "slow=8", "--out", str(out))
    assert code == 0, output
    info = run_info(out)
    assert info["bars"] == 5 * 24 and info["first_candle"] == "2021-01-01T00:00:00Z"
    served = [c for c in sim.closed_candles("BTC/USDT") if 1_609_459_200_000 <= c.ts < 1_609_891_200_000]
    csv = tmp_path / "BTCUSDT-1h-served.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{c.ts},{c.open},{c.high},{c.low},{c.close},{c.volume}\n" for c in served))
    same_run(tmp_path, out, csv, "--timeframe", "1h", "--strategy", "sma_cross", "--param", "fast=3",
             "--param", "slow=8")
