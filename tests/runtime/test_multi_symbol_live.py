"""Live and shadow sessions of several symbols against the exchange simulator through ccxt (an external
simulator process serving every symbol): orders reach the exchange per symbol, the books equal the exchange's
balances for every base, the orders equal a portfolio backtest of the same candles; a restart after a crash
reconciles every symbol's base balance and open order, treats the bars that closed while it was down as history,
and a difference on one symbol halts the whole account."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.instrument import Instrument
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.runtime.recording import open_recording
from tradewarden.simulator.symbols import spot_instrument
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
BASES = ["BTC", "ETH"]
SMA = {"strategy.name": "sma_cross", "strategy.params.fast": "3", "strategy.params.slow": "8",
       "market.timeframe": "5m", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.01",
       "runtime.warmup_bars": "30", "market.symbols": ",".join(SYMBOLS)}
# a breakout entry and an exit only at a 150-bar low: once in, each symbol holds its position for hours, and
# a far stop keeps one open order per position on the exchange
HOLD = {**SMA, "strategy.name": "donchian", "strategy.params.entry_period": "5",
        "strategy.params.exit_period": "150", "runtime.warmup_bars": "160", "backtest.stop_loss_pct": "6"}
del HOLD["strategy.params.fast"], HOLD["strategy.params.slow"]


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def simulator(speed: float, start_index: int) -> Any:
    # fees as Binance charges them: a buy's in the base bought, a sell's in USDT
    return start_simulator(data=sample_1m_path(), symbols=SYMBOLS, speed=speed, seed=3, start_index=start_index,
                           balances={"USDT": "100000", "BTC": "0", "ETH": "0"})


def sim_config_file(tmp_path: Path, sim: SimulatorHandle) -> Path:
    conf = sim.ccxt_config()
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    return path


def arm(monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle) -> None:
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", sim.api_key)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", sim.secret)


def live_args(cfg: Path, settings: dict[str, str], duration: str) -> list[str]:
    args = ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", config_hash(load_config(cfg, settings)),
            "--duration", duration]
    for k, v in settings.items():
        args += ["--set", f"{k}={v}"]
    return args


def account(strategy: str) -> str:
    return f"live:binance:{','.join(SYMBOLS)}:{strategy}"


def held_by_bot(data_dir: Path, strategy: str) -> dict[str, Decimal]:
    """Each base the bot's stored books say the account holds: the position plus sub-step dust."""
    with Database.open(None, data_dir) as db:
        runners = RuntimeStore(db, account(strategy)).load().snapshots["session"]["runners"]
    out = {}
    for symbol, base in zip(SYMBOLS, BASES, strict=True):
        engine = runners[symbol]["engine"]
        out[base] = spot_instrument(symbol).from_steps(int(engine["pos_steps"])) + Decimal(engine["base_dust"])
    return out


def on_exchange(sim: SimulatorHandle) -> dict[str, Decimal]:
    balances = sim.state()["balances"]
    return {b: Decimal(balances[b]["free"]) + Decimal(balances[b]["locked"]) for b in BASES}


