"""The loop never blocks: while the exchange holds an order's answer, the kill switch still halts the bot and
the feed keeps delivering (live, against the built-in simulator through ccxt)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.node.node import RunOptions, SessionOutcome, run_session
from tradewarden.risk import TradingState
from tradewarden.risk.store import RiskStateStore
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = pytest.mark.slow

SETTINGS = {"strategy.name": "sma_cross", "strategy.params.fast": "3", "strategy.params.slow": "8",
            "market.timeframe": "5m", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.01",
            "runtime.warmup_bars": "30", "runtime.heartbeat_s": "0.2"}


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), speed=600, seed=3, start_index=200,
                         balances={"USDT": "100000", "BTC": "0"}) as handle:
        yield handle


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(what: str, check: Any, session: threading.Thread) -> Any:
    """Poll ``check`` until it gives something; fail if the session ended first (no timing assertion)."""
    while True:
        found = check()
        if found:
            return found
        assert session.is_alive(), f"the session ended before {what}"
        session.join(0.05)


def test_a_kill_switch_halts_the_bot_while_an_orders_answer_is_held(
        sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(data))
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", sim.api_key)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", sim.secret)
    conf = sim.ccxt_config()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    hash_ = config_hash(load_config(cfg, dict(SETTINGS)))
    out = tmp_path / "live"
    sim.inject("hold_order_answer")
    outcome: list[SessionOutcome] = []
    opts = RunOptions(mode="live", config=cfg, overrides=dict(SETTINGS), duration="6h", live_confirm=hash_,
                      out_dir=out)
    session = threading.Thread(target=lambda: outcome.append(run_session(opts, console_print=lambda _: None)))
    session.start()
    try:
        held = wait_for("an order was held", lambda: [f for f in sim.faults_log()
                                                     if f["kind"] == "hold_order_answer" and f["event"] == "fired"],
                        session)
        held_id = held[0]["client_order_id"]
        seen = len(events(out))
        store = RiskStateStore.open(None, data)
        try:
            switch = store.set_kill_switch(True, "drill while an answer is held", "test", 0)
            acks = wait_for("the kill switch was acknowledged",
                            lambda: store.kill_switch_acks(switch.event_id), session)
        finally:
            store.close()
        # the answer is still held (nothing released it): the bot halted and acknowledged meanwhile
        assert [f["event"] for f in sim.faults_log() if f["kind"] == "hold_order_answer"] == ["armed", "fired"]
        assert len(acks) == 1
        window = events(out)[seen:]
        types = [e["type"] for e in window]
        assert "KillSwitchActivated" in types
        # and before the worker got any answer for the order (nor gave up on one: OrderAmbiguous): the halt did
        # not wait for the exchange call
        assert not [e for e in window if e.get("client_id") == held_id]
        assert [(e["scope"], e["to"]) for e in window if e["type"] == "TradingStateChanged"] == [
            ("global", TradingState.HALTED.value)]
        # the loop and the feed go on during the hold: heartbeats, with candles still arriving
        def more_candles() -> bool:
            beats = [e["candles_received"] for e in events(out)[seen:] if e["type"] == "Heartbeat"]
            return len(beats) >= 2 and beats[-1] > beats[0]

        wait_for("candles arrived during the hold", more_candles, session)
        assert [f["event"] for f in sim.faults_log() if f["kind"] == "hold_order_answer"] == ["armed", "fired"]
        assert sim.release() == 1
    finally:
        sim.release()
        session.join()
    assert outcome and outcome[0].exit_code == 0
    evs = events(out)
    # the held order is resolved (booked or known dead), sent exactly once, and nothing was sent after the halt
    ends = [e for e in evs if e.get("client_id") == held_id and e["type"] in ("Fill", "OrderCancelled",
                                                                             "OrderRejected", "OrderExpired")]
    assert ends
    placed = [e for e in evs if e["type"] == "OrderPlaced"]
    assert [e["client_id"] for e in placed].count(held_id) == 1 and placed[0]["client_id"] == held_id
    assert all(e["side"] == "sell" for e in placed[1:])  # after the halt only closing the position
    assert sim.state()["orders"] == len(placed) and not [e for e in evs if e["type"] == "OrderResent"]
    finished = [e for e in evs if e["type"] == "RunFinished"]
    assert len(finished) == 1 and finished[0]["loop_stall_max_ms"] >= 0
