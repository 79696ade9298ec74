"""``tradewarden optimize --symbols``: one study per symbol on the real data, the chosen parameters written as
``strategy.per_symbol`` in a config file that a portfolio backtest reads as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import load_config
from tradewarden.optimize.paramsfile import load_params_file

runner = CliRunner()
SYMBOLS = ("BTC/USDT", "ETH/USDT")


@pytest.mark.slow
def test_one_study_per_symbol_and_their_parameters_as_strategy_per_symbol(shared_data: Path,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "opt"
    result = runner.invoke(app, ["optimize", "--symbols", ",".join(SYMBOLS), "--data", str(shared_data),
                                 "--timeframe", "1h", "--from", "2021-01-01", "--to", "2022-01-01",
                                 "--strategy", "donchian", "--trials", "4", "--windows", "3", "--seed", "1",
                                 "--storage", str(tmp_path / "studies.db"), "--study", "pair", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = {s: load_params_file(out / s.replace("/", "") / "params.json") for s in SYMBOLS}
    for sym, pf in files.items():  # each symbol its own study on its own candles
        assert pf.data.symbol == sym and pf.study.name == f"pair-{sym.replace('/', '')}"
        assert pf.study.completed_trials == 4
    assert files["BTC/USDT"].data.sha256 != files["ETH/USDT"].data.sha256
    cfg = load_config(out / "per_symbol.toml", {})
    assert cfg.market.traded_symbols == list(SYMBOLS) and cfg.market.timeframe == "1h"
    assert cfg.strategy.name == "donchian"
    assert cfg.strategy.per_symbol == {s: pf.params for s, pf in files.items()}
    assert (out / "per_symbol.toml").stat().st_mode & 0o777 == 0o600
    # a portfolio backtest run from that file trades each symbol with its own parameters
    run = tmp_path / "bt"
    result = runner.invoke(app, ["backtest", "--config", str(out / "per_symbol.toml"), "--data", str(shared_data),
                                 "--from", "2021-06-01", "--to", "2021-09-01", "--out", str(run)])
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())
    assert {s: p["params"] for s, p in summary["run"]["strategy_params"].items()} == \
        {s: pf.params for s, pf in files.items()}


@pytest.mark.parametrize(("extra", "message"), [
    (["--symbols", "BTCUSDT,ETH/USDT"], "must look like BASE/QUOTE"),
    (["--symbols", "BTC/USDT,BTC/USDT"], "BTC/USDT given twice"),
    (["--symbols", "BTC/USDT,ETH/USDT", "--symbol", "BTC/USDT"], "cannot be combined with --symbol"),
    (["--symbols", "BTC/USDT,ETH/USDT", "--worker"], "cannot be combined with --worker"),
])
def test_bad_symbols_are_one_clear_line_and_exit_code_2(tmp_path: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["optimize", "--storage", str(tmp_path / "s.db"), "--out", str(tmp_path / "o"),
                                 *extra])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
