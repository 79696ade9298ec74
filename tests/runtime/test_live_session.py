"""Live sessions against the exchange simulator through ccxt: orders really reach the (simulated) exchange."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from typer.testing import CliRunner

from tradewarden.backtest.core import simulate_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.candles import CandleSeries
from tradewarden.domain.instrument import Instrument
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.runtime.recording import open_recording
from tradewarden.simulator.testing import SimulatorHandle, start_simulator
from tradewarden.strategies import load_strategy

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
    # the simulator charges fees as Binance does: a buy's in the BTC bought, a sell's in USDT
    with start_simulator(data=sample_1m_path(), speed=3000, seed=3, start_index=200,
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


def held_by_bot(tmp_path: Path, account: str = "live:binance:BTC/USDT:sma_cross") -> Decimal:
    """The base asset the bot's stored books say the account holds: its position plus sub-step dust."""
    with Database.open(None, tmp_path / "data") as db:
        engine = RuntimeStore(db, account).load().snapshots["session"]["engine"]
    inst = Instrument.default_spot("BTC/USDT")
    return inst.from_steps(int(engine["pos_steps"])) + Decimal(engine["base_dust"])


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
    # fees withheld in BTC shrink the position: every close sold what the account held (no -2010), and the bot's
    # books (whole lot steps plus dust) hold exactly the exchange's BTC balance
    assert not [e for e in evs if e["type"] == "OrderRejected"]
    assert [e for e in evs if e["type"] == "Fill" and e.get("fee_base")]
    btc = sim.state()["balances"]["BTC"]
    assert Decimal(btc["free"]) + Decimal(btc["locked"]) == held_by_bot(tmp_path)
    # the same trades as a backtest of the candles the session received: same orders, sides and sizes at the
    # same candles (prices are the exchange's own executions, not the fill model's)
    rec = open_recording(out / "recording.jsonl")
    warm = [c for _, _, c in rec.candles(warmup=True)]
    series = CandleSeries.from_candles(warm + [c for _, _, c in rec.candles()], "BTC/USDT", "5m")
    settings = BacktestSettings.from_config(load_config(None, dict(STRATEGY)).backtest)
    sim_run = simulate_batch(series, load_strategy("sma_cross", {"fast": 3, "slow": 8}), settings,
                             Instrument.default_spot("BTC/USDT"), trade_from=len(warm), keep_records=True)
    backtest_orders = [(cid, "buy" if side > 0 else "sell") for cid, side, _q, _status, _f in sim_run.orders]
    live_orders = [(e["client_id"], e["side"]) for e in evs if e["type"] == "OrderPlaced"]
    assert live_orders == backtest_orders


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


# fresh canary values each run: nothing secret-looking is committed, and nothing can match by accident
CANARY_KEY = "CanaryKey" + secrets.token_hex(24)
CANARY_SECRET = "CanarySecret" + secrets.token_hex(24)
CANARY_TOKEN = "CanaryToken" + secrets.token_hex(24)

FAULTS = """\
faults:
  - at_candle: 8
    kind: drop_connections
  - at_candle: 14
    kind: rate_limit
    count: 2
    retry_after: 1
  - at_candle: 18
    kind: server_errors
    count: 2
  - at_candle: 22
    kind: stall_streams
    seconds: 3
  - at_candle: 26
    kind: malformed_messages
    count: 1
  - at_candle: 1
    kind: ambiguous_order
    mode: error
"""


