"""tradewarden backup / restore: the state of a paper session (built-in simulator, through ccxt) in one archive,
restored into an empty data directory (SQLite and PostgreSQL, pg_dump and the logical export) equal to the
source; a changed archive, a rewritten audit trail and a non-empty directory refused; the retention count."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tradewarden.backup import create_backup, prune, restore_backup, run_scheduled_backup
from tradewarden.backup.dbcopy import our_tables
from tradewarden.cli.main import app
from tradewarden.config import AppConfig, load_config
from tradewarden.persistence.database import Database

FAST = ["--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false", "--set", "logging.console=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8"]
# canaries made per test run: no secret-looking literal is committed
CANARY_KEY = f"canarykey{secrets.token_hex(12)}"
CANARY_SECRET = f"canarysecret{secrets.token_hex(12)}"


def paper_run(data_dir: Path, run_dir: Path, db_url: str | None = None) -> None:
    """A short paper session against the built-in simulator; it leaves orders, fills, balances, a kill switch
    event (set and cleared from the CLI before it runs) and the account's audit trail behind."""
    env = {"TRADEWARDEN_DATA_DIR": str(data_dir)} | ({"TRADEWARDEN_DATABASE__URL": db_url} if db_url else {})
    runner = CliRunner()
    for args in (["kill-switch", "on", "--reason", "drill", "--by", "alice", "--wait", "0"],
                 ["kill-switch", "off", "--reason", "drill over", "--by", "alice"]):
        runner.invoke(app, args, env=env)  # no bot runs yet: `on` cannot be acknowledged and says so (exit 1)
    result = runner.invoke(app, ["run", "--mode", "paper", "--duration", "3h", "--out", str(run_dir), *FAST],
                           env=env)
    assert result.exit_code == 0, result.output


def config(data_dir: Path, db_url: str | None = None) -> AppConfig:
    env = {"TRADEWARDEN_EXCHANGE__API_KEY": CANARY_KEY, "TRADEWARDEN_EXCHANGE__API_SECRET": CANARY_SECRET}
    overrides = {"data_dir": str(data_dir), "strategy.name": "sma_cross"} | ({"database.url": db_url} if db_url else {})
    return load_config(None, overrides, env=env)


def rows(url: str | None, data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of ours, sorted; audit_heads' path by file name (a restore relocates it)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with Database.open(url, data_dir) as db, db.engine.connect() as conn:
        for name in our_tables():
            found = [tuple(r) for r in conn.execute(text(f'SELECT * FROM "{name}"'))]
            if name == "audit_heads":
                found = [(r[0], Path(str(r[1])).name, *r[2:]) for r in found]
            out[name] = sorted(found, key=repr)
    return out


def named(data_dir: Path, table: str) -> list[dict[str, object]]:
    """The rows of one table of the SQLite database in ``data_dir``, as dicts, in insertion order."""
    with Database.open(None, data_dir) as db, db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY rowid'))]


def trails(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((data_dir / "audit").glob("*.jsonl"))}


@pytest.fixture(scope="module")
def session_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("paper")
    paper_run(base / "data", base / "run")
    return base / "data"


@pytest.fixture
def source(session_data: Path, tmp_path: Path) -> Path:
    """A copy of the session's data directory for one test to change."""
    data = tmp_path / "source"
    shutil.copytree(session_data, data)
    return data


def test_a_sqlite_backup_restores_books_audit_trail_and_kill_switch_history(source: Path, tmp_path: Path) -> None:
    made = create_backup(config(source), tmp_path / "backups")
    assert made.path.name.startswith("tradewarden-backup-") and made.path.name.endswith(".tar.gz")
    assert made.path.stat().st_mode & 0o777 == 0o600
    manifest = made.manifest
    assert manifest["database"]["kind"] == "sqlite" and manifest["database"]["revision"]
    assert {f["path"] for f in manifest["files"]} >= {"database/tradewarden.db", "config.yaml",
                                                      *(f"audit/{n}" for n in trails(source))}
    with tarfile.open(made.path) as tar:  # the config is kept, the credentials are not
        member = tar.extractfile("config.yaml")
        assert member is not None
        kept = member.read().decode()
        raw = b"".join(f.read() for m in tar.getmembers() if (f := tar.extractfile(m)) is not None)
    assert "sma_cross" in kept and CANARY_KEY.encode() not in raw and CANARY_SECRET.encode() not in raw

    target = tmp_path / "restored"
    result = CliRunner().invoke(app, ["restore", str(made.path), "--data-dir", str(target)])
    assert result.exit_code == 0, result.output
    before = rows(None, source)
    assert before["runtime_fills"] and before["runtime_orders"] and before["runtime_balances"]
    assert len(before["kill_switch_events"]) == 2 and before["operator_actions"]
    assert rows(None, target) == before
    assert trails(target) == trails(source)
    for path in [*(target / "audit").iterdir(), target / "tradewarden.db"]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    # the heads now name the restored trails, and `audit verify` finds them intact against the database
    with Database.open(None, target) as db, db.engine.connect() as conn:
        paths = [Path(p) for (p,) in conn.execute(text("SELECT path FROM audit_heads"))]
    assert paths and all(p.parent == target / "audit" and p.is_file() for p in paths)
    verify = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(target)])
    assert verify.exit_code == 0 and "chain intact" in verify.output, verify.output


