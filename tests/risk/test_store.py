"""Risk state in the database across restarts (SQLite, PostgreSQL); the kill switch from another process."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.risk import RiskManager, TradingState
from tradewarden.risk.store import RiskStateStore

from .conftest import INSTRUMENT, SYMBOL, MemoryEvents, dec, make_config, make_ctx, make_order

MIN = 60_000
DAY = 86_400_000


def boot(
    db_url: str | None, data_dir: Path, events: MemoryEvents, **cfg: object
) -> tuple[RiskManager, RiskStateStore]:
    store = RiskStateStore.open(db_url, data_dir)
    return RiskManager(make_config(**cfg), events, store=store, instruments={SYMBOL: INSTRUMENT}), store


def test_kill_switch_survives_a_restart(db_url: str | None, tmp_path: Path) -> None:
    first = MemoryEvents()
    rm, store = boot(db_url, tmp_path, first)
    rm.activate_kill_switch(1000, "runaway strategy", "alice")
    store.close()

    again = MemoryEvents()
    rm2, store2 = boot(db_url, tmp_path, again)
    assert rm2.state() is TradingState.HALTED  # before any call: restored
    assert rm2.poll_kill_switch(2000)
    assert rm2.check(make_order(), make_ctx(ts=2000)).reason_code == "KILL_SWITCH"
    assert again.of("KillSwitchActivated") == []  # already acknowledged before the restart
    history = store2.kill_switch_history()
    assert [(h.active, h.reason, h.actor, h.ts) for h in history] == [
        (True, "runaway strategy", "alice", 1000)
    ]
    store2.close()


def test_counters_survive_a_restart(db_url: str | None, tmp_path: Path) -> None:
    cfg = {
        "max_daily_loss_pct": 5,
        "cooldown_after_loss_minutes": 30,
        "breakers": {"consecutive_losses": {"max_losses": 3}},
    }
    rm, store = boot(db_url, tmp_path, MemoryEvents(), **cfg)
    rm.on_mark(0, dec(10000))
    rm.on_mark(MIN, dec(9700))
    rm.on_trade_closed(2 * MIN, SYMBOL, dec(-100))
    rm.on_trade_closed(3 * MIN, SYMBOL, dec(-200))
    rm.check(make_order(cid="x"), make_ctx(ts=4 * MIN, equity="9700"))  # denied: cool-down
    rm.flush(4 * MIN)
    store.close()

    events = MemoryEvents()
    rm2, store2 = boot(db_url, tmp_path, events, **cfg)
    assert rm2.counters.denials == {"COOLDOWN": 1}
    assert rm2.book.day_start_equity == dec(10000)  # a restart does not forget today's start
    assert rm2.book.peak_equity == dec(10000)
    assert rm2.check(make_order(cid="y"), make_ctx(ts=5 * MIN, equity="9700")).reason_code == "COOLDOWN"
    rm2.on_mark(6 * MIN, dec(9500))  # -5% of the day's start: halts
    assert rm2.state() is TradingState.HALTED
    rm2.on_trade_closed(7 * MIN, SYMBOL, dec(-1))  # third loss in a row, counting across the restart
    assert rm2.counters.breaker_trips == {"daily_loss": 1, "consecutive_losses": 1}
    store2.close()

    rm3, store3 = boot(db_url, tmp_path, MemoryEvents(), **cfg)
    assert {b.name for b in rm3.breakers() if b.tripped} == {"daily_loss", "consecutive_losses"}
    assert rm3.state() is TradingState.HALTED
    assert store3.load().states["global"][0] is TradingState.HALTED
    store3.close()


def test_switch_changed_while_the_bot_was_down_is_announced(db_url: str | None, tmp_path: Path) -> None:
    rm, store = boot(db_url, tmp_path, MemoryEvents())
    rm.on_mark(0, dec(100))
    store.close()
    cli = RiskStateStore.open(db_url, tmp_path)
    cli.set_kill_switch(True, "maintenance", "bob", 5000)
    cli.close()
    events = MemoryEvents()
    rm2, store2 = boot(db_url, tmp_path, events)
    assert rm2.poll_kill_switch(6000)
    assert events.of("KillSwitchActivated") == [
        {"reason": "maintenance", "actor": "bob", "set_ts": 5000, "close_positions": False}
    ]
    store2.close()


def test_breaker_reset_requested_by_an_operator(db_url: str | None, tmp_path: Path) -> None:
    events = MemoryEvents()
    rm, store = boot(db_url, tmp_path, events, breakers={"drawdown": {"max_drawdown_pct": 10}})
    rm.on_mark(0, dec(100))
    rm.on_mark(1, dec(80))
    assert rm.state() is TradingState.HALTED
    operator = RiskStateStore.open(db_url, tmp_path)
    operator.request_breaker_reset("drawdown", "global", "checked positions", "carol", 2)
    rm.poll_kill_switch(3)
    assert rm.state() is TradingState.ACTIVE
    assert events.of("CircuitBreakerReset")[-1]["by"] == "operator carol: checked positions"
    assert operator.pending_commands() == []
    operator.close()
    store.close()


def test_stage_progress_is_persisted(db_url: str | None, tmp_path: Path) -> None:
    stages = {"canary": {"advance_after_trades": 1, "next_stage": "full"}, "full": {}}
    rm, store = boot(db_url, tmp_path, MemoryEvents(), stages=stages, active_stage="canary")
    rm.on_mark(0, dec(100))
    rm.on_trade_closed(DAY, SYMBOL, dec(3))
    store.close()
    _, store2 = boot(db_url, tmp_path, MemoryEvents(), stages=stages, active_stage="canary")
    snap = store2.load()
    assert snap.active_stage == "canary"
    canary = {p.stage: p for p in snap.stages}["canary"]
    assert (canary.trades, canary.pnl, canary.days) == (1, dec(3), 1)
    store2.close()


def test_kill_switch_from_another_process(tmp_path: Path) -> None:
    """The CLI in a separate process writes the switch; the bot's next poll (every second) sees it."""
    events = MemoryEvents()
    rm, store = boot(None, tmp_path, events)
    assert not rm.poll_kill_switch(0)
    env = {**os.environ, "TRADEWARDEN_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradewarden.cli.main",
            "kill-switch",
            "on",
            "--reason",
            "from another shell",
            "--by",
            "ops",
            "--wait",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # stored, but this test's "bot" polls only afterwards: nobody acknowledged within the wait
    assert done.returncode == 1, done.stderr
    assert "kill switch ON" in done.stdout and "no running bot acknowledged" in done.stderr
    assert rm.poll_kill_switch(1000)
    assert rm.state() is TradingState.HALTED
    assert events.of("KillSwitchActivated")[0]["reason"] == "from another shell"
    done = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "kill-switch", "off", "--by", "ops"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not rm.poll_kill_switch(2000)
    assert rm.state() is TradingState.ACTIVE
    store.close()


@pytest.mark.postgres
def test_kill_switch_from_another_process_on_postgres(pg_url: str, tmp_path: Path) -> None:
    events = MemoryEvents()
    rm, store = boot(pg_url, tmp_path, events)
    env = {**os.environ, "TRADEWARDEN_DATABASE__URL": pg_url}
    done = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "kill-switch", "on", "--reason", "pg", "--wait", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "kill switch ON" in done.stdout, done.stderr
    assert rm.poll_kill_switch(1000)
    store.close()


def test_decimal_counters_are_exact(tmp_path: Path) -> None:
    rm, store = boot(None, tmp_path, MemoryEvents())
    rm.on_mark(0, Decimal("12345.678901234567890123"))
    store.close()
    rm2, store2 = boot(None, tmp_path, MemoryEvents())
    assert rm2.book.peak_equity == Decimal("12345.678901234567890123")
    store2.close()


def test_writes_held_for_a_step_are_written_once_at_its_end(db_url: str | None, tmp_path: Path) -> None:
    rm, store = boot(db_url, tmp_path, MemoryEvents(), breakers={"drawdown": {"max_drawdown_pct": 10}})
    saved: list[int] = []
    save = store.save

    def counting_save(snap: object, ts: int) -> None:
        saved.append(ts)
        save(snap, ts)  # type: ignore[arg-type]

    store.save = counting_save  # type: ignore[method-assign]
    rm.on_mark(0, dec(100))
    assert saved == [0]  # outside a block each hook writes at once
    with rm.writes_held():
        rm.on_feed_health(MIN, True)
        rm.on_mark(MIN, dec(80))  # trips the drawdown breaker
        assert rm.check(make_order(), make_ctx(ts=MIN, equity="80")).reason_code == "MAX_DRAWDOWN"
        rm.on_trade_closed(MIN + 5, SYMBOL, dec(-1))
        assert saved == [0]  # nothing written inside the block
        assert store.load().breakers == []  # not even the trip
    assert saved == [0, MIN + 5]  # one write, stamped as the last hook's
    stored = store.load()
    assert [(b.name, b.tripped) for b in stored.breakers] == [("drawdown", True)]
    assert stored.counters[("denials", "MAX_DRAWDOWN")] == 1
    with rm.writes_held():
        rm.flush(2 * MIN)  # an explicit flush writes now, held or not
        assert saved == [0, MIN + 5, 2 * MIN]
    assert saved == [0, MIN + 5, 2 * MIN]  # and leaves nothing to write at the end
    store.close()
