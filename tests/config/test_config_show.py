"""``tradewarden config show``: effective config, masked secrets, the hash, every error with exit code 2."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config

KEY = "ShowKeyCanary0123456789abcdefABCDEF"
SECRET = "ShowSecretCanary98765"

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEWARDEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_show_prints_effective_config_and_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("strategy:\n  name: sma_cross\n")
    monkeypatch.setenv("TRADEWARDEN_MARKET__TIMEFRAME", "4h")
    args = ["config", "show", "--config", str(config), "--set", "strategy.params.fast=20"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    listing = tomllib.loads(result.stdout)  # the listing is valid TOML
    assert listing["strategy"] == {"name": "sma_cross", "params": {"fast": 20}}
    assert listing["market"]["timeframe"] == "4h"
    expected = config_hash(load_config(config, {"strategy.params.fast": "20"}))
    assert f"config hash (sha256 of the trading settings): {expected}" in result.stdout


def test_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", SECRET)
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert KEY not in result.output and SECRET not in result.output
    data = json.loads(result.stdout)
    assert data["config"]["exchange"]["api_key"] == "***"
    assert data["config"]["exchange"]["api_secret"] == "***"
    assert data["config_hash"] == config_hash(load_config())


def test_invalid_config_lists_every_bad_field_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[backtest]\nfee_taker_bps = -1\nequity_fraction = 0\n[market]\ntimeframe = "2m"\n')
    result = runner.invoke(app, ["config", "show", "--config", str(config), "--set", "logging.levle=DEBUG"])
    assert result.exit_code == 2
    assert "invalid configuration (4 problems)" in result.stderr
    for place in ("backtest.fee_taker_bps: must be >= 0 (got -1", "backtest.equity_fraction: must be > 0",
                  "market.timeframe: unknown timeframe",
                  "logging.levle: unknown setting (did you mean 'level'?"):
        assert place in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "novalue"], "expected key=value"),
    (["--config", "/nonexistent/tw.toml"], "config file not found"),
])
def test_bad_arguments_exit_2_with_one_clear_message(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["config", "show", *args])
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.startswith("error:")


def test_help_text() -> None:
    result = runner.invoke(app, ["config", "show", "--help"])
    assert result.exit_code == 0
    assert "--set" in result.output and "--json" in result.output and "--config" in result.output
