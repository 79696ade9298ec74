"""``tradewarden emergency-stop`` against the exchange simulator through ccxt: with no bot running it cancels our
orders and sells the base balance itself; with a live bot running the bot flattens (its stop order cancelled on
the exchange, the position sold at market); everything is audited with the CLI user as the actor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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
from tradewarden.risk.store import RiskStateStore
from tradewarden.simulator.testing import SimulatorHandle, start_simulator


def sim_config(tmp_path: Path, sim: SimulatorHandle) -> Path:
    conf = sim.ccxt_config()
    path = tmp_path / "config.yaml"  # JSON is valid YAML
    path.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    return path


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def with_keys(monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle, secret: str | None = None) -> None:
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", sim.api_key)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", secret or sim.secret)


def stop(*args: str) -> Any:
    return CliRunner().invoke(app, ["emergency-stop", *args])


def actions(data_dir: Path) -> list[tuple[str, str, dict[str, Any]]]:
    with Database.open(None, data_dir) as db:
        return [(a.action, a.actor, a.detail) for a in RiskStateStore(db).operator_actions()]


def kill_switch(data_dir: Path) -> Any:
    with Database.open(None, data_dir) as db:
        return RiskStateStore(db).kill_switch()


def test_with_no_bot_running_it_cancels_our_orders_and_sells_the_base_on_the_exchange(
        data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_simulator(data=sample_1m_path(), speed=60, seed=3, start_index=200,
                         balances={"USDT": "100000", "BTC": "0.5"}) as sim:
        cfg = sim_config(tmp_path, sim)
        ex = ccxt.binance(sim.ccxt_config())
        ex.load_markets()
        price = float(ex.fetch_ticker("BTC/USDT")["last"])
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.5, 2), {"newClientOrderId": "tw-a-1-0"})
        ex.create_order("BTC/USDT", "limit", "sell", 0.1, round(price * 2, 2), {"newClientOrderId": "tw-a-2-0"})
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.5, 2), {"newClientOrderId": "manual-1"})
        with_keys(monkeypatch, sim)
        result = stop("--yes", "--config", str(cfg), "--reason", "drill", "--by", "alice")
        assert result.exit_code == 0, result.output
        # our two orders cancelled, someone else's left open and named, every BTC sold at market
        assert [o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT")] == ["manual-1"]
        assert sim.state()["balances"]["BTC"] == {"free": "0.00000000", "locked": "0.00000000"}
        sells = [t for t in ex.fetch_my_trades("BTC/USDT") if t["side"] == "sell"]
        assert sum(Decimal(str(t["amount"])) for t in sells) == Decimal("0.5")
        assert all(ex.fetch_order(t["order"], "BTC/USDT")["clientOrderId"].startswith("tw-es-") for t in sells)
    out = result.output
    assert "cancel BTC/USDT tw-a-1-0" in out and "cancel BTC/USDT tw-a-2-0" in out
    assert "manual-1" in out and "left open" in out and "market sell" in out
    ks = kill_switch(data_env)
    assert ks.active and ks.actor == "alice" and "drill" in ks.reason
    done = actions(data_env)
    assert {actor for _, actor, _ in done} == {"alice"}
    kinds = [a for a, _, _ in done]
    assert kinds[:2] == ["emergency_stop", "kill_switch_on"]
    assert kinds.count("emergency_cancel") == 2 and kinds.count("emergency_leave") == 1
    (sell,) = [d for a, _, d in done if a == "emergency_sell"]
    assert sell["ok"] is True and sell["symbol"] == "BTC/USDT" and "0.50000 BTC" in sell["detail"]


def test_an_exchange_that_refuses_is_reported_and_exits_1_with_the_kill_switch_on(
        data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_simulator(data=sample_1m_path(), speed=60, seed=3, start_index=200,
                         balances={"USDT": "100", "BTC": "0.000004"}) as sim:
        cfg = sim_config(tmp_path, sim)
        with_keys(monkeypatch, sim, secret="not-the-secret")
        refused = stop("--yes", "--config", str(cfg))
        with_keys(monkeypatch, sim)
        dust = stop("--yes", "--config", str(cfg))
    assert refused.exit_code == 1, refused.output
    assert "FAILED cancel BTC/USDT" in refused.output and "AuthenticationError" in refused.output
    assert kill_switch(data_env).active
    failed = [d for a, _, d in actions(data_env) if a.startswith("emergency_") and d.get("ok") is False]
    assert failed
    # a balance under the step size is no failure: nothing to sell, said so
    assert dust.exit_code == 0, dust.output
    assert "kill switch already ON" in dust.output and "nothing to sell (0.00000400 BTC free)" in dust.output


def test_without_yes_off_a_terminal_nothing_is_done_and_without_an_exchange_nothing_is_held(
        data_env: Path) -> None:
    refused = stop()
    assert refused.exit_code == 2 and "pass --yes" in refused.output
    assert not (data_env / "tradewarden.db").exists()
    paper = stop("--yes", "--reason", "drill")
    assert paper.exit_code == 0, paper.output
    assert "no bot is running and no exchange is configured" in paper.output
    assert kill_switch(data_env).active


# -- a live bot runs: it flattens ----------------------------------------------------------------------------
LIVE = {"strategy.name": "donchian", "strategy.params.entry_period": "5", "strategy.params.exit_period": "150",
        "market.timeframe": "5m", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.01",
        "backtest.stop_loss_pct": "5", "runtime.warmup_bars": "160", "runtime.kill_switch_poll_s": "0.2",
        "runtime.publish_every_s": "0.3", "runtime.order_poll_s": "0.5"}


@pytest.fixture
def live_sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), speed=120, seed=3, start_index=900,
                         balances={"USDT": "100000", "BTC": "0"}) as handle:
        yield handle


def status(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tradewarden.cli.main", "status", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.slow
def test_a_running_live_bot_cancels_its_stop_order_and_sells_its_position_on_the_exchange(
        tmp_path: Path, live_sim: SimulatorHandle) -> None:
    cfg = sim_config(tmp_path, live_sim)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env |= {"TRADEWARDEN_DATA_DIR": str(tmp_path / "data"), "LIVE_TRADING": "YES_I_UNDERSTAND",
            "TRADEWARDEN_EXCHANGE__API_KEY": live_sim.api_key, "TRADEWARDEN_EXCHANGE__API_SECRET": live_sim.secret}
    sets = [arg for k, v in LIVE.items() for arg in ("--set", f"{k}={v}")]
    confirm = config_hash(load_config(cfg, dict(LIVE), env={}))
    cmd = [sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "live", "--config", str(cfg),
           "--live-confirm", confirm, "--duration", "30d", "--out", str(tmp_path / "run"), *sets]
    with (tmp_path / "session.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        bot: dict[str, Any] = {}
        while time.monotonic() < deadline and proc.poll() is None:  # a position and its stop on the exchange
            time.sleep(0.5)
            if (tmp_path / "data" / "tradewarden.db").exists():
                bots = status(env)["bots"]
                bot = bots[0] if bots else {}
                if any(Decimal(p["qty"]) > 0 for p in bot.get("symbols", [])) and bot["open_orders"]:
                    break
        assert bot.get("open_orders"), (tmp_path / "session.log").read_text()[-3000:]
        result = subprocess.run([sys.executable, "-m", "tradewarden.cli.main", "emergency-stop", "--config",
                                 str(cfg), "--yes", "--by", "bob", "--reason", "drill", "--wait", "60"],
                                env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"acknowledged by {bot['bot']['id']}" in result.stdout
        assert "flattened BTC/USDT: cancelled 1 open order(s); closing BTC/USDT: sell" in result.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ex = ccxt.binance(live_sim.ccxt_config())
    ex.load_markets()
    assert ex.fetch_open_orders("BTC/USDT") == []
    held = live_sim.state()["balances"]["BTC"]
    assert Decimal(held["free"]) + Decimal(held["locked"]) < Decimal("0.00001")  # under one step: dust at most
    closes = [o for o in ex.fetch_orders("BTC/USDT") if o["clientOrderId"].startswith("tw-op-")]
    assert [(o["side"], o["type"], o["status"]) for o in closes] == [("sell", "market", "closed")]
    done = actions(tmp_path / "data")
    assert [a for a, who, _ in done if who == "bob"][:3] == ["emergency_stop", "kill_switch_on", "flatten"]
    audit = "\n".join(p.read_text() for p in (tmp_path / "data" / "audit").glob("*.jsonl"))
    assert '"action":"emergency_stop"' in audit.replace(" ", "") and '"actor":"bob"' in audit.replace(" ", "")
