"""``tradewarden config show``: effective config, masked secrets, the hash, every error with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config, load_run_config

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
    assert listing["strategy"] == {"name": "sma_cross", "params": {"fast": 20}, "per_symbol": {}}
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
    assert data["config_hash"] == load_run_config().config_hash


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


def test_invalid_risk_section_exits_2_with_every_problem_of_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[backtest]\nfee_taker_bps = -1\nequity_fraction = 0\n[market]\ntimeframe = "2m"\n'
                      '[risk]\nrisk_per_trade_pct = -1\nmax_daily_loss_pct = 150\nmax_open_positions = 0\n'
                      'active_stage = "nope"\n[risk.breakers.drawdown]\nactoin = "HALTED"\n')
    result = runner.invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "config hash" not in result.stdout
    assert "invalid configuration (8 problems)" in result.stderr
    for place in ("backtest.fee_taker_bps: must be >= 0", "backtest.equity_fraction: must be > 0",
                  "market.timeframe: unknown timeframe",
                  f"risk.risk_per_trade_pct: must be > 0 (got -1, from {config})",
                  f"risk.max_daily_loss_pct: must be <= 100 (got 150, from {config})",
                  "risk.max_open_positions: must be > 0 (got 0",
                  "risk.breakers.drawdown.actoin: unknown setting (did you mean 'action'?)",
                  "risk.active_stage: not one of the stages (none defined) (got nope"):
        assert place in result.stderr


def _run_session_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env.update(TRADEWARDEN_DATA_DIR=str(tmp_path / "data"), LIVE_TRADING="YES_I_UNDERSTAND")
    return subprocess.run([sys.executable, "-m", "tradewarden.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("config_text", [
    None,                                      # no file: run trades the simulator on its own timeframe
    "[strategy]\nname = \"sma_cross\"\n",      # a file that leaves the timeframe to the session
    "[exchange]\nid = \"binance\"\n[risk]\nrisk_per_trade_pct = 1\n",
])
def test_the_hash_config_show_prints_is_the_one_run_checks(tmp_path: Path, config_text: str | None) -> None:
    args: list[str] = []
    if config_text is not None:
        (tmp_path / "c.toml").write_text(config_text)
        args = ["--config", str(tmp_path / "c.toml")]
    shown = _run_session_cli(["config", "show", "--json", *args], tmp_path)
    assert shown.returncode == 0, shown.stderr
    digest = json.loads(shown.stdout)["config_hash"]

    live = _run_session_cli(["run", "--mode", "live", "--live-confirm", digest, "--out", str(tmp_path / "run"),
                             *args], tmp_path)
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    refused = [e for e in events if e["type"] == "LIVE_ARM_FAILED"]
    # no keys here, so the gate refuses after the hash check: never because of the hash
    assert refused and refused[0]["reason"] != "CONFIRM_MISMATCH", live.stdout + live.stderr
    assert refused[0]["config_hash"] == digest


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