def test_live_session_through_faults_keeps_books_equal_to_the_exchange_and_leaks_no_secret(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(FAULTS)
    with start_simulator(data=sample_1m_path(), speed=1500, seed=5, start_index=200,
                         balances={"USDT": "100000", "BTC": "0"}, scenario=scenario,
                         api_keys={CANARY_KEY: CANARY_SECRET}) as sim:
        cfg = sim_config_file(tmp_path, sim)
        monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
        monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", CANARY_KEY)
        monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", CANARY_SECRET)
        monkeypatch.setenv("DEPLOY_TOKEN", CANARY_TOKEN)
        monkeypatch.setenv("DB_PASSWORD", CANARY_TOKEN[::-1])
        from tradewarden.observability import refresh_secrets

        refresh_secrets()
        # an order is rejected by the exchange (-2010) and one is accepted while its answer is lost
        sim.inject("reject_next_order", code=-2010, msg="Account has insufficient balance for requested action.")
        out = tmp_path / "live"
        hash_ = config_hash(load_config(cfg, dict(STRATEGY)))
        result = CliRunner().invoke(app, ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_,
                                          "--duration", "8h", "--out", str(out), *overrides_args()])
        assert result.exit_code == 0, result.output
        evs = events(out)
        types = [e["type"] for e in evs]
        # the simulator's clock runs in real time (x1500), so when trading starts varies; 8 hours of 5m bars
        # hold enough crossovers for the rejected and the ambiguous order to both be met
        fired = {f["kind"] for f in sim.faults_log() if f["event"] == "fired"}
        # the first orders meet the rejection and the lost answer (both armed before trading starts)
        wanted = {"drop_connections", "rate_limit", "server_errors", "reject_next_order", "ambiguous_order"}
        assert wanted <= fired, fired
        assert "OrderAmbiguous" in types and "OrderResolved" in types
        assert "OrderRejected" in types
        exchange = ccxt.binance(sim.ccxt_config())
        exchange.load_markets()
        placed = [e["client_id"] for e in evs if e["type"] == "OrderPlaced"]
        rejected = {e["client_id"] for e in evs if e["type"] == "OrderRejected"}
        accepted = [c for c in placed if c not in rejected]
        assert accepted and sim.state()["orders"] == len(accepted)  # no duplicate, none lost
        trades = exchange.fetch_my_trades("BTC/USDT")
        assert len([e for e in evs if e["type"] == "Fill"]) == len(trades)
        bought = sum(Decimal(str(t["amount"])) * (1 if t["side"] == "buy" else -1) for t in trades)
        withheld = sum(Decimal(t["info"]["commission"]) for t in trades if t["info"]["commissionAsset"] == "BTC")
        assert withheld > 0
        balance = Decimal(sim.state()["balances"]["BTC"]["free"]) + Decimal(sim.state()["balances"]["BTC"]["locked"])
        assert balance == bought - withheld == held_by_bot(tmp_path)
    # no canary secret anywhere the bot wrote: events, logs, reports, recording, audit, database
    written = [p for p in list(out.rglob("*")) + list((tmp_path / "data").rglob("*")) if p.is_file()]
    assert written
    for path in written:
        blob = path.read_bytes()
        for canary in (CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, CANARY_TOKEN[::-1]):
            assert canary.encode() not in blob, f"{canary[:12]}... leaked into {path}"


def test_reconciliation_runs_every_few_seconds_and_halts_on_an_order_behind_the_bots_back(
        env: dict[str, str], sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    cfg = sim_config_file(tmp_path, sim)
    arm(monkeypatch, sim)

    out = tmp_path / "live"

    def intrude() -> None:  # once the session is trading (after its boot reconciliation)
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = out / "events.jsonl"
            if log.exists() and "WarmUpDone" in log.read_text():
                break
            time.sleep(0.05)
        intruder = ccxt.binance(sim.ccxt_config())
        intruder.load_markets()
        price = float(intruder.fetch_ticker("BTC/USDT")["last"])
        intruder.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.5, 2), {"newClientOrderId": "late-1"})

    timer = threading.Thread(target=intrude)
    timer.start()
    hash_ = config_hash(load_config(cfg, dict(STRATEGY)))
    result = CliRunner().invoke(app, ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_,
                                      "--duration", "6h", "--out", str(out), *overrides_args(),
                                      "--set", "runtime.reconcile_every_s=1"])
    timer.join()
    assert result.exit_code == 0, result.output
    evs = events(out)
    types = [e["type"] for e in evs]
    assert types.index("ReconcileOk") < types.index("RECONCILE_MISMATCH")  # clean at boot, caught later
    mismatch = next(e for e in evs if e["type"] == "RECONCILE_MISMATCH")
    assert [m["subject"] for m in mismatch["mismatches"] if m["kind"] == "UNKNOWN_OPEN_ORDER"] == ["late-1"]
    assert "HALTED_OPS" in types


