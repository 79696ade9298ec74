"""Live sessions against the exchange simulator through ccxt: orders really reach the (simulated) exchange."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
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


def sim_config_file(tmp_path: Path, sim: SimulatorHandle) -> Path:
    """A config pointing the bot at the simulator (JSON is valid YAML)."""
    conf = sim.ccxt_config()
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    return path


def overrides_args(extra: dict[str, str] | None = None) -> list[str]:
    args: list[str] = []
    for k, v in {**STRATEGY, **(extra or {})}.items():
        args += ["--set", f"{k}={v}"]
    return args


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), speed=3000, seed=3, start_index=200, fee_rate="0",
                         balances={"USDT": "100000", "BTC": "0"}) as handle:
        yield handle


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIVE_TRADING", raising=False)
    return {}


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def arm(monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle) -> None:
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", sim.api_key)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", sim.secret)


def run_live(tmp_path: Path, cfg: Path, out: Path, *extra: str) -> Any:
    hash_ = config_hash(load_config(cfg, {k: v for k, v in STRATEGY.items()}))
    return CliRunner().invoke(app, ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_,
                                    "--duration", "2h", "--out", str(out), *overrides_args(), *extra])


def test_live_session_sends_each_order_once_to_the_exchange(env: dict[str, str], sim: SimulatorHandle,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = sim_config_file(tmp_path, sim)
    arm(monkeypatch, sim)
    out = tmp_path / "live"
    result = run_live(tmp_path, cfg, out)
    assert result.exit_code == 0, result.output
    evs = events(out)
    types = [e["type"] for e in evs]
    assert "BOOT_SEAL" in types and "ReconcileOk" in types
    placed = [e["client_id"] for e in evs if e["type"] == "OrderPlaced"]
    assert placed, types
    exchange = ccxt.binance(sim.ccxt_config())
    exchange.load_markets()
    # every order the bot placed is on the exchange exactly once, under its client order id
    assert sim.state()["orders"] == len(set(placed)) == len(placed)
    for cid in placed:
        found = exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": cid})
        assert found["clientOrderId"] == cid
    # and every execution on the exchange was booked once
    trades = exchange.fetch_my_trades("BTC/USDT")
    booked = [e for e in evs if e["type"] == "Fill"]
    assert len(booked) == len(trades)
    assert sorted(str(t["price"]) for t in trades) == sorted(str(float(e["price"])) for e in booked)


def test_order_placed_behind_the_bots_back_halts_it(env: dict[str, str], sim: SimulatorHandle, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = sim_config_file(tmp_path, sim)
    arm(monkeypatch, sim)
    intruder = ccxt.binance(sim.ccxt_config())
    intruder.load_markets()
    price = float(intruder.fetch_ticker("BTC/USDT")["last"])
    intruder.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.5, 2), {"newClientOrderId": "manual-1"})
    out = tmp_path / "live"
    result = run_live(tmp_path, cfg, out)
    assert result.exit_code == 0, result.output
    evs = events(out)
    mismatch = [e for e in evs if e["type"] == "RECONCILE_MISMATCH"]
    assert mismatch and mismatch[0]["mismatches"][0]["kind"] == "UNKNOWN_OPEN_ORDER"
    assert mismatch[0]["mismatches"][0]["subject"] == "manual-1"
    assert "HALTED_OPS" in [e["type"] for e in evs]
    assert "manual-1" in result.output
    # halted: the gate denies every entry the strategy wants
    assert not [e for e in evs if e["type"] == "OrderPlaced"]
    assert [e for e in evs if e["type"] == "OrderDenied"]
