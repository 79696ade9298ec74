"""Restoring a backup into an empty data directory (and, for PostgreSQL, an empty schema).

Nothing is written before the whole archive is checked: every file against its checksum in the manifest,
and (SQLite, logical PostgreSQL export) every audit trail against the head its database records. Then the
database is put in place and brought to this build's schema, the trails are copied into ``<data dir>/audit``
and the heads are pointed at them there. The config and parameter files the backup kept go to
``<data dir>/restored/`` for the operator to look at: a restore never changes what a config points to.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from tradewarden.backup import dbcopy
from tradewarden.backup.archive import BackupError, BackupFormatError, read_archive
from tradewarden.backup.create import AUDIT_DIR, CONFIG_NAME, sqlite_path
from tradewarden.errors import BadInput
from tradewarden.persistence.database import DB_FILE, Database, DatabaseError
from tradewarden.private_files import UnwritablePathError, open_private, private_dir
from tradewarden.risk.audit import AuditHead, verify_audit

if TYPE_CHECKING:
    from tradewarden.config import AppConfig

RESTORED_DIR = "restored"
#: account -> (trail path when backed up, record count, last hash)
Heads = dict[str, tuple[str, int, str]]


class RestoreRefusedError(BadInput):
    """The restore would overwrite or mix with existing state; the message says what and how to proceed."""


@dataclass
class Restored:
    manifest: dict[str, Any]
    database: str
    trails: dict[str, int] = field(default_factory=dict)  # restored trail file -> records verified
    kept: list[Path] = field(default_factory=list)        # config and parameter files, under restored/


def restore_backup(archive: Path, cfg: AppConfig, *, force: bool = False) -> Restored:
    """Restore ``archive`` into ``cfg.data_dir`` and the config's database (see the module docstring)."""
    data_dir = cfg.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise RestoreRefusedError(f"{data_dir} is not a directory")
    if data_dir.is_dir() and any(data_dir.iterdir()) and not force:
        raise RestoreRefusedError(f"the data directory {data_dir} is not empty: restore into an empty one "
                                  "(--data-dir), or pass --force to replace its database and audit trails")
    with tempfile.TemporaryDirectory(prefix="tradewarden-restore-") as tmp:
        staged = Path(tmp)
        manifest = read_archive(archive, staged)
        kind, method = manifest["database"]["kind"], manifest["database"].get("method")
        target_sqlite = sqlite_path(cfg)
        if (kind == "sqlite") != (target_sqlite is not None):
            raise RestoreRefusedError(
                f"{archive} holds a {'SQLite' if kind == 'sqlite' else 'PostgreSQL'} database but the config's "
                f"database is {'SQLite' if target_sqlite is not None else 'PostgreSQL'}: set database.url to "
                "the kind of database the backup was taken from")
        _check_revision(archive, str(manifest["database"].get("revision")), same=kind == "postgresql")
        trails = sorted((staged / AUDIT_DIR).glob("*.jsonl")) if (staged / AUDIT_DIR).is_dir() else []
        if kind == "sqlite":
            heads: Heads | None = dbcopy.sqlite_audit_heads(staged / "database" / DB_FILE)
        elif method == "logical":
            heads = dbcopy.audit_heads_of_export(staged / "database" / "postgres" / "audit_heads.jsonl")
        else:
            heads = None  # only known once the dump is loaded
        verified = _verify_trails(archive, trails, heads) if heads is not None else {}
        try:
            private_dir(data_dir, "data directory")
            if target_sqlite is not None:
                location = _restore_sqlite(staged / "database" / DB_FILE, target_sqlite)
            else:
                location = _restore_postgres(staged, manifest, cfg)
            restored = _put_trails(trails, data_dir)
            with Database.open(cfg.database.url, data_dir) as db, db.engine.begin() as conn:
                stored = _relocate_heads(conn, data_dir)
            if heads is None:
                verified = _verify_trails(archive, restored, stored)
            kept = _keep_files(staged, manifest, data_dir)
        except UnwritablePathError as exc:
            raise BackupError(str(exc)) from None
        except DatabaseError as exc:
            raise BackupError(str(exc)) from None
    return Restored(manifest, location, {str(data_dir / AUDIT_DIR / name): n for name, n in verified.items()},
                    kept)


