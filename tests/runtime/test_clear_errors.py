"""Clear errors and private files (issue 11, points 13 and 14): an unwritable run directory or a read-only
database is one line naming the path and the problem with exit 1, nothing stored is lost, every file a session
creates is readable by its owner only whatever the umask, and a normal session prints no traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app

FAST = ["--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8"]


@pytest.fixture
def data_dir(env: Path) -> Path:
    """The session's environment (tests/conftest.py): its data directory."""
    return env


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def error_lines(result: Any) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


@pytest.mark.parametrize("command", [
    ["run", "--mode", "paper", "--duration", "1h", *FAST],
    ["backtest"],
    ["optimize", "--trials", "2"],
])
def test_an_unwritable_run_directory_is_one_line_and_exit_1(command: list[str], data_dir: Path,
                                                            tmp_path: Path) -> None:
    # a path under a regular file: not writable even by root (a chmod would not stop root)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory\n")
    target = blocker / "run"
    result = invoke(*command, "--out", str(target))
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught NotADirectoryError
    lines = error_lines(result)
    assert len(lines) == 1, result.output
    assert f"{target}: Not a directory" in lines[0] and "cannot write the" in lines[0]
    assert blocker.read_text() == "not a directory\n"


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_read_only_database_is_one_line_and_exit_1_before_anything_starts(data_dir: Path,
                                                                            tmp_path: Path) -> None:
    from tradewarden.persistence import Database
    from tradewarden.persistence.models import CounterRow

    with Database.open(None, data_dir) as db, db.session() as s:  # state a previous run stored
        s.add(CounterRow(name="equity_peak", scope="global", value=Decimal("10234.5"), updated_ts=1))
    db_file = data_dir / "tradewarden.db"
    stored = _dump(db_file)
    out = tmp_path / "run"
    # a read-only database, as root too: SQLite opened read-only (a read-only mount or file behaves alike)
    result = invoke("run", "--mode", "paper", "--duration", "1h", "--out", str(out), *FAST,
                    "--set", f"database.url=sqlite:///file:{db_file}?mode=ro&uri=true")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, result.output
    assert f"cannot write database {db_file}: attempt to write a readonly database" in lines[0]
    assert "[SQL:" not in result.output and "Traceback" not in result.output
    types = [json.loads(line)["type"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert "BOOT_SEAL" not in types  # refused at the database, before the session started anything
    assert _dump(db_file) == stored


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}


@pytest.mark.slow
def test_a_paper_session_creates_owner_only_files_under_umask_0_and_prints_no_traceback(tmp_path: Path) -> None:
    data_dir, runs = tmp_path / "data", tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env.update(TRADEWARDEN_DATA_DIR=str(data_dir), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--duration", "2h",
         "--out", str(runs / "paper"), *FAST],
        env=env, capture_output=True, text=True, timeout=300, umask=0,
    )
    assert proc.returncode == 0, proc.stderr
    created = {**{f"data/{k}": v for k, v in _modes(data_dir).items()},
               **{f"runs/{k}": v for k, v in _modes(runs).items()}}
    for name in ("data/tradewarden.db", "data/logs/tradewarden.jsonl", "runs/paper/events.jsonl",
                 "runs/paper/recording.jsonl", "runs/paper/summary.html",
                 "runs/paper/equity.csv", "runs/paper/trades.csv", "runs/paper/summary.json"):
        assert name in created, sorted(created)
    # the account's audit trail, one per account in the data directory
    assert [n for n in created if n.startswith("data/audit/") and n.endswith(".jsonl")], sorted(created)
    exposed = {name: oct(mode) for name, mode in created.items() if mode & 0o077}
    assert exposed == {}
    log = (data_dir / "logs" / "tradewarden.jsonl").read_text()
    for noise in ("Traceback", "Task exception was never retrieved"):
        assert noise not in proc.stderr and noise not in proc.stdout and noise not in log


def _reported(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    import typer

    from tradewarden.cli import errors

    with pytest.raises(typer.Exit) as info, errors.user_errors():
        raise exc
    return info.value.exit_code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_an_os_error_reaching_the_cli_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _reported(PermissionError(13, "Permission denied", "/srv/tw/runs/x/summary.json"), capsys)
    assert code == 1 and lines == ["error: /srv/tw/runs/x/summary.json: Permission denied"]


def test_a_database_error_reaching_the_cli_is_its_driver_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy.exc import OperationalError

    exc = OperationalError("DELETE FROM runtime_orders WHERE runtime_orders.account = ?", ("paper",),
                           sqlite3.OperationalError("attempt to write a readonly database"))
    code, lines = _reported(exc, capsys)
    assert code == 1 and lines == ["error: database error: attempt to write a readonly database"]
