"""``tradewarden data ...`` (``data harness`` included) through typer's CliRunner."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.domain.candles import CandleSeries

runner = CliRunner()
Mk = Callable[..., CandleSeries]


DATA_HOME = tempfile.mkdtemp(prefix="tw-data-")  # keeps the default data dir (event journal) out of $HOME


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"XDG_DATA_HOME": DATA_HOME, "COLUMNS": "200"})


def json_rows(s: CandleSeries) -> str:
    return json.dumps(
        [[int(s.ts[i]), s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]] for i in range(len(s))]
    )


def test_help_texts() -> None:
    for args in (
        ["data", "--help"],
        ["data", "download", "--help"],
        ["data", "list", "--help"],
        ["data", "check", "--help"],
        ["data", "import", "--help"],
        ["data", "harness", "--help"],
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert "--" in result.output


def test_import_then_list_then_check(tmp_path: Path, mk: Mk) -> None:
    src = tmp_path / "ETH_USDT-5m.json"
    s = mk(100, timeframe="5m", symbol="ETH/USDT")
    keep = [i for i in range(100) if i not in (50, 51)]
    src.write_text(
        json.dumps(json.loads(json_rows(s))[:50] + [json.loads(json_rows(s))[i] for i in keep[50:]])
    )
    store = str(tmp_path / "store")
    result = invoke("data", "import", str(src), "--store", store)
    assert result.exit_code == 0, result.output
    assert "ETH/USDT" in result.output and "98" in result.output
    listed = invoke("data", "list", "--store", store)
    assert listed.exit_code == 0
    assert "binance" in listed.output and "5m" in listed.output and "98" in listed.output
    checked = invoke("data", "check", "--store", store)
    assert checked.exit_code == 0, checked.output  # gaps alone are not an error
    row = next(line for line in checked.output.splitlines() if "ETH/USDT" in line)
    assert row.split("│")[3].strip() == "1" and row.split("│")[4].strip() == "2"  # 1 gap, 2 missing


def test_check_file_counts_every_problem(tmp_path: Path) -> None:
    p = tmp_path / "BTCUSDT-1m-x.csv"
    p.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1704067260000,1,2,0.5,1.5,1\n1704067260000,1,2,0.5,1.5,1\n1704067320000,1,0.9,0.5,1.5,1\n"
        "1704067380000,1,2,0.5,1.5,1\n1704067500000,1,2,0.5,1.5,-1\n"
    )
    result = invoke("data", "check", str(p))
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if "BTCUSDT" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[2:7] == ["5", "1", "1", "1", "2"]  # rows, gaps, missing, duplicates, bad
    assert "duplicate timestamp" in result.output


def test_empty_store_and_bad_inputs(tmp_path: Path) -> None:
    assert "empty" in invoke("data", "list", "--store", str(tmp_path / "s")).output
    missing = invoke("data", "import", str(tmp_path / "nope.csv"), "--store", str(tmp_path / "s"))
    assert missing.exit_code == 2 and "not found" in missing.output
    bad_date = invoke(
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--from",
        "yesterday",
        "--store",
        str(tmp_path / "s"),
    )
    assert bad_date.exit_code == 2 and "--from 'yesterday' is not a date" in bad_date.output
    bad_tf = invoke(
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--from",
        "2024-01-01",
        "--timeframe",
        "7x",
        "--store",
        str(tmp_path / "s"),
    )
    assert bad_tf.exit_code == 2 and "unknown timeframe" in bad_tf.output
    bad_id = invoke(
        "data",
        "download",
        "--exchange",
        "nope",
        "--symbols",
        "BTC/USDT",
        "--from",
        "2024-01-01",
        "--store",
        str(tmp_path / "s"),
    )
    assert bad_id.exit_code == 2 and "unknown exchange id 'nope'" in bad_id.output


def test_exchange_options_with_keys_must_be_private(tmp_path: Path) -> None:
    opts = tmp_path / "ex.yaml"
    opts.write_text(yaml.safe_dump({"apiKey": "k", "secret": "s"}))
    os.chmod(opts, 0o644)
    result = invoke(
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--from",
        "2024-01-01",
        "--exchange-options",
        str(opts),
        "--store",
        str(tmp_path / "s"),
    )
    assert result.exit_code == 2 and "chmod 600" in result.output


# -- against the simulator -------------------------------------------------------------------------------
sim_testing = pytest.importorskip("tradewarden.simulator.testing")


@pytest.fixture(scope="module")
def running_sim() -> Iterator[Any]:
    """An accelerated simulator (one 1h candle a second), so WebSocket klines flow by themselves."""
    with sim_testing.start_simulator(
        symbols=["BTC/USDT", "ETH/USDT"], seed=1, start_index=300, speed=3600
    ) as h:
        yield h


def public_options(sim: Any, tmp_path: Path) -> Path:
    cfg = sim.ccxt_config()
    path = tmp_path / "sim.yaml"
    path.write_text(
        yaml.safe_dump({"urls": cfg["urls"], "options": cfg["options"], "enableRateLimit": False})
    )
    return path


def test_download_command_against_simulator(tmp_path: Path, running_sim: Any) -> None:
    store = str(tmp_path / "store")
    args = [
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT,ETH/USDT",
        "--timeframe",
        "1h",
        "--from",
        "2021-01-01",
        "--to",
        "2021-01-05",
        "--store",
        store,
        "--exchange-options",
        str(public_options(running_sim, tmp_path)),
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "BTC/USDT" in result.output and "ETH/USDT" in result.output and "96" in result.output
    again = invoke(*args)
    assert again.exit_code == 0
    row = next(line for line in again.output.splitlines() if "BTC/USDT" in line)
    assert row.split("│")[3].strip() == "0"  # resumed: nothing new to fetch
    unknown = invoke(
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbols",
        "DOGE/USDT",
        "--from",
        "2021-01-01",
        "--store",
        store,
        "--exchange-options",
        str(public_options(running_sim, tmp_path)),
    )
    assert unknown.exit_code == 2 and "no market 'DOGE/USDT'" in unknown.output


def test_harness_passes_against_simulator(tmp_path: Path, running_sim: Any) -> None:
    result = invoke(
        "data",
        "harness",
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--ws-deadline",
        "10",
        "--store",
        str(tmp_path / "store"),
        "--exchange-options",
        str(public_options(running_sim, tmp_path)),
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == 3
    assert "stored" in result.output
    listed = invoke("data", "list", "--store", str(tmp_path / "store"))
    assert "BTC/USDT" in listed.output


def test_harness_fails_for_unknown_symbol_and_dead_exchange(tmp_path: Path, running_sim: Any) -> None:
    result = invoke(
        "data",
        "harness",
        "--exchange",
        "binance",
        "--symbol",
        "NOPE/USDT",
        "--ws-deadline",
        "1",
        "--exchange-options",
        str(public_options(running_sim, tmp_path)),
    )
    assert result.exit_code == 1 and "FAIL" in result.output and "no market NOPE/USDT" in result.output
    dead = tmp_path / "dead.yaml"
    dead.write_text(
        yaml.safe_dump(
            {
                "urls": {
                    "api": {"public": "http://127.0.0.1:9/api/v3", "private": "http://127.0.0.1:9/api/v3"}
                },
                "options": {"fetchMarkets": {"types": ["spot"]}},
                "timeout": 2000,
            }
        )
    )
    result = invoke("data", "harness", "--exchange", "binance", "--exchange-options", str(dead), "--ws-deadline", "1")
    assert result.exit_code == 1 and "FAIL" in result.output


@pytest.mark.redis
def test_download_with_config_file_and_harness_with_redis(tmp_path: Path, running_sim: Any) -> None:
    cfg = running_sim.ccxt_config()
    config = tmp_path / "tradewarden.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "exchange": {"id": "binance", "urls": cfg["urls"], "options": cfg["options"]},
            }
        )
    )
    result = invoke(
        "data",
        "download",
        "--config",
        str(config),
        "--symbols",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--from",
        "2021-01-02",
        "--to",
        "2021-01-03",
    )
    assert result.exit_code == 0, result.output
    assert any((tmp_path / "data" / "candles" / "binance").rglob("*.arrow"))  # the config's data_dir
    listed = invoke("data", "list", "--config", str(config))
    assert "24" in listed.output

    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis not reachable")
    key = "candles:binance:ETHUSDT:1h"
    client.delete(key)
    try:
        result = invoke(
            "data",
            "harness",
            "--config",
            str(config),
            "--symbol",
            "ETH/USDT",
            "--timeframe",
            "1h",
            "--ws-deadline",
            "10",
            "--redis-url",
            "redis://127.0.0.1:6379/15",
        )
        assert result.exit_code == 0, result.output
        assert "cached" in result.output and client.zcard(key) > 0
    finally:
        client.delete(key)
        client.close()