def backtest_orders(run_dir: Path, tmp_path: Path, settings: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """The orders (client id, side) per symbol of the portfolio backtest's steps over the session's recorded
    candles (its warm-up as history), on the filters the session recorded."""
    from tradewarden.backtest.portfolio import Market, PortfolioStepper
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.domain.candles import Candle, CandleSeries
    from tradewarden.observability import EventJournal
    from tradewarden.risk import RiskManager, load_risk_config
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
    cfg = load_config(None, settings)
    markets = [Market(CandleSeries.from_candles(warm[s], s, "5m"), instruments[s],
                      load_strategy(cfg.strategy.name, dict(cfg.strategy.params))) for s in SYMBOLS]
    journal_path = tmp_path / "backtest-events.jsonl"
    with EventJournal(journal_path) as journal:
        risk = RiskManager(load_risk_config(cfg.risk), journal, instruments=instruments)
        stepper = PortfolioStepper(markets, BacktestSettings.from_config(cfg.backtest), journal, check=risk,
                                   risk=risk)
        for engine, s in zip(stepper.engines, SYMBOLS, strict=True):
            engine.warm_up(warm[s])
        for ts in sorted(steps):
            stepper.step(ts, steps[ts])
    out: dict[str, list[tuple[str, str]]] = {s: [] for s in SYMBOLS}
    for line in journal_path.read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "OrderPlaced":
            out[e["symbol"]].append((e["client_id"], e["side"]))
    return out


def test_live_session_of_two_symbols_trades_each_on_the_exchange_as_a_portfolio_backtest(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with simulator(speed=3000, start_index=200) as sim:
        cfg = sim_config_file(tmp_path, sim)
        arm(monkeypatch, sim)
        out = tmp_path / "live"
        result = CliRunner().invoke(app, [*live_args(cfg, SMA, "3h"), "--out", str(out)])
        assert result.exit_code == 0, result.output
        evs = events(out)
        types = [e["type"] for e in evs]
        assert next(e for e in evs if e["type"] == "BOOT_SEAL")["symbols"] == SYMBOLS
        # the boot reconciliation covered every symbol (one per symbol, with the exchange's balances)
        assert len([e for e in evs if e["type"] == "ReconcileOk" and "balances" in e]) == len(SYMBOLS)
        assert "RECONCILE_MISMATCH" not in types and not [e for e in evs if e["type"] == "OrderRejected"]
        placed = defaultdict(list)
        for e in evs:
            if e["type"] == "OrderPlaced":
                placed[e["symbol"]].append(e["client_id"])
        assert all(placed[s] for s in SYMBOLS), placed
        exchange = ccxt.binance(sim.ccxt_config())
        exchange.load_markets()
        # every order is on the exchange once, under its client id and its symbol; every execution booked once
        assert sim.state()["orders"] == sum(len(set(p)) for p in placed.values())
        for symbol in SYMBOLS:
            for cid in placed[symbol]:
                found = exchange.fetch_order(None, symbol, params={"origClientOrderId": cid})
                assert found["clientOrderId"] == cid and found["symbol"] == symbol
            trades = exchange.fetch_my_trades(symbol)
            assert len(trades) == len([e for e in evs if e["type"] == "Fill" and e["symbol"] == symbol])
        # the books hold exactly each base the exchange holds (fees withheld in the base included)
        assert on_exchange(sim) == held_by_bot(env, "sma_cross")
        # the same orders per symbol as the portfolio backtest of the candles the session received
        live_orders = {s: [(e["client_id"], e["side"]) for e in evs
                           if e["type"] == "OrderPlaced" and e["symbol"] == s] for s in SYMBOLS}
        assert live_orders == backtest_orders(out, tmp_path, SMA)


def test_restart_after_a_crash_reconciles_every_symbol_and_a_difference_on_one_halts_the_account(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with simulator(speed=1500, start_index=1000) as sim:
        cfg = sim_config_file(tmp_path, sim)
        arm(monkeypatch, sim)
        args = live_args(cfg, HOLD, "12h")
        first = tmp_path / "first"
        proc = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", *args, "--out", str(first)],
                                env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        exchange = ccxt.binance(sim.ccxt_config())
        exchange.load_markets()
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None:  # killed once each symbol is protected
                if all(exchange.fetch_open_orders(s) for s in SYMBOLS):
                    break
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        # the crash left a position and its open stop on the exchange for every symbol (the stored books may be
        # a step behind: the restart books what the exchange did meanwhile before it compares)
        assert all(v > 0 for v in on_exchange(sim).values()), on_exchange(sim)
        open_at_crash = {s: [o["clientOrderId"] for o in exchange.fetch_open_orders(s)] for s in SYMBOLS}
        assert all(len(ids) == 1 and ids[0].endswith("-sl") for ids in open_at_crash.values()), open_at_crash
        time.sleep(3)  # the market goes on: about 15 five-minute bars at x1500

        second = tmp_path / "second"
        seen: dict[str, Any] = {}

        def intrude() -> None:  # a manual buy of ETH once the session trades again: ETH's balance moves
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                log = second / "events.jsonl"
                if log.exists() and '"CaughtUp"' in log.read_text():
                    break
                time.sleep(0.02)
            intruder = ccxt.binance(sim.ccxt_config())
            intruder.load_markets()
            seen["order"] = intruder.create_order("ETH/USDT", "market", "buy", 0.05, None,
                                                  {"newClientOrderId": "manual-eth"})

        thread = threading.Thread(target=intrude)
        thread.start()
        result = CliRunner().invoke(app, [*args, "--out", str(second), "--set", "runtime.reconcile_every_s=1"])
        thread.join()
        assert result.exit_code == 0, result.output
        assert seen["order"]["status"] == "closed"
        evs = events(second)
        types = [e["type"] for e in evs]
        assert "SessionResumed" in types
        # the boot reconciliation of every symbol: its base balance and its open stop agree with the books
        boot = [e for e in evs if e["type"] == "ReconcileOk" and "balances" in e]
        assert [e["open_orders"] for e in boot] == [1] * len(SYMBOLS)
        # the bars that closed while the bot was down are history, not traded late
        (caught_up,) = [e for e in evs if e["type"] == "CaughtUp"]
        assert caught_up["history_only"] >= 10 * len(SYMBOLS)
        assert types.index("CaughtUp") < types.index("RECONCILE_MISMATCH")
        rec = open_recording(second / "recording.jsonl")
        missed = [c.ts for _, _, c in rec.candles(warmup=True) if caught_up["first"] <= c.ts <= caught_up["last"]]
        assert len(missed) == caught_up["history_only"]
        (resumed,) = rec.resumes()
        assert not [c for _, _, c in rec.candles() if resumed["after"] < c.ts < caught_up["trading_from"]]
        assert all(e["ts"] - 300_000 >= caught_up["trading_from"] for e in evs if e["type"] == "OrderPlaced")
        # ETH's balance moved behind the bot's back: suspect once, then the whole account is halted
        mismatch = next(e for e in evs if e["type"] == "RECONCILE_MISMATCH")
        assert [(m["kind"], m["subject"]) for m in mismatch["mismatches"]] == [("BALANCE_MISMATCH", "ETH")]
        assert types.index("ReconcileSuspect") < types.index("RECONCILE_MISMATCH")
        halted = next(e for e in evs if e["type"] == "HALTED_OPS")
        assert halted["reason"] == "RECONCILE_MISMATCH"
        # BTC's books still equal the exchange's; ETH differs by exactly the manual buy (its fee withheld in ETH)
        held, theirs = held_by_bot(env, "donchian"), on_exchange(sim)
        assert theirs["BTC"] == held["BTC"]
        manual = exchange.fetch_order(None, "ETH/USDT", params={"origClientOrderId": "manual-eth"})
        fee = sum(Decimal(t["info"]["commission"]) for t in exchange.fetch_my_trades("ETH/USDT")
                  if t["order"] == manual["id"])
        assert theirs["ETH"] - held["ETH"] == Decimal(str(manual["filled"])) - fee


def test_shadow_session_of_three_symbols_logs_orders_per_symbol_and_sends_none(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    with start_simulator(data=sample_1m_path(), symbols=symbols, speed=3000, seed=3, start_index=200,
                         balances={"USDT": "100000"}) as sim:
        cfg = sim_config_file(tmp_path, sim)
        out = tmp_path / "shadow"
        settings = {**SMA, "market.symbols": ",".join(symbols)}
        args = ["run", "--mode", "shadow", "--config", str(cfg), "--duration", "3h", "--out", str(out)]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        evs = events(out)
        shadow = defaultdict(list)
        for e in evs:
            if e["type"] == "SHADOW_ORDER":
                shadow[e["symbol"]].append(e)
        assert set(shadow) == set(symbols), {s: len(v) for s, v in shadow.items()}
        # not one order reached the exchange, and nothing was created there
        assert sim.state()["orders"] == 0
        posts = [r for r in sim.requests_log() if r.get("method") in ("POST", "DELETE")
                 and "/order" in str(r.get("path"))]
        assert posts == []