def _rewrite(archive: Path, dest: Path, change: dict[str, bytes], fix_manifest: bool) -> None:
    """A copy of ``archive`` with members' content replaced; the manifest's checksums updated or not."""
    import hashlib

    with tarfile.open(archive) as tar:
        members = {m.name: f.read() for m in tar.getmembers() if (f := tar.extractfile(m)) is not None}
    members.update(change)
    if fix_manifest:
        manifest = orjson.loads(members["manifest.json"])
        for entry in manifest["files"]:
            data = members[entry["path"]]
            entry["size"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
        members["manifest.json"] = orjson.dumps(manifest)
    with tarfile.open(dest, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_changed_archive_is_refused_naming_the_file_before_anything_is_written(source: Path,
                                                                                 tmp_path: Path) -> None:
    made = create_backup(config(source), tmp_path / "backups")
    [name] = trails(source)
    edited = trails(source)[name].replace(b'"seq":1,', b'"seq":1, ', 1)
    bad = tmp_path / "bad.tar.gz"
    _rewrite(made.path, bad, {f"audit/{name}": edited}, fix_manifest=False)
    target = tmp_path / "restored"
    result = CliRunner().invoke(app, ["restore", str(bad), "--data-dir", str(target)])
    assert result.exit_code == 2, result.output
    assert f"audit/{name} does not match its checksum" in result.output and "Traceback" not in result.output
    assert not target.exists()

    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "junk.tar.gz"), "--data-dir", str(target)])
    assert result.exit_code == 2 and "not a readable tradewarden backup" in result.output, result.output


def test_an_audit_trail_cut_with_a_recomputed_manifest_is_refused_against_the_database_head(
        source: Path, tmp_path: Path) -> None:
    made = create_backup(config(source), tmp_path / "backups")
    [name] = trails(source)
    cut = b"".join(line + b"\n" for line in trails(source)[name].splitlines()[:-1])
    forged = tmp_path / "forged.tar.gz"
    _rewrite(made.path, forged, {f"audit/{name}": cut}, fix_manifest=True)
    target = tmp_path / "restored"
    result = CliRunner().invoke(app, ["restore", str(forged), "--data-dir", str(target)])
    assert result.exit_code == 2, result.output
    assert f"audit trail audit/{name}: CUT" in result.output
    assert not target.exists()


