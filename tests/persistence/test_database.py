"""The Database: opening, migrations, transactions, exact decimals, clear errors (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from tradewarden.persistence import Database, DatabaseError, default_data_dir
from tradewarden.persistence import risk_repo as repo
from tradewarden.persistence.migrate import VERSION_TABLE, head_revision
from tradewarden.persistence.models import Base, CounterRow


def test_first_open_migrates_and_second_does_not(db_url: str | None, tmp_path: Path) -> None:
    with Database.open(db_url, tmp_path) as db:
        assert db.migrated
        assert db.migration.from_revision is None
        assert db.migration.to_revision == head_revision()
        tables = set(inspect(db.engine).get_table_names())
    assert {
        "kill_switch_events",
        "risk_breakers",
        "risk_counters",
        "risk_cooldowns",
        "trading_states",
        "stage_progress",
        "operator_requests",
        "tradewarden_alembic_version",
    } <= tables
    with Database.open(db_url, tmp_path) as again:
        assert not again.migrated
        assert again.migration.from_revision == head_revision()


def test_migrations_match_the_models(db_url: str | None, tmp_path: Path) -> None:
    with Database.open(db_url, tmp_path) as db, db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []


def test_sqlite_file_is_under_the_data_dir(tmp_path: Path) -> None:
    with Database.open(None, tmp_path / "new" / "dir") as db:
        assert db.url.endswith("new/dir/tradewarden.db")
    assert (tmp_path / "new" / "dir" / "tradewarden.db").is_file()


def test_session_commits_or_rolls_back(db_url: str | None, tmp_path: Path) -> None:
    with Database.open(db_url, tmp_path) as db:
        with db.session() as s:
            repo.save_counters(s, {("peak_equity", "global"): Decimal("10")}, 1)
        with pytest.raises(RuntimeError), db.session() as s:
            repo.save_counters(s, {("peak_equity", "global"): Decimal("99")}, 2)
            raise RuntimeError("boom")
        with db.session() as s:
            assert repo.load_counters(s) == {("peak_equity", "global"): Decimal("10")}


def test_decimals_are_exact(db_url: str | None, tmp_path: Path) -> None:
    awkward = Decimal("0.1000000000000000055511151231257827021181583404541015625")
    with Database.open(db_url, tmp_path) as db:
        with db.session() as s:
            s.add(CounterRow(name="x", scope="global", value=awkward, updated_ts=0))
        with db.session() as s:
            assert s.scalars(select(CounterRow.value)).one() == awkward


def test_kill_switch_history_keeps_who_why_when(db_url: str | None, tmp_path: Path) -> None:
    with Database.open(db_url, tmp_path) as db:
        with db.session() as s:
            assert repo.latest_kill_switch(s) is None
            repo.record_kill_switch(s, True, "exchange outage", "ops@host", 1000)
        with db.session() as s:
            repo.record_kill_switch(s, False, "resolved", "ops@host", 2000)
        with db.session() as s:
            latest = repo.latest_kill_switch(s)
            history = repo.kill_switch_history(s)
    assert latest == repo.KillSwitchRecord(False, "resolved", "ops@host", 2000)
    assert [(h.active, h.reason, h.ts) for h in history] == [
        (False, "resolved", 2000),
        (True, "exchange outage", 1000),
    ]


def test_saving_again_updates_the_rows_in_place(db_url: str | None, tmp_path: Path) -> None:
    tripped = repo.BreakerRecord("drawdown", "global", True, "HALTED", "down 12%", 5, None)
    reset = repo.BreakerRecord("drawdown", "global", False, "HALTED", "", 5, None)
    with Database.open(db_url, tmp_path) as db:
        with db.session() as s:
            repo.save_breakers(s, [tripped], 5)
            repo.save_states(s, [repo.StateRecord("global", "HALTED", "drawdown", 5)])
            repo.save_counters(s, {("peak_equity", "global"): Decimal("10"), ("trades_today", "global"): Decimal(1)}, 5)
        with db.session() as s:
            repo.save_breakers(s, [reset], 9)
            repo.save_states(s, [repo.StateRecord("global", "ACTIVE", "all causes cleared", 9)])
            repo.save_counters(s, {("peak_equity", "global"): Decimal("11")}, 9)
        with db.session() as s:
            assert repo.load_breakers(s) == [reset]
            assert repo.load_states(s) == [repo.StateRecord("global", "ACTIVE", "all causes cleared", 9)]
            assert repo.load_counters(s) == {("peak_equity", "global"): Decimal("11"),
                                             ("trades_today", "global"): Decimal(1)}
            assert s.scalars(select(CounterRow.updated_ts).order_by(CounterRow.name)).all() == [9, 5]


def test_only_one_stage_is_active(tmp_path: Path) -> None:
    def rec(name: str, active: bool) -> repo.StageRecord:
        z = Decimal(0)
        return repo.StageRecord(name, active, 0, 0, 0, 0, z, z, z, z)

    with Database.open(None, tmp_path) as db:
        with db.session() as s:
            repo.save_stage(s, rec("canary", True))
        with db.session() as s:
            repo.save_stage(s, rec("stage1", True))
        with db.session() as s:
            assert {r.stage: r.active for r in repo.load_stages(s)} == {"canary": False, "stage1": True}


def test_two_processes_opening_a_fresh_database_at_once(tmp_path: Path) -> None:
    # the write lock taken around check-and-upgrade makes the second opener wait, then find it current
    results: list[object] = []

    def open_it() -> None:
        try:
            with Database.open(None, tmp_path) as db:
                results.append(db.migrated)
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == ["False", "False", "True"]


def test_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as info:
        Database.open("postgresql://bob:s3cret@127.0.0.1:1/nowhere", tmp_path)
    message = str(info.value)
    assert message.startswith("cannot open database postgresql")
    assert "bob:***@127.0.0.1:1/nowhere" in message and "refused" in message
    assert "s3cret" not in message


@pytest.mark.parametrize("url", ["not a url", "nosuchdriver://x/y"])
def test_bad_url_is_a_clear_error(url: str, tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="database"):
        Database.open(url, tmp_path)


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRADEWARDEN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "tradewarden"
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"


def test_a_read_only_database_is_refused_at_open_in_one_line(db_url: str | None, tmp_path: Path) -> None:
    """A database that refuses writes (a read-only SQLite file or mount, a PostgreSQL standby or read-only
    role) is refused when opened, naming it, not at the bot's first write with SQLAlchemy's SQL dump."""
    with Database.open(db_url, tmp_path) as db, db.session() as s:
        s.add(CounterRow(name="kept", scope="global", value=Decimal("1.5"), updated_ts=7))
    if db_url is None:
        where = str(tmp_path / "tradewarden.db")
        read_only = f"sqlite:///file:{where}?mode=ro&uri=true"
        problem = "attempt to write a readonly database"
    else:
        where = "postgresql"
        read_only = db_url.replace("options=", "options=-cdefault_transaction_read_only%3Don%20", 1)
        problem = "read-only transaction"
    with pytest.raises(DatabaseError) as info:
        Database.open(read_only, tmp_path)
    message = str(info.value)
    assert message.startswith(f"cannot write database {where}") and problem in message
    assert "\n" not in message and "[SQL" not in message
    with Database.open(db_url, tmp_path) as db, db.session() as s:
        assert s.get(CounterRow, ("kept", "global")).value == Decimal("1.5")  # type: ignore[union-attr]


def test_the_sqlite_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    import os

    data_dir = tmp_path / "fresh" / "data"
    old = os.umask(0)
    try:
        with Database.open(None, data_dir) as db, db.session() as s:
            s.add(CounterRow(name="x", scope="global", value=Decimal(1), updated_ts=0))
            s.flush()
            # while the database is open in WAL mode its -wal and -shm files exist
            files = {p.name: p.stat().st_mode & 0o777 for p in data_dir.iterdir()}
    finally:
        os.umask(old)
    assert files == {"tradewarden.db": 0o600, "tradewarden.db-wal": 0o600, "tradewarden.db-shm": 0o600}
    assert data_dir.stat().st_mode & 0o777 == 0o700 and data_dir.parent.stat().st_mode & 0o777 == 0o700