def test_adopt_takes_the_exchange_view_and_a_restart_resumes_reconciled(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_simulator(data=sample_1m_path(), speed=3000, seed=4, start_index=200,
                         balances={"USDT": "100000", "BTC": "0.05"}) as sim:
        cfg = sim_config_file(tmp_path, sim)
        arm(monkeypatch, sim)
        operator = ccxt.binance(sim.ccxt_config())
        operator.load_markets()
        price = float(operator.fetch_ticker("BTC/USDT")["last"])
        operator.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.5, 2), {"newClientOrderId": "manual-2"})
        hash_ = config_hash(load_config(cfg, dict(STRATEGY)))
        args = ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_, "--duration", "4h",
                *overrides_args(), "--set", "runtime.reconcile_every_s=1"]

        first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "first"), "--adopt"])
        assert first.exit_code == 0, first.output
        evs = events(tmp_path / "first")
        types = [e["type"] for e in evs]
        mismatch = next(e for e in evs if e["type"] == "RECONCILE_MISMATCH")
        assert mismatch["adopted"] is True
        assert {(m["kind"], m["subject"]) for m in mismatch["mismatches"]} == {
            ("UNKNOWN_OPEN_ORDER", "manual-2"), ("BALANCE_MISMATCH", "BTC")}
        assert "HALTED_OPS" not in types
        (adopted,) = [e for e in evs if e["type"] == "PositionAdopted"]
        assert Decimal(adopted["after"]) == Decimal("0.05")
        assert [e["client_id"] for e in evs if e["type"] == "OrderAdopted"] == ["manual-2"]
        # the operator's --adopt is in the account's audit trail, with who ran it
        from tradewarden.risk.account_audit import local_actor, trail_path

        trail = trail_path(tmp_path / "data", "live:binance:BTC/USDT:sma_cross")
        [adopt] = [r for r in map(json.loads, trail.read_text().splitlines()) if r.get("action") == "adopt"]
        assert adopt["type"] == "OPERATOR_ACTION" and adopt["actor"] == local_actor()
        assert {m["subject"] for m in adopt["detail"]["mismatches"]} == {"manual-2", "BTC"}
        # from then on the books agree with the exchange: the periodic reconciliation finds nothing
        assert "ReconcileOk" in types[types.index("PositionAdopted"):]
        assert "RECONCILE_MISMATCH" not in types[types.index("PositionAdopted"):]
        btc = sim.state()["balances"]["BTC"]
        assert Decimal(btc["free"]) + Decimal(btc["locked"]) == held_by_bot(tmp_path)

        # the adopted order is the bot's own now: a graceful stop cancels it with the others (runtime.on_stop)
        assert operator.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "manual-2"})["status"] == "canceled"

        # a restart resumes the stored books and finds them equal to the exchange
        second = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "second")])
        assert second.exit_code == 0, second.output
        types = [e["type"] for e in events(tmp_path / "second")]
        assert "SessionResumed" in types and "ReconcileOk" in types
        assert "RECONCILE_MISMATCH" not in types and "HALTED_OPS" not in types


