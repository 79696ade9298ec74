"""Live boot against the simulator given explicitly in ``exchange.urls``: BOOT_SEAL names it, and the boot
refuses (exit 3, ``LIVE_ARM_FAILED``) a key that can withdraw and an account that cannot fund one order."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = pytest.mark.slow

STRATEGY = {"strategy.name": "sma_cross", "strategy.params.fast": "3", "strategy.params.slow": "8",
            "market.timeframe": "5m", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.01",
            "runtime.warmup_bars": "30"}


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def one(evs: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    (found,) = [e for e in evs if e["type"] == type_]
    return found


def run_live(tmp_path: Path, sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, out: Path,
             extra: dict[str, str] | None = None) -> Any:
    """A live session configured like a user would: exchange.id binance, exchange.urls at the simulator."""
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", sim.api_key)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", sim.secret)
    conf = sim.ccxt_config()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    overrides = {**STRATEGY, **(extra or {})}
    args = ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", config_hash(load_config(cfg, overrides)),
            "--duration", "30m", "--out", str(out)]
    for key, value in overrides.items():
        args += ["--set", f"{key}={value}"]
    return CliRunner().invoke(app, args)


def test_live_against_the_simulator_given_in_exchange_urls_runs_and_boot_seal_names_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_simulator(data=sample_1m_path(), speed=3000, seed=3, start_index=200,
                         balances={"USDT": "100000", "BTC": "0"}) as sim:
        out = tmp_path / "live"
        result = run_live(tmp_path, sim, monkeypatch, out)
        assert result.exit_code == 0, result.output
        evs = events(out)
        seal = one(evs, "BOOT_SEAL")
        assert seal["mode"] == "live"
        assert seal["exchange"] == f"binance via simulator at {sim.base_url}" and seal["exchange_simulated"] is True
        checks = one(evs, "SAFETY_CHECKS")
        assert checks["key_can_withdraw"] is False and checks["withdrawal_keys_allowed"] is False
        assert Decimal(checks["free_quote"]) == Decimal("100000") and checks["quote"] == "USDT"
        assert Decimal(checks["min_order_quote"]) >= Decimal("5")  # the instrument's min_notional
        assert "LIVE_ARM_FAILED" not in [e["type"] for e in evs] and "RunFinished" in [e["type"] for e in evs]
        # the permission check reached the simulator, not api.binance.com
        assert "/sapi/v1/account/apiRestrictions" in [r["path"] for r in sim.requests_log()]


def test_live_refuses_a_key_that_can_withdraw_unless_the_config_allows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_simulator(data=sample_1m_path(), speed=3000, seed=3, start_index=200,
                         balances={"USDT": "100000", "BTC": "0"}, key_can_withdraw=True) as sim:
        out = tmp_path / "refused"
        result = run_live(tmp_path, sim, monkeypatch, out)
        assert result.exit_code == 3, result.output
        evs = events(out)
        assert one(evs, "SAFETY_CHECKS")["key_can_withdraw"] is True
        failed = one(evs, "LIVE_ARM_FAILED")
        assert failed["reason"] == "KEY_CAN_WITHDRAW" and "exchange.allow_withdrawal_keys" in failed["message"]
        assert "WarmUpDone" not in [e["type"] for e in evs]
        assert sim.state()["orders"] == 0

        allowed = {"exchange.allow_withdrawal_keys": "true"}
        assert config_hash(load_config(None, allowed)) != config_hash(load_config(None, {}))  # a hashed setting
        out = tmp_path / "allowed"
        result = run_live(tmp_path, sim, monkeypatch, out, allowed)
        assert result.exit_code == 0, result.output
        checks = one(events(out), "SAFETY_CHECKS")
        assert checks["key_can_withdraw"] is True and checks["withdrawal_keys_allowed"] is True


def test_live_refuses_an_account_that_cannot_fund_one_minimum_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_simulator(data=sample_1m_path(), speed=3000, seed=3, start_index=200,
                         balances={"USDT": "3", "BTC": "0"}) as sim:
        out = tmp_path / "live"
        result = run_live(tmp_path, sim, monkeypatch, out)
        assert result.exit_code == 3, result.output
        evs = events(out)
        checks = one(evs, "SAFETY_CHECKS")
        assert Decimal(checks["free_quote"]) == Decimal(3) and Decimal(checks["base_held"]) == 0
        assert Decimal(checks["min_order_quote"]) >= Decimal(5)
        failed = one(evs, "LIVE_ARM_FAILED")
        assert failed["reason"] == "INSUFFICIENT_BALANCE" and "USDT 3" in failed["message"]
        assert "WarmUpDone" not in [e["type"] for e in evs]
        assert sim.state()["orders"] == 0
