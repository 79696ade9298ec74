"""`tradewarden kill-switch`, `stage show` and `audit verify` through the real top-level app."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.risk import RiskManager, verify_audit
from tradewarden.risk.store import RiskStateStore

from .conftest import SYMBOL, MemoryEvents, make_config

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("TRADEWARDEN_DB_URL", "TRADEWARDEN_CONFIG", "TRADEWARDEN_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_kill_switch_on_status_off(data_dir: Path) -> None:
    # no bot runs on this database: the switch is stored, and the command says clearly that nobody halted yet
    code, out = run("kill-switch", "on", "--reason", "exchange down", "--by", "alice", "--wait", "0")
    assert code == 1 and "kill switch ON" in out and "alice" in out
    assert "no running bot acknowledged" in out and "it will halt at its next start" in out
    code, out = run("kill-switch", "on", "--reason", "again", "--wait", "0")
    assert code == 1 and "already ON" in out and "exchange down" in out and "no running bot acknowledged" in out
    code, out = run("kill-switch", "status")
    assert code == 0 and "ON" in out and "exchange down" in out and "none tripped" in out
    assert "not acknowledged by a running bot yet" in out
    # a bot starting now applies it and acknowledges it; `on` again reports that bot
    store = RiskStateStore.open(None, data_dir)
    bot = RiskManager(make_config(), MemoryEvents(), store=store)
    assert bot.poll_kill_switch(5_000) and bot.acknowledge_kill_switch(5_000, "paper:bot on h pid 7")
    assert not bot.acknowledge_kill_switch(6_000, "paper:bot on h pid 7")  # once per switch event
    store.close()
    code, out = run("kill-switch", "on", "--reason", "again", "--wait", "0")
    assert code == 0 and "acknowledged by paper:bot on h pid 7 at 1970-01-01 00:00:05 UTC" in out
    code, out = run("kill-switch", "off", "--reason", "fixed", "--by", "bob")
    assert code == 0 and "kill switch OFF" in out
    store = RiskStateStore.open(None, data_dir)
    history = store.kill_switch_history()
    store.close()
    assert [(h.active, h.actor, h.reason) for h in history] == [
        (False, "bob", "fixed"),
        (True, "alice", "exchange down"),
    ]


def test_kill_switch_on_needs_a_reason(data_dir: Path) -> None:
    code, _ = run("kill-switch", "on")
    assert code == 2
    code, out = run("kill-switch", "on", "--reason", "  ")
    assert code == 2 and "--reason must say why" in out


def test_kill_switch_uses_the_db_url_option(tmp_path: Path, data_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert run("kill-switch", "on", "--reason", "x", "--db-url", url, "--wait", "0")[0] == 1
    assert (tmp_path / "other.db").is_file() and not (data_dir / "tradewarden.db").exists()
    store = RiskStateStore.open(url, tmp_path)
    assert store.kill_switch().active
    store.close()


def _bot_config(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A bot config whose data_dir and database.url differ from the defaults: (config, data dir, db file)."""
    bot_dir, db_file = tmp_path / "bot-data", tmp_path / "elsewhere" / "bot.db"
    db_file.parent.mkdir()
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'data_dir = "{bot_dir}"\n[database]\nurl = "sqlite:///{db_file}"\n')
    return cfg, bot_dir, db_file