def _check_revision(archive: Path, revision: str, *, same: bool) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from tradewarden.persistence.migrate import alembic_config, head_revision

    head = head_revision()
    if same and revision != head:
        raise RestoreRefusedError(f"{archive} was taken at schema revision {revision}; this tradewarden is at "
                                  f"{head}: restore it with the tradewarden version that made it")
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise RestoreRefusedError(f"{archive} was taken at schema revision {revision}, which this tradewarden "
                                  "does not know (a newer version made it): restore it with that version")


def _verify_trails(archive: Path, trails: list[Path], heads: Heads) -> dict[str, int]:
    """Each trail's chain, and against its head in the backed-up database; a head without its trail is an
    error too. Returns file name -> records."""
    by_name = {Path(path).name: (account, AuditHead(seq, last)) for account, (path, seq, last) in heads.items()}
    present = {t.name for t in trails}
    for name, (account, head) in by_name.items():
        if name not in present and head.seq > 0:
            raise BackupFormatError(f"{archive}: the audit trail of {account} ({name}) is missing, but the "
                                    f"database in the backup recorded {head.seq} records of it")
    verified: dict[str, int] = {}
    for trail in trails:
        expected = by_name.get(trail.name)
        result = verify_audit(trail, None if expected is None else expected[1])
        if not result.ok:
            raise BackupFormatError(f"{archive}: audit trail {AUDIT_DIR}/{trail.name}: {result.why.upper()} at "
                                    f"{result.message}")
        verified[trail.name] = result.records
    return verified


def _restore_sqlite(staged_db: Path, target: Path) -> str:
    private_dir(target.parent, "database directory")
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm"), Path(f"{target}-journal")):
        leftover.unlink(missing_ok=True)  # only reached for an empty data dir or with --force
    with staged_db.open("rb") as src, open_private(target, append=False) as dst:
        shutil.copyfileobj(src, dst)
    return str(target)


def _restore_postgres(staged: Path, manifest: dict[str, Any], cfg: AppConfig) -> str:
    with Database.open(cfg.database.url, cfg.data_dir) as db:
        with db.engine.begin() as conn:
            filled = [t for t in dbcopy.our_tables() if t not in dbcopy.SEEDED_TABLES
                      and conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{t}")')).scalar_one()]
            if filled:
                raise RestoreRefusedError(f"the database {db.url} already holds tradewarden state ({', '.join(filled)}"
                                          "): restore into an empty schema or database")
            for seeded in dbcopy.SEEDED_TABLES:  # the migration's rows give way to the backup's
                conn.execute(text(f'DELETE FROM "{seeded}"'))
            if manifest["database"].get("method") == "pg_dump":
                dbcopy.load_dump(conn, (staged / "database" / "postgres.sql").read_text(encoding="utf-8"))
            else:
                folder = staged / "database" / "postgres"
                dbcopy.import_logical(conn, {p.stem: p for p in folder.glob("*.jsonl")} if folder.is_dir() else {})
        return db.url


def _put_trails(trails: list[Path], data_dir: Path) -> list[Path]:
    dest_dir = private_dir(data_dir / AUDIT_DIR, "audit directory")
    placed = []
    for trail in trails:
        dest = dest_dir / trail.name
        with trail.open("rb") as src, open_private(dest, append=False) as dst:
            shutil.copyfileobj(src, dst)
        placed.append(dest)
    return placed


def _relocate_heads(conn: Connection, data_dir: Path) -> Heads:
    """Point each stored head at its trail in this data directory (the backup's paths were the source's)."""
    rows = conn.execute(text("SELECT account, path, seq, last_hash FROM audit_heads")).all()
    heads: Heads = {}
    for account, path, seq, last in rows:
        new = str(data_dir / AUDIT_DIR / Path(str(path)).name)
        conn.execute(text("UPDATE audit_heads SET path = :p WHERE account = :a"), {"p": new, "a": account})
        heads[str(account)] = (new, int(seq), str(last))
    return heads


def _keep_files(staged: Path, manifest: dict[str, Any], data_dir: Path) -> list[Path]:
    names = [CONFIG_NAME, *manifest.get("params_files", {})]
    kept = []
    for name in names:
        source = staged / name
        if not source.is_file():
            continue
        dest = data_dir / RESTORED_DIR / name
        private_dir(dest.parent, "restored files directory")
        with source.open("rb") as src, open_private(dest, append=False) as dst:
            shutil.copyfileobj(src, dst)
        kept.append(dest)
    return kept

