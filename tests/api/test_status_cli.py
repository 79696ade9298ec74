"""``tradewarden status``: 0 when every bot is healthy, 1 naming the problem (lost, halted, stale, breaker)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from tradewarden.api.publish import attach
from tradewarden.cli.main import app
from tradewarden.observability.bus import EventBus
from tradewarden.persistence import Database
from tradewarden.persistence import risk_repo as repo
from tradewarden.risk.store import RiskStateStore

from .conftest import HOUR, Clock, bot_info, published, trade


def _now() -> int:
    return time.time_ns() // 1_000_000


def _healthy_bot(db: Database, candle_ts: int) -> None:
    """A running bot whose newest candle (opened at ``candle_ts``) is in; its publisher keeps running."""
    bus = EventBus()
    attach(bus, db, bot_info(), period_s=3600, clock=Clock(_now()))
    trade(bus, candle_ts)
    bus.close()  # drains into the publisher; the bot row stays "running"


def _status(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["status", "--data-dir", str(tmp_path), *args])
    return result.exit_code, result.output


def _wait_for_candle(db: Database) -> None:
    from tradewarden.api import readmodel as rm

    for _ in range(1000):
        with db.session() as s:
            view = rm.bot(s, bot_info().id, _now())
        if view is not None and view.last_candle is not None:
            return
        time.sleep(0.01)
    raise AssertionError("the publisher never wrote the candle")


def test_a_healthy_bot_exits_0_and_shows_its_positions(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db:
        _healthy_bot(db, _now() // HOUR * HOUR - HOUR)
        _wait_for_candle(db)
    code, output = _status(tmp_path)
    assert code == 0, output
    assert "healthy" in output and "BTC/USDT: 0.3 @ 100" in output and "open: e1 ETH/USDT buy limit 2" in output
    code, output = _status(tmp_path, "--json")
    report = json.loads(output)
    assert code == 0 and report["healthy"] and report["problems"] == []
    (bot,) = report["bots"]
    assert bot["bot"]["state"] == "running" and bot["symbols"][0]["pnl_total"] == str(Decimal("1.96") + 6)


def test_a_stale_candle_is_named(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db:
        _healthy_bot(db, _now() // HOUR * HOUR - 4 * HOUR)
        _wait_for_candle(db)
    code, output = _status(tmp_path)
    assert code == 1 and "older than 2 bars" in output


def test_a_lost_heartbeat_is_named(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db:
        bus = EventBus()
        attach(bus, db, bot_info(), period_s=5, clock=Clock(_now() - 60_000))
        bus.close()
    code, output = _status(tmp_path)
    assert code == 1 and "heartbeat lost" in output


def test_a_cleanly_stopped_bot_is_not_a_problem(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db, published(db, Clock(_now() - 86_400_000)):
        pass
    code, output = _status(tmp_path)
    assert code == 0 and "stopped" in output


def test_the_kill_switch_and_a_tripped_breaker_are_named(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db:
        with published(db, Clock(_now())):
            pass
        store = RiskStateStore(db)
        store.set_kill_switch(True, "exchange outage", "ops", _now())
        with db.session() as s:
            repo.save_breaker(s, repo.BreakerRecord("daily_loss", "global", True, "HALTED", "lost 5 %", _now(),
                                                    None), _now())
            repo.save_state(s, repo.StateRecord("global", "HALTED", "daily loss", _now()))
    code, output = _status(tmp_path)
    assert code == 1 and "trading state of global is HALTED" in output
    assert "kill switch is on: exchange outage" in output and "breaker tripped: daily_loss (global)" in output


def test_no_bot_at_all_is_a_problem(tmp_path: Path) -> None:
    code, output = _status(tmp_path)
    assert code == 1 and "no bot has published" in output