@pytest.mark.parametrize("how", ["option", "environment"])
def test_state_commands_reach_the_database_of_the_bots_config(
        tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    cfg, bot_dir, db_file = _bot_config(tmp_path)
    args = ["--config", str(cfg)] if how == "option" else []
    if how == "environment":
        monkeypatch.setenv("TRADEWARDEN_CONFIG", str(cfg))
    code, out = run("kill-switch", "on", "--reason", "incident", "--wait", "0", *args)
    assert code == 1 and "kill switch ON" in out
    assert db_file.is_file() and not (data_dir / "tradewarden.db").exists()
    store = RiskStateStore.open(f"sqlite:///{db_file}", bot_dir)  # what `run` with that config opens
    assert store.kill_switch().reason == "incident"
    store.close()
    code, out = run("kill-switch", "status", *args)
    assert code == 0 and "incident" in out
    assert run("kill-switch", "reset-breaker", "drawdown", *args)[0] == 0
    assert run("stage", "show", *args)[0] == 0
    assert not (data_dir / "tradewarden.db").exists()  # nothing went to the default database


def test_kill_switch_on_is_acknowledged_by_a_bot_on_the_configs_database(tmp_path: Path, data_dir: Path) -> None:
    import threading

    from tradewarden.config import load_config

    cfg_file, _, _ = _bot_config(tmp_path)
    cfg = load_config(cfg_file)
    stop = threading.Event()

    def bot() -> None:  # the running bot's watcher: poll, then acknowledge (no assertions here)
        store = RiskStateStore.open(cfg.database.url, cfg.data_dir)
        rm = RiskManager(make_config(), MemoryEvents(), store=store)
        while not stop.is_set():
            if rm.poll_kill_switch(1_000):
                rm.acknowledge_kill_switch(2_000, "paper:simulator:BTC/USDT:sma_cross on box pid 42")
            stop.wait(0.05)
        store.close()

    thread = threading.Thread(target=bot)
    thread.start()
    try:
        code, out = run("kill-switch", "on", "--reason", "incident", "--config", str(cfg_file), "--wait", "30")
    finally:
        stop.set()
        thread.join()
    assert code == 0, out
    assert "acknowledged by paper:simulator:BTC/USDT:sma_cross on box pid 42 at 1970-01-01 00:00:02 UTC" in out


def test_a_bad_config_is_one_message_and_exit_2(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[database]\nurll = 'x'\n")
    for args in (["kill-switch", "on", "--reason", "x"], ["kill-switch", "status"], ["audit", "verify"],
                 ["stage", "show"]):
        code, out = run(*args, "--config", str(bad))
        assert code == 2 and "database.urll: unknown setting" in out and "Traceback" not in out, args
    code, out = run("kill-switch", "status", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml" in out


def test_the_retired_db_url_variable_is_refused(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `run` never read it: honouring it here would split the kill switch from the bot's database
    monkeypatch.setenv("TRADEWARDEN_DB_URL", f"sqlite:///{data_dir / 'other.db'}")
    code, out = run("kill-switch", "on", "--reason", "x")
    assert code == 2 and "TRADEWARDEN_DATABASE__URL" in out
    assert not (data_dir / "other.db").exists() and not (data_dir / "tradewarden.db").exists()


def test_bad_database_url_is_one_clear_line(data_dir: Path) -> None:
    code, out = run("kill-switch", "status", "--db-url", "postgresql://u:pw@127.0.0.1:1/x")
    assert code == 1 and "cannot open database" in out and "pw@" not in out and "Traceback" not in out


def test_status_lists_tripped_breakers_and_states(data_dir: Path) -> None:
    store = RiskStateStore.open(None, data_dir)
    rm = RiskManager(
        make_config(breakers={"drawdown": {"max_drawdown_pct": 10}}), MemoryEvents(), store=store
    )
    rm.on_mark(0, Decimal(100))
    rm.on_mark(1, Decimal(85))
    store.close()
    code, out = run("kill-switch", "status")
    assert code == 0 and "drawdown" in out and "HALTED" in out


def test_reset_breaker_is_queued(data_dir: Path) -> None:
    code, out = run("kill-switch", "reset-breaker", "drawdown", "--reason", "ok")
    assert code == 0 and "queued" in out
    store = RiskStateStore.open(None, data_dir)
    pending = store.pending_commands()
    store.close()
    assert [(c.kind, c.target, c.scope, c.reason) for c in pending] == [
        ("reset_breaker", "drawdown", "global", "ok")
    ]
    code, out = run("kill-switch", "reset-breaker", "nonsense")
    assert code == 2 and "unknown breaker" in out


STAGES_TOML = """
[risk]
active_stage = "canary"
[risk.stages.canary]
risk_per_trade_pct = 0.1
max_daily_loss_pct = 0.5
max_trades_per_day = 1
advance_after_days = 14
advance_after_trades = 20
advance_max_drawdown_pct = 3
next_stage = "stage1"
[risk.stages.stage1]
risk_per_trade_pct = 0.15
"""


def test_stage_show_without_results(data_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "risk.toml"
    cfg.write_text(STAGES_TOML)
    code, out = run("stage", "show", "--config", str(cfg))
    assert code == 0 and "canary" in out and "no results recorded yet" in out
    code, out = run("stage", "show")
    assert code == 0 and "pass --config" in out


def test_stage_show_with_results(data_dir: Path, tmp_path: Path) -> None:
    from tradewarden.risk import load_risk_config_file

    cfg_file = tmp_path / "risk.toml"
    cfg_file.write_text(STAGES_TOML)
    store = RiskStateStore.open(None, data_dir)
    rm = RiskManager(load_risk_config_file(cfg_file), MemoryEvents(), store=store)
    rm.on_mark(0, Decimal(1000))
    rm.on_trade_closed(15 * 86_400_000, SYMBOL, Decimal(-5))
    rm.on_mark(15 * 86_400_000, Decimal(995))
    store.close()
    code, out = run("stage", "show", "--config", str(cfg_file))
    assert code == 0
    assert "days live" in out and ">= 14" in out and "15" in out  # met
    assert "trades" in out and ">= 20" in out  # 1 of 20: not met
    assert "not ready to advance to stage1: CONTINUE (trades" in out   # the rule of `report period`


def test_stage_show_reports_config_errors(data_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "risk.yaml"
    cfg.write_text("risk:\n  active_stage: nowhere\n")
    code, out = run("stage", "show", "--config", str(cfg))
    assert code == 2 and "risk.active_stage: not one of the stages" in out


ACCOUNT = "paper:simulator:BTC/USDT:sma_cross"


def _account_trail(data_dir: Path, n: int) -> Path:
    """An account's trail of ``n`` records, its head in the database, as a session leaves it."""
    from tradewarden.risk.account_audit import AccountAuditTrail, trail_path

    store = RiskStateStore.open(None, data_dir)
    path = trail_path(data_dir, ACCOUNT)
    with AccountAuditTrail(path, store, ACCOUNT) as audit:
        for i in range(n):
            audit.append("TRADE_APPROVED", i, client_id=str(i))
        audit.sync(n)
    store.close()
    return path


def test_audit_verify_finds_the_accounts_trail_through_the_database(data_dir: Path) -> None:
    path = _account_trail(data_dir, 3)
    assert path.parent == data_dir / "audit"
    code, out = run("audit", "verify")
    assert code == 0 and "OK, 3 records" in out and "the database recorded 3" in out and ACCOUNT in out
    rows = path.read_text().splitlines()
    path.write_text("\n".join([rows[0], rows[2]]) + "\n")
    code, out = run("audit", "verify", str(path))
    assert code == 1 and "DELETED" in out and "line 2" in out


def test_audit_verify_detects_a_cut_tail(data_dir: Path) -> None:
    path = _account_trail(data_dir, 3)
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:2]))
    assert verify_audit(path).ok  # the file alone looks intact
    code, out = run("audit", "verify")
    assert code == 1 and "CUT" in out and "record(s) 3 were cut from its end" in out


def test_audit_verify_detects_a_deleted_file(data_dir: Path) -> None:
    _account_trail(data_dir, 3).unlink()
    code, out = run("audit", "verify")
    assert code == 1 and "DELETED" in out and "recorded 3 records" in out


def test_audit_verify_detects_a_recomputed_chain(data_dir: Path) -> None:
    import json

    from tradewarden.risk.audit import GENESIS, record_hash

    path = _account_trail(data_dir, 3)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["client_id"] = "forged"
    prev = GENESIS
    for rec in records:  # every hash recomputed: the chain itself verifies
        rec["prev_hash"] = prev
        rec["hash"] = prev = record_hash(rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert verify_audit(path).ok
    code, out = run("audit", "verify")
    assert code == 1 and "REWRITTEN" in out and "record seq 3" in out


def test_audit_verify_with_nothing_to_verify(data_dir: Path) -> None:
    code, out = run("audit", "verify")
    assert code == 2 and "no audit trail found" in out


def test_audit_verify_missing_file(data_dir: Path) -> None:
    code, out = run("audit", "verify", str(data_dir / "nope.jsonl"))
    assert code == 2 and "audit file not found" in out


def test_help_texts() -> None:
    for group in ("kill-switch", "stage", "audit"):
        code, out = run(group, "--help")
        assert code == 0 and "Usage" in out


def test_audit_restart_keeps_the_damaged_trail_and_records_who(data_dir: Path) -> None:
    import json

    path = _account_trail(data_dir, 3)
    code, out = run("audit", "restart", ACCOUNT, "--reason", "disk restored from backup", "--by", "alice")
    assert code == 1 and "intact" in out  # nothing to restart
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:1]))
    code, out = run("audit", "restart", ACCOUNT, "--reason", "disk restored from backup", "--by", "alice")
    assert code == 0, out
    [kept] = data_dir.glob("audit/*.damaged-*")
    assert len(kept.read_text().splitlines()) == 1  # the evidence, untouched
    [first] = [json.loads(line) for line in path.read_text().splitlines()]
    assert (first["type"], first["seq"], first["actor"], first["previous_records"]) == (
        "AUDIT_TRAIL_RESTARTED", 1, "alice", 3)
    assert first["finding"].startswith("CUT")
    code, out = run("audit", "verify")
    assert code == 0 and "OK, 1 records" in out
