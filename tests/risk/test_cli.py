"""`tradewarden kill-switch`, `stage show` and `audit verify` through the real top-level app."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.risk import AuditTrail, RiskManager
from tradewarden.risk.store import RiskStateStore

from .conftest import SYMBOL, MemoryEvents, make_config

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TRADEWARDEN_DB_URL", raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_kill_switch_on_status_off(data_dir: Path) -> None:
    code, out = run("kill-switch", "on", "--reason", "exchange down", "--by", "alice")
    assert code == 0 and "kill switch ON" in out and "alice" in out
    code, out = run("kill-switch", "on", "--reason", "again")
    assert code == 0 and "already ON" in out and "exchange down" in out
    code, out = run("kill-switch", "status")
    assert code == 0 and "ON" in out and "exchange down" in out and "none tripped" in out
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
    assert run("kill-switch", "on", "--reason", "x", "--db-url", url)[0] == 0
    assert (tmp_path / "other.db").is_file() and not (data_dir / "tradewarden.db").exists()


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
    assert "not ready to advance to stage1" in out


def test_stage_show_reports_config_errors(data_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "risk.yaml"
    cfg.write_text("risk:\n  active_stage: nowhere\n")
    code, out = run("stage", "show", "--config", str(cfg))
    assert code == 2 and "risk.active_stage: not one of the stages" in out


def test_audit_verify(data_dir: Path) -> None:
    path = data_dir / "audit.jsonl"
    with AuditTrail(path) as audit:
        for i in range(3):
            audit.append("TRADE_APPROVED", i, client_id=str(i))
    code, out = run("audit", "verify")  # default file in the data dir
    assert code == 0 and "OK, 3 records" in out
    rows = path.read_text().splitlines()
    path.write_text("\n".join([rows[0], rows[2]]) + "\n")
    code, out = run("audit", "verify", str(path))
    assert code == 1 and "DELETED" in out and "line 2" in out


def test_audit_verify_missing_file(data_dir: Path) -> None:
    code, out = run("audit", "verify", str(data_dir / "nope.jsonl"))
    assert code == 2 and "audit file not found" in out


def test_help_texts() -> None:
    for group in ("kill-switch", "stage", "audit"):
        code, out = run(group, "--help")
        assert code == 0 and "Usage" in out