def test_live_position_is_protected_by_a_stop_on_the_exchange(
        env: dict[str, str], sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = sim_config_file(tmp_path, sim)
    arm(monkeypatch, sim)
    out = tmp_path / "live"
    stops = {"backtest.stop_loss_pct": "0.4", "backtest.trailing_stop_pct": "0.15"}
    hash_ = config_hash(load_config(cfg, {**STRATEGY, **stops}))
    result = CliRunner().invoke(app, ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_,
                                      "--duration", "6h", "--out", str(out), *overrides_args(stops),
                                      "--set", "runtime.reconcile_every_s=1"])
    assert result.exit_code == 0, result.output
    evs = events(out)
    types = [e["type"] for e in evs]
    exits = [e for e in evs if e["type"] == "OrderPlaced" and e["client_id"][-3:] in ("-sl", "-ts")]
    assert all(e["reduce_only"] and e["side"] == "sell" for e in exits)
    # a stop-limit order works on the exchange; a level the close already crossed exits at market at once
    assert {e["order_type"] for e in exits} <= {"stop_limit", "market"}
    protective = [e for e in exits if e["order_type"] == "stop_limit"]
    assert protective, "no protective stop was placed"
    # each one is on the exchange as a stop-loss-limit order, once, under its client id
    exchange = ccxt.binance(sim.ccxt_config())
    exchange.load_markets()
    refused = {e["client_id"] for e in evs if e["type"] == "OrderRejected"}
    for e in protective:
        if e["client_id"] in refused:
            continue
        found = exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": e["client_id"]})
        assert found["info"]["type"] == "STOP_LOSS_LIMIT"
        assert Decimal(found["info"]["stopPrice"]) == Decimal(str(e["stop_price"]))
    # the exchange triggered some of them: the position closed by its stop, booked with that reason
    stopped = [e for e in evs if e["type"] == "Fill" and e["reason"] in ("stop_loss", "trailing_stop")]
    assert stopped, "no stop triggered in six hours: the test would prove nothing"
    assert {e["reason"] for e in evs if e["type"] == "PositionClosed"} & {"stop_loss", "trailing_stop"}
    # a signal's sell first took the coins back from the stop: no sell was refused for want of balance. The
    # exchange refuses only stops the price crossed before they arrived, and each was replaced by a market exit
    rejected = [e for e in evs if e["type"] == "OrderRejected"]
    assert all(e["client_id"].endswith(("-7-sl", "-7-ts")) and "trigger immediately" in e["reason"] for e in rejected)
    market_exits = {e["client_id"] for e in exits if e["order_type"] == "market"}
    assert all(e["client_id"].replace("-7-", "-8-") in market_exits for e in rejected)
    assert "RECONCILE_MISMATCH" not in types and "ReconcileOk" in types
    assert sim.state()["orders"] == len({e["client_id"] for e in evs if e["type"] == "OrderPlaced"} - refused)
    btc = sim.state()["balances"]["BTC"]
    assert Decimal(btc["free"]) + Decimal(btc["locked"]) == held_by_bot(tmp_path)
    # after the graceful stop, a position still held stays protected on the exchange
    open_orders = exchange.fetch_open_orders("BTC/USDT")
    if held_by_bot(tmp_path) >= Decimal("0.00001"):
        assert [o["clientOrderId"][-3:] for o in open_orders] in (["-sl"], ["-ts"])
    else:
        assert open_orders == []


def test_after_a_crash_candles_missed_while_down_are_history_not_trades(
        env: dict[str, str], sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = sim_config_file(tmp_path, sim)
    arm(monkeypatch, sim)
    hash_ = config_hash(load_config(cfg, dict(STRATEGY)))
    args = ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", hash_, "--duration", "12h",
            *overrides_args()]
    first = tmp_path / "first"
    proc = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", *args, "--out", str(first)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # killed once it has traded
            log = first / "events.jsonl"
            if log.exists() and '"type":"Fill"' in log.read_text():
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert '"type":"Fill"' in (first / "events.jsonl").read_text()
    time.sleep(3)  # the market goes on: about 30 five-minute bars at x3000

    second = tmp_path / "second"
    result = CliRunner().invoke(app, [*args, "--out", str(second), "--set", "runtime.reconcile_every_s=1"])
    assert result.exit_code == 0, result.output
    evs = events(second)
    types = [e["type"] for e in evs]
    assert "SessionResumed" in types and "RECONCILE_MISMATCH" not in types
    (caught_up,) = [e for e in evs if e["type"] == "CaughtUp"]
    assert caught_up["history_only"] >= 10
    # nothing was decided on a candle that had closed while the bot was down
    tf = 300_000
    decided_on = [e["ts"] - tf for e in evs if e["type"] == "OrderPlaced"]
    assert all(ts >= caught_up["trading_from"] for ts in decided_on)
    rec = open_recording(second / "recording.jsonl")
    missed = [c.ts for _, _, c in rec.candles(warmup=True) if caught_up["first"] <= c.ts <= caught_up["last"]]
    assert len(missed) == caught_up["history_only"]
    # the recording continues the first run's (the whole session); after the resume, no missed candle traded
    (resumed,) = rec.resumes()
    first_part = [c.ts for _, _, c in open_recording(first / "recording.jsonl").candles() if c.ts <= resumed["after"]]
    assert first_part and [c.ts for _, _, c in rec.candles() if c.ts <= resumed["after"]] == first_part
    assert not [c for _, _, c in rec.candles() if resumed["after"] < c.ts < caught_up["trading_from"]]
    btc = sim.state()["balances"]["BTC"]
    assert Decimal(btc["free"]) + Decimal(btc["locked"]) == held_by_bot(tmp_path)