def test_a_non_empty_data_directory_is_refused_unless_forced(source: Path, tmp_path: Path) -> None:
    made = create_backup(config(source), tmp_path / "backups")
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something.txt").write_text("mine")
    result = CliRunner().invoke(app, ["restore", str(made.path), "--data-dir", str(target)])
    assert result.exit_code == 2 and "is not empty" in result.output, result.output
    assert sorted(p.name for p in target.iterdir()) == ["something.txt"]
    result = CliRunner().invoke(app, ["restore", str(made.path), "--data-dir", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert rows(None, target) == rows(None, source)


def test_retention_keeps_the_newest_archives(source: Path, tmp_path: Path) -> None:
    cfg = config(source).model_copy(update={"backup": config(source).backup.model_copy(
        update={"dir": tmp_path / "backups", "keep": 2})})
    older = [create_backup(cfg, now_ms=1_700_000_000_000 + n * 3_600_000).path for n in range(3)]
    newest = run_scheduled_backup(cfg)
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted([older[2].name, newest.name])
    assert prune(tmp_path / "backups", 1) == [older[2]]


# -- PostgreSQL --------------------------------------------------------------------------------------------
@pytest.fixture
def schemas() -> Iterator[list[str]]:
    """Two more empty schemas of the test database to restore into."""
    base = os.environ.get("TRADEWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    names = [f"tw_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg2://", 1))
    with admin.begin() as conn:
        for name in names:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield [f"{base}?options=-csearch_path%3D{name}" for name in names]
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_a_postgresql_backup_restores_into_another_empty_schema_by_both_methods(
        pg_url: str, schemas: list[str], tmp_path: Path) -> None:
    data = tmp_path / "source"
    paper_run(data, tmp_path / "run", pg_url)
    before = rows(pg_url, data)
    assert before["runtime_fills"] and len(before["kill_switch_events"]) == 2
    methods = [False, True] if shutil.which("pg_dump") else [False]
    for use_pg_dump, target_url in zip(methods, schemas, strict=False):
        made = create_backup(config(data, pg_url), tmp_path / "backups", use_pg_dump=use_pg_dump)
        assert made.manifest["database"]["method"] == ("pg_dump" if use_pg_dump else "logical")
        target = tmp_path / f"restored-{made.manifest['database']['method']}"
        restore_backup(made.path, config(target, target_url))
        assert rows(target_url, target) == before, made.manifest["database"]["method"]
        assert trails(target) == trails(data)
        # the id sequences moved past the restored rows: the restored database takes new kill switch events
        env = {"TRADEWARDEN_DATA_DIR": str(target), "TRADEWARDEN_DATABASE__URL": target_url}
        CliRunner().invoke(app, ["kill-switch", "on", "--reason", "after restore", "--wait", "0"], env=env)
        assert len(rows(target_url, target)["kill_switch_events"]) == 3
        # and a second restore into it is refused: it is no longer empty
        again = CliRunner().invoke(app, ["restore", str(made.path), "--data-dir", str(tmp_path / "x"),
                                         "--db-url", target_url])
        assert again.exit_code == 2 and "already holds tradewarden state" in again.output, again.output


# -- while a session runs ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_backup_taken_while_a_paper_session_writes_restores_its_state_at_that_moment(tmp_path: Path) -> None:
    """The kill switch goes on, the backup is taken, the switch goes off, the session goes on: the restore has
    the books as of the backup (fills a prefix of the source's, finished orders as they are), the audit trail
    up to the backup (a prefix of the source's, holding `kill_switch_on` and not `off`) and exactly the
    kill switch history before it."""
    import signal
    import subprocess
    import sys

    from tests.runtime.test_state_commands import clean_env, events, wait_for

    data = tmp_path / "data"
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'data_dir = "{data}"\n[strategy]\nname = "sma_cross"\n[strategy.params]\nfast = 3\nslow = 8\n'
                   '[runtime]\nsim_speed = 600\nsim_fire_drill = false\nwarmup_bars = 30\n'
                   '[logging]\nconsole = false\n')
    env = clean_env(tmp_path)
    cli = [sys.executable, "-m", "tradewarden.cli.main"]
    run_dir, log = tmp_path / "run", (tmp_path / "bot.log").open("wb")
    bot = subprocess.Popen([*cli, "run", "--mode", "paper", "--config", str(cfg), "--out", str(run_dir)],
                           env=env, stdout=log, stderr=subprocess.STDOUT)

    def trail() -> list[dict[str, object]]:
        found = list((data / "audit").glob("*.jsonl"))
        return [orjson.loads(line) for line in found[0].read_bytes().splitlines()] if found else []

    def action(name: str) -> bool:
        return any(r.get("action") == name for r in trail())

    try:
        wait_for("a closed position",
                 lambda: any(e["type"] == "PositionClosed" for e in events(run_dir / "events.jsonl")), bot)
        on = subprocess.run([*cli, "kill-switch", "on", "--config", str(cfg), "--reason", "backup drill",
                             "--by", "alice", "--wait", "60"], env=env, capture_output=True, text=True)
        assert on.returncode == 0, on.stdout + on.stderr
        wait_for("the kill switch in the trail", lambda: action("kill_switch_on"), bot)
        made = subprocess.run([*cli, "backup", "--config", str(cfg), "--out", str(tmp_path / "backups")],
                              env=env, capture_output=True, text=True)
        assert made.returncode == 0, made.stdout + made.stderr
        assert bot.poll() is None  # taken while the bot runs
        off = subprocess.run([*cli, "kill-switch", "off", "--config", str(cfg), "--reason", "drill over",
                              "--by", "alice"], env=env, capture_output=True, text=True)
        assert off.returncode == 0, off.stdout + off.stderr
        wait_for("the session to go on writing its trail", lambda: action("kill_switch_off"), bot)
    finally:
        bot.send_signal(signal.SIGTERM)
        code = bot.wait(timeout=120)
        log.close()
    assert code == 0, (tmp_path / "bot.log").read_text()

    [archive] = (tmp_path / "backups").glob("tradewarden-backup-*.tar.gz")
    target = tmp_path / "restored"
    restored = CliRunner().invoke(app, ["restore", str(archive), "--data-dir", str(target)], env=env)
    assert restored.exit_code == 0, restored.output
    src, got = rows(None, data), rows(None, target)

    assert [r[1:] for r in got["kill_switch_events"]] == [r[1:] for r in src["kill_switch_events"][:1]]
    assert len(src["kill_switch_events"]) == 2
    fills_src, fills_got = named(data, "runtime_fills"), named(target, "runtime_fills")
    last = max(int(str(f["seq"])) for f in fills_got)
    assert fills_got == [f for f in fills_src if int(str(f["seq"])) <= last]  # the books up to then, no gap
    orders_src = {(o["account"], o["client_id"]): o for o in named(data, "runtime_orders")}
    orders_got = named(target, "runtime_orders")
    assert orders_got and any(not o["is_open"] for o in orders_got)
    for order in orders_got:
        if not order["is_open"]:  # a finished order never changes again
            assert order == orders_src[(order["account"], order["client_id"])]
    [name] = trails(data)
    before, after = trails(target)[name], trails(data)[name]
    assert after.startswith(before) and len(after) > len(before)
    kept = [orjson.loads(line) for line in before.splitlines()]
    assert any(r.get("action") == "kill_switch_on" for r in kept)
    assert not any(r.get("action") == "kill_switch_off" for r in kept)


def test_the_scheduled_backup_is_declared_from_the_config_and_runs_with_retention(source: Path,
                                                                                    tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tradewarden.backup import declare_backup_job
    from tradewarden.config import ConfigError
    from tradewarden.runtime.scheduler import SessionScheduler, run_registered

    with pytest.raises(ConfigError, match="every_hours or daily_utc, not both"):
        load_config(None, {"backup.every_hours": "6", "backup.daily_utc": "03:30"}, env={})
    assert not declare_backup_job(SessionScheduler(f"sqlite:///{tmp_path / 'a.db'}", "s1"), config(source))

    cfg = load_config(None, {"data_dir": str(source), "backup.daily_utc": "03:30", "backup.keep": "1",
                             "backup.dir": str(tmp_path / "backups")}, env={})
    scheduler = SessionScheduler(f"sqlite:///{tmp_path / 'jobs.db'}", "paper-test",
                                 clock=lambda: datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    assert declare_backup_job(scheduler, cfg)
    [job] = scheduler.jobs()
    assert job["id"] == "backup" and str(job["next_run"]).startswith("2025-03-02T03:30")
    older = create_backup(cfg, now_ms=1_700_000_000_000).path  # beyond the retention count of 1
    run_registered("paper-test", "backup")  # what the scheduler runs when the job falls due
    [kept] = (tmp_path / "backups").glob("tradewarden-backup-*.tar.gz")
    assert kept != older and not older.exists()  # the new one stayed, the older one went
