"""Upgrading a database made before the runtime tables (revision 0001, risk only) keeps its rows and adds them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from tradewarden.persistence import Database
from tradewarden.persistence import risk_repo as repo
from tradewarden.persistence.database import default_url, resolve_driver
from tradewarden.persistence.migrate import alembic_config, current_revision, head_revision
from tradewarden.persistence.runtime_store import RuntimeStore

RISK_ONLY = "0001_risk_state"
RUNTIME = "0002_runtime_state"
FEE_BASE = "0003_fill_fee_base"
HEAD = "0013_fleet"  # the fleet registry
RUNTIME_TABLES = {"runtime_orders", "runtime_fills", "runtime_balances", "runtime_snapshots"}


def _database_at(url: str | None, tmp_path: Path, revision: str) -> None:
    """Run Alembic itself (not Database.open) up to ``revision`` and write risk rows as that version would."""
    engine = create_engine(resolve_driver(make_url(url or default_url(tmp_path))))
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
            assert current_revision(conn) == revision
            assert not RUNTIME_TABLES & set(inspect(conn).get_table_names())
            conn.exec_driver_sql(
                "INSERT INTO kill_switch_events (active, reason, actor, ts) VALUES (true, 'outage', 'ops', 1000)")
            conn.exec_driver_sql(
                "INSERT INTO risk_counters (name, scope, value, updated_ts) VALUES ('peak_equity', 'global', "
                "'10000.123456789012345678', 2000)")
    finally:
        engine.dispose()


def test_a_risk_only_database_upgrades_and_keeps_its_rows(db_url: str | None, tmp_path: Path) -> None:
    _database_at(db_url, tmp_path, RISK_ONLY)
    with Database.open(db_url, tmp_path) as db:
        assert db.migrated
        assert (db.migration.from_revision, db.migration.to_revision) == (RISK_ONLY, HEAD)
        assert head_revision() == HEAD
        assert set(inspect(db.engine).get_table_names()) >= RUNTIME_TABLES
        with db.session() as s:
            assert repo.latest_kill_switch(s) == repo.KillSwitchRecord(True, "outage", "ops", 1000)
            assert repo.load_counters(s) == {("peak_equity", "global"): Decimal("10000.123456789012345678")}
        store = RuntimeStore(db, "paper:sim:BTC/USDT")
        with store.step() as w:
            w.save_balances({"USDT": Decimal("10000")}, 3000)
        assert store.balances() == {"USDT": Decimal("10000")}
    with Database.open(db_url, tmp_path) as again:
        assert not again.migrated and again.migration.from_revision == HEAD


def test_the_runtime_migration_goes_back_down(db_url: str | None, tmp_path: Path) -> None:
    with Database.open(db_url, tmp_path) as db:
        with db.engine.begin() as conn:
            command.downgrade(alembic_config(conn), RISK_ONLY)
            assert current_revision(conn) == RISK_ONLY
            tables = set(inspect(conn).get_table_names())
        assert not RUNTIME_TABLES & tables and "kill_switch_events" in tables


def test_fills_stored_before_fee_base_read_back_with_nothing_withheld(db_url: str | None, tmp_path: Path) -> None:
    engine = create_engine(resolve_driver(make_url(db_url or default_url(tmp_path))))
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), RUNTIME)
            conn.exec_driver_sql(
                "INSERT INTO runtime_fills (account, key, ts, client_id, symbol, side, qty, price, fee, liquidity, "
                "reason) VALUES ('live:x', 't1', 5, 'tw-1', 'BTC/USDT', 'buy', '0.01000', '40000.00', '0.4', "
                "'taker', 'order')")
    finally:
        engine.dispose()
    with Database.open(db_url, tmp_path) as db:
        assert (db.migration.from_revision, db.migration.to_revision) == (RUNTIME, HEAD)
        store = RuntimeStore(db, "live:x")
        [fill] = store.fills()
        assert (fill.qty, fill.fee, fill.fee_base) == (Decimal("0.01000"), Decimal("0.4"), Decimal(0))
        with store.step() as w:
            w.record_fill(replace(fill, fee_base=Decimal("0.00001"), fee=Decimal("0.4")), "t2")
        assert [f.fee_base for f in store.fills()] == [Decimal(0), Decimal("0.00001")]
