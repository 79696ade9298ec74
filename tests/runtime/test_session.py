"""`tradewarden run` end to end against the built-in exchange simulator, through ccxt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.risk import verify_audit

pytestmark = pytest.mark.slow

FAST = ["--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8"]


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def trading(evs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keep = ("OrderPlaced", "Fill", "PositionOpened", "PositionClosed", "OrderDenied", "OrderRejected")
    return [(e["type"], e["ts"], e.get("client_id"), e.get("qty"), e.get("price")) for e in evs if e["type"] in keep]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_paper_session_trades_reports_and_replays_exactly(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "paper"
    # the simulator's clock runs in real time (x3000), so when trading starts varies: 6 hours of 5m bars hold
    # enough crossovers for a round trip wherever the window falls
    result = invoke("run", "--mode", "paper", "--duration", "6h", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    evs = events(out)
    types = [e["type"] for e in evs]
    for boot in ("STATE_MIGRATED", "BOOT_SEAL", "SAFETY_CHECKS", "WarmUpDone", "RunFinished"):
        assert boot in types
    assert types.index("BOOT_SEAL") < types.index("SAFETY_CHECKS") < types.index("WarmUpDone")
    seal = evs[types.index("BOOT_SEAL")]
    assert seal["mode"] == "paper" and seal["strategy"] == "sma_cross" and len(seal["config_hash"]) == 64
    assert types.count("Fill") >= 2, types
    for name in ("trades.csv", "equity.csv", "summary.json", "recording.jsonl"):
        assert (out / name).exists(), name
    [trail] = (env / "audit").glob("*.jsonl")  # the account's audit trail, in the data directory
    assert verify_audit(trail).ok
    # replay: the same candles through a fresh engine give the same trading events
    replay_dir = tmp_path / "replay"
    result = invoke("replay", str(out / "recording.jsonl"), "--out", str(replay_dir))
    assert result.exit_code == 0, result.output
    assert trading(events(replay_dir)) == trading(evs)


def test_paper_session_trades_like_a_backtest_of_its_candles(env: Path, tmp_path: Path) -> None:
    from tradewarden.backtest.core import simulate_batch
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.config import load_config
    from tradewarden.domain.candles import CandleSeries
    from tradewarden.domain.instrument import Instrument
    from tradewarden.runtime.recording import open_recording
    from tradewarden.strategies import load_strategy

    out = tmp_path / "paper"
    result = invoke("run", "--mode", "paper", "--duration", "6h", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    rec = open_recording(out / "recording.jsonl")
    warm = [c for _, _, c in rec.candles(warmup=True)]
    live = [c for _, _, c in rec.candles()]
    series = CandleSeries.from_candles(warm + live, "BTC/USDT", "5m")
    inst = Instrument.default_spot("BTC/USDT")
    cfg = load_config(None, {"strategy.name": "sma_cross"})
    sim = simulate_batch(series, load_strategy("sma_cross", {"fast": 3, "slow": 8}),
                         BacktestSettings.from_config(cfg.backtest), inst, trade_from=len(warm), keep_records=True)
    expected = [(ts, cid, "buy" if side > 0 else "sell", inst.steps_text(q), inst.ticks_text(px))
                for ts, cid, side, q, px, _fee, _reason in sim.fills]
    session = [(e["ts"], e["client_id"], e["side"], e["qty"], e["price"]) for e in events(out) if e["type"] == "Fill"]
    assert session and session == expected
    assert len(sim.trades) == sum(1 for e in events(out) if e["type"] == "PositionClosed")


def test_shadow_session_logs_orders_and_sends_none(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "shadow"
    result = invoke("run", "--mode", "shadow", "--duration", "6h", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    evs = events(out)
    types = [e["type"] for e in evs]
    assert "SHADOW_SAFETY_OK" in types
    shadow = [e for e in evs if e["type"] == "SHADOW_ORDER"]
    assert shadow, types
    orders = [e for e in shadow if "params" in e["would_send"]]
    assert orders and all(e["would_send"]["params"]["newClientOrderId"] == e["client_id"] for e in orders)
    assert "Fill" not in types or all(e.get("client_id") for e in evs if e["type"] == "Fill")


@pytest.mark.parametrize(
    ("env_value", "confirm", "reason"),
    [(None, None, "ENV_MISSING"), ("yes", "HASH", "ENV_WRONG_VALUE"), ("YES_I_UNDERSTAND", None, "CONFIRM_MISSING"),
     ("YES_I_UNDERSTAND", "0" * 64, "CONFIRM_MISMATCH")],
)
def test_live_gate_refuses_and_prints_the_real_hash(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    env_value: str | None, confirm: str | None, reason: str) -> None:
    if env_value is not None:
        monkeypatch.setenv("LIVE_TRADING", env_value)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", "k" * 64)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", "s" * 64)
    out = tmp_path / "live"
    args = ["run", "--mode", "live", "--out", str(out), "--set", "exchange.id=binance"]
    if confirm:
        args += ["--live-confirm", confirm]
    result = invoke(*args)
    assert result.exit_code == 3  # refused to start: a supervisor must not retry
    failed = [e for e in events(out) if e["type"] == "LIVE_ARM_FAILED"]
    assert [e["reason"] for e in failed] == [reason]
    real = failed[0]["config_hash"]
    assert real in result.output.replace("\n", "")
    assert "BOOT_SEAL" not in [e["type"] for e in events(out)]


def test_stale_confirmation_fails_after_a_config_change(env: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tradewarden.config import config_hash, load_config

    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", "k" * 64)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", "s" * 64)
    confirmed = config_hash(load_config(None, {"exchange.id": "binance"}))
    result = invoke("run", "--mode", "live", "--live-confirm", confirmed, "--set", "backtest.fee_taker_bps=7",
                    "--set", "exchange.id=binance", "--out", str(tmp_path / "live"))
    assert result.exit_code == 3  # refused to start: a supervisor must not retry
    assert [e["reason"] for e in events(tmp_path / "live") if e["type"] == "LIVE_ARM_FAILED"] == ["CONFIRM_MISMATCH"]


def test_keys_in_paper_mode_are_refused(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", "k" * 64)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", "s" * 64)
    result = invoke("run", "--mode", "paper", "--out", str(tmp_path / "p"))
    assert result.exit_code == 3  # refused to start: a supervisor must not retry
    assert [e["reason"] for e in events(tmp_path / "p") if e["type"] == "LIVE_ARM_FAILED"] == ["KEYS_IN_NON_LIVE_MODE"]


def test_kill_switch_from_another_command_halts_a_running_session_within_a_second(env: Path, tmp_path: Path) -> None:
    import threading
    import time

    out = tmp_path / "paper"
    seen: dict[str, float] = {}

    def operator() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = out / "events.jsonl"
            if log.exists() and "WarmUpDone" in log.read_text():
                break
            time.sleep(0.05)
        seen["switched"] = time.monotonic()
        result = CliRunner().invoke(app, ["kill-switch", "on", "--reason", "fire drill", "--data-dir", str(env)])
        assert result.exit_code == 0, result.output
        while time.monotonic() < deadline:
            if "KillSwitchActivated" in (out / "events.jsonl").read_text():
                seen["halted"] = time.monotonic()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=operator)
    thread.start()
    result = invoke("run", "--mode", "paper", "--duration", "5h", "--out", str(out),
                    "--set", "runtime.sim_speed=1200", *FAST[2:])
    thread.join()
    assert result.exit_code == 0, result.output
    assert "halted" in seen, "the running session never saw the kill switch"
    assert seen["halted"] - seen["switched"] < 2.5  # the CLI's own start-up included; the poll is every 1 s
    evs = events(out)
    activated = next(i for i, e in enumerate(evs) if e["type"] == "KillSwitchActivated")
    assert evs[activated]["reason"] == "fire drill"
    # from then on no new entry reaches the venue
    assert not [e for e in evs[activated:] if e["type"] == "OrderPlaced" and not e["reduce_only"]]
    CliRunner().invoke(app, ["kill-switch", "off", "--reason", "drill over", "--data-dir", str(env)])
