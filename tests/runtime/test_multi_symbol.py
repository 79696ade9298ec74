"""`tradewarden run --symbols` end to end against the built-in simulator through ccxt: several symbols on one
portfolio in one process, trading per symbol exactly as the portfolio backtest's steps of the same candles."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
FAST = ["--symbols", ",".join(SYMBOLS), "--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8"]


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def portfolio_backtest_fills(run_dir: Path, tmp_path: Path) -> tuple[dict[str, list[tuple[Any, ...]]], int]:
    """The fills per symbol of the portfolio backtest's per-candle steps over the session's recorded candles
    (its warm-up as history), on the filters the session recorded; and its steps with a position."""
    from tradewarden.backtest.portfolio import Market, PortfolioStepper
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.config import load_config
    from tradewarden.domain.candles import Candle, CandleSeries
    from tradewarden.domain.instrument import Instrument
    from tradewarden.observability import EventJournal
    from tradewarden.risk import RiskManager, load_risk_config
    from tradewarden.runtime.recording import open_recording
    from tradewarden.strategies import load_strategy

    rec = open_recording(run_dir / "recording.jsonl")
    filters = rec.header["filters"]
    instruments = {s: replace(Instrument.default_spot(s), tick_size=Decimal(filters[s]["tick_size"]),
                              step_size=Decimal(filters[s]["step_size"]), min_qty=Decimal(filters[s]["min_qty"]),
                              max_qty=Decimal(filters[s]["max_qty"]), min_notional=Decimal(filters[s]["min_notional"]))
                   for s in SYMBOLS}
    warm: dict[str, list[Candle]] = defaultdict(list)
    for symbol, _, candle in rec.candles(warmup=True):
        warm[symbol].append(candle)
    steps: dict[int, dict[str, Candle]] = defaultdict(dict)
    for symbol, _, candle in rec.candles():
        steps[candle.ts][symbol] = candle
    cfg = load_config(None, {"strategy.name": "sma_cross"})
    markets = [Market(CandleSeries.from_candles(warm[s], s, "5m"), instruments[s],
                      load_strategy("sma_cross", {"fast": 3, "slow": 8})) for s in SYMBOLS]
    with EventJournal(tmp_path / "backtest-events.jsonl") as journal:
        risk = RiskManager(load_risk_config(cfg.risk), journal, instruments=instruments)
        stepper = PortfolioStepper(markets, BacktestSettings.from_config(cfg.backtest), journal, check=risk,
                                   risk=risk)
        for engine, s in zip(stepper.engines, SYMBOLS, strict=True):
            engine.warm_up(warm[s])
        for ts in sorted(steps):
            stepper.step(ts, steps[ts])
    out: dict[str, list[tuple[Any, ...]]] = {}
    for engine, s in zip(stepper.engines, SYMBOLS, strict=True):
        inst = engine.instrument
        out[s] = [(f.ts, f.client_id, f.side.value, inst.steps_text(inst.to_steps(f.qty)),
                   inst.ticks_text(inst.to_ticks(f.price))) for f in engine.fills]
    return out, stepper.exposed_steps


def test_paper_session_of_two_symbols_trades_like_a_portfolio_backtest_and_reports_each(env: Path,
                                                                                       tmp_path: Path) -> None:
    out = tmp_path / "paper"
    result = CliRunner().invoke(app, ["run", "--mode", "paper", "--duration", "6h", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    evs = events(out)
    started = next(e for e in evs if e["type"] == "RunStarted")
    assert started["symbols"] == SYMBOLS
    assert next(e for e in evs if e["type"] == "BOOT_SEAL")["symbols"] == SYMBOLS
    session: dict[str, list[tuple[Any, ...]]] = {s: [] for s in SYMBOLS}
    for e in evs:
        if e["type"] == "Fill":
            session[e["symbol"]].append((e["ts"], e["client_id"], e["side"], e["qty"], e["price"]))
    assert all(session[s] for s in SYMBOLS), "a symbol made no fills: the comparison would prove little"
    backtest_fills, exposed_steps = portfolio_backtest_fills(out, tmp_path)
    assert session == backtest_fills
    # the simulator replays the sample at another price for the second symbol: not one market twice
    fills = [e for e in evs if e["type"] == "Fill"]
    assert {e["price"] for e in fills if e["symbol"] == "BTC/USDT"}.isdisjoint(
        {e["price"] for e in fills if e["symbol"] == "ETH/USDT"})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["portfolio"]["symbols"] == SYMBOLS
    assert set(summary["symbols"]) == set(SYMBOLS)
    closed = {s: sum(1 for e in evs if e["type"] == "PositionClosed" and e["symbol"] == s) for s in SYMBOLS}
    assert {s: summary["symbols"][s]["trades"] for s in SYMBOLS} == closed
    trades_csv = (out / "trades.csv").read_text()
    assert all(s in trades_csv for s in SYMBOLS)
    equity = (out / "equity.csv").read_text().splitlines()
    assert len(equity) - 1 == summary["portfolio"]["steps"]
    # exposure: the steps holding any position, as the portfolio backtest counts them (not one symbol's bars)
    assert 0 < exposed_steps < summary["portfolio"]["steps"]
    assert summary["portfolio"]["exposed_steps"] == exposed_steps
    assert summary["metrics"]["exposure"]["value"] == pytest.approx(100 * exposed_steps / summary["portfolio"]["steps"],
                                                                    abs=1e-3)
    # replay: the recording of every symbol through the portfolio steps gives the session's trading events
    replay_dir = tmp_path / "replay"
    result = CliRunner().invoke(app, ["replay", str(out / "recording.jsonl"), "--out", str(replay_dir)])
    assert result.exit_code == 0, result.output
    assert trading(events(replay_dir)) == trading(evs)


def trading(evs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keep = ("OrderPlaced", "Fill", "PositionOpened", "PositionClosed", "OrderDenied", "OrderRejected")
    return [(e["type"], e["ts"], e.get("symbol"), e.get("client_id"), e.get("qty"), e.get("price"))
            for e in evs if e["type"] in keep]


def test_kill_switch_halts_every_symbol_of_a_running_session(env: Path, tmp_path: Path) -> None:
    """Turned on from another command once both symbols have traded: from then on no symbol opens a position,
    and every symbol ends flat."""
    import threading
    import time

    out = tmp_path / "paper"
    seen: dict[str, Any] = {}

    def operator() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log = out / "events.jsonl"
            text = log.read_text() if log.exists() else ""
            opened = {json.loads(line)["symbol"] for line in text.splitlines() if '"PositionOpened"' in line}
            if opened == set(SYMBOLS):
                break
            time.sleep(0.02)
        seen["switch"] = CliRunner().invoke(app, ["kill-switch", "on", "--reason", "drill", "--data-dir", str(env)])

    thread = threading.Thread(target=operator)
    thread.start()
    result = CliRunner().invoke(app, ["run", "--mode", "paper", "--duration", "12h", "--out", str(out),
                                      *FAST[:2], "--set", "runtime.sim_speed=1200", *FAST[4:]])
    thread.join()
    assert result.exit_code == 0, result.output
    assert seen["switch"].exit_code == 0, seen["switch"].output
    evs = events(out)
    types = [e["type"] for e in evs]
    assert "KillSwitchActivated" in types, "the running session never saw the kill switch"
    after = evs[types.index("KillSwitchActivated"):]
    assert not [e for e in after if e["type"] == "PositionOpened"]
    summary = json.loads((out / "summary.json").read_text())
    assert all(Decimal(summary["symbols"][s]["position"]) == 0 for s in SYMBOLS)


def test_scheduled_reoptimization_of_a_portfolio_is_refused_as_configuration(env: Path, tmp_path: Path) -> None:
    from tests.conftest import params_file

    out = tmp_path / "paper"
    params = params_file(tmp_path / "params.json", 3, 8)
    result = CliRunner().invoke(app, ["run", "--mode", "paper", "--duration", "1h", "--out", str(out), *FAST,
                                      "--set", f"strategy.params_file={params}", "--set", "reoptimize.every_days=7"])
    assert result.exit_code == 2, result.output
    assert "reoptimize.every_days works on a session of one symbol" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (out / "events.jsonl").exists()
