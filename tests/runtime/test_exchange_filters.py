"""Sessions trade with the exchange's filters (ccxt ``load_markets``), not the config's: against the built-in
simulator, which serves Binance's own filters per symbol (ETH/USDT: tick 0.01, step 0.0001, min notional 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = pytest.mark.slow

ETH = {"tick_size": "0.01", "step_size": "0.0001", "min_qty": "0.0001", "max_qty": "9000", "min_notional": "5"}
# equity-fraction sizing: quantities that land between ETH's steps unless the session uses them
STRATEGY = {"market.symbol": "ETH/USDT", "strategy.name": "sma_cross", "strategy.params.fast": "3",
            "strategy.params.slow": "8", "market.timeframe": "5m", "backtest.sizing": "equity_fraction",
            "backtest.equity_fraction": "0.3", "runtime.warmup_bars": "30"}
PAPER = ["--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false",
         *[arg for k, v in STRATEGY.items() for arg in ("--set", f"{k}={v}")]]


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def trading(evs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keep = ("OrderPlaced", "Fill", "PositionOpened", "PositionClosed", "OrderDenied", "OrderRejected")
    return [(e["type"], e["ts"], e.get("client_id"), e.get("qty"), e.get("price")) for e in evs if e["type"] in keep]


def on_grid(text: str, grid: str) -> bool:
    return Decimal(text) % Decimal(grid) == 0


def test_paper_session_on_eth_trades_on_the_exchanges_filters(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "paper"
    result = invoke("run", "--mode", "paper", "--duration", "6h", "--out", str(out), *PAPER)
    assert result.exit_code == 0, result.output
    evs = events(out)
    [seal] = [e for e in evs if e["type"] == "BOOT_SEAL"]
    assert seal["filters"] == {"ETH/USDT": ETH}
    fills = [e for e in evs if e["type"] == "Fill"]
    assert fills, [e["type"] for e in evs]
    # the config's default step (BTC's 0.00001) would size orders between ETH's steps
    assert all(on_grid(e["qty"], ETH["step_size"]) and on_grid(e["price"], ETH["tick_size"]) for e in fills)
    # stored with the account: the next run resumes on the same filters
    with Database.open(None, env) as db:
        stored = RuntimeStore(db, "paper:simulator:ETH/USDT:sma_cross").snapshot("instruments")
    assert stored == {"ETH/USDT": ETH}
    # and a replay of its recording trades on them too: the same orders and fills
    replay_dir = tmp_path / "replay"
    result = invoke("replay", str(out / "recording.jsonl"), "--out", str(replay_dir))
    assert result.exit_code == 0, result.output
    assert trading(events(replay_dir)) == trading(evs)


def test_a_config_filter_that_disagrees_with_the_exchange_refuses_to_start(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "paper"
    # BTC's step, set explicitly for ETH/USDT: the mistake that gets -1013 on a real exchange
    result = invoke("run", "--mode", "paper", "--duration", "1h", "--out", str(out), *PAPER,
                    "--set", "instrument.step_size=0.00001",
                    "--set", "instrument.tick_size=0.01")
    assert result.exit_code == 3, result.output
    evs = events(out)
    [refusal] = [e for e in evs if e["type"] == "FILTERS_MISMATCH"]
    assert refusal["differences"] == [{"symbol": "ETH/USDT", "field": "step_size", "ours": "0.00001",
                                       "exchange": "0.0001"}]
    assert "ETH/USDT step_size: config 0.00001, exchange 0.0001" in " ".join(result.output.split())
    assert "BOOT_SEAL" not in [e["type"] for e in evs]


def test_a_stored_session_on_other_filters_is_not_resumed(env: Path, tmp_path: Path) -> None:
    account = "paper:simulator:ETH/USDT:sma_cross"
    with Database.open(None, env) as db, RuntimeStore(db, account).step() as w:
        # a session interrupted (not completed) while the exchange's ETH step was 0.001
        w.save_snapshot("session", {"completed": False, "engine": {}}, 1)
        w.save_snapshot("instruments", {"ETH/USDT": {**ETH, "step_size": "0.001"}}, 1)
    out = tmp_path / "paper"
    result = invoke("run", "--mode", "paper", "--duration", "1h", "--out", str(out), *PAPER)
    assert result.exit_code == 3, result.output
    [refusal] = [e for e in events(out) if e["type"] == "FILTERS_CHANGED"]
    assert refusal["differences"] == [{"symbol": "ETH/USDT", "field": "step_size", "ours": "0.001",
                                       "exchange": "0.0001"}]
    assert "ETH/USDT step_size: stored 0.001, exchange 0.0001" in " ".join(result.output.split())


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), symbols=["ETH/USDT"], speed=3000, seed=3, start_index=200,
                         balances={"USDT": "100000", "ETH": "0"}) as handle:
        yield handle


def test_live_session_on_eth_books_exactly_what_the_exchange_executes(env: Path, sim: SimulatorHandle, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    conf = sim.ccxt_config()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", sim.api_key)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", sim.secret)
    out = tmp_path / "live"
    hash_ = config_hash(load_config(cfg, dict(STRATEGY)))
    result = CliRunner().invoke(app, ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_,
                                      "--duration", "2h", "--out", str(out),
                                      *[arg for k, v in STRATEGY.items() for arg in ("--set", f"{k}={v}")]])
    assert result.exit_code == 0, result.output
    evs = events(out)
    placed = [e for e in evs if e["type"] == "OrderPlaced"]
    assert placed, [e["type"] for e in evs]
    # no -1013: every order reached the exchange's book and executions were booked
    assert not [e for e in evs if e["type"] == "OrderRejected"], [e for e in evs if e["type"] == "OrderRejected"]
    # ccxt would cut a quantity off ETH's grid down to it before sending: the bot's books would then hold more
    # than the exchange executed; on the exchange's grid, they hold exactly what it did
    assert all(on_grid(e["qty"], ETH["step_size"]) for e in placed)
    trades = ccxt.binance(sim.ccxt_config()).fetch_my_trades("ETH/USDT")
    booked = [e for e in evs if e["type"] == "Fill"]
    assert trades and len(trades) == len(booked)
    assert sum(Decimal(str(t["amount"])) for t in trades) == sum(Decimal(e["qty"]) for e in booked)
    [seal] = [e for e in evs if e["type"] == "BOOT_SEAL"]
    assert seal["filters"] == {"ETH/USDT": ETH}
