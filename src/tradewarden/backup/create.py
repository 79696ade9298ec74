"""Taking a backup of a bot's state while it runs, and the scheduled backup with its retention count.

The database is copied first and the audit trails after: a bot appends a trail's records and then stores
its head in the database, so trails copied after the database hold at least the records its heads name
(records past a head are allowed), and the restored pair verifies. A trail is copied up to its last complete
line, since the bot may be in the middle of appending one.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tradewarden import __version__
from tradewarden.backup import dbcopy
from tradewarden.backup.archive import (
    FORMAT,
    FORMAT_VERSION,
    BackupError,
    Entry,
    archive_name,
    prune,
    write_archive,
)
from tradewarden.persistence.database import (
    DB_FILE,
    Database,
    DatabaseError,
    _sqlite_file,
    resolve_driver,
    safe_url,
)
from tradewarden.private_files import UnwritablePathError, open_private, private_dir

if TYPE_CHECKING:
    from tradewarden.config import AppConfig
    from tradewarden.runtime.scheduler import SessionScheduler

log = logging.getLogger(__name__)

AUDIT_DIR = "audit"
CONFIG_NAME = "config.yaml"
BACKUP_JOB = "backup"
_SECRET_SETTINGS = ("api_key", "api_secret", "api_password")


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict[str, Any]


def sqlite_path(cfg: AppConfig) -> Path | None:
    """The SQLite file of the config's database, or None when it is PostgreSQL."""
    if cfg.database.url is None:
        return cfg.data_dir / DB_FILE
    try:
        url = resolve_driver(make_url(cfg.database.url))
    except ArgumentError:
        raise BackupError(f"not a database URL: {safe_url(cfg.database.url)!r}") from None
    if url.get_backend_name() == "sqlite":
        found = _sqlite_file(url)
        if found is None:
            raise BackupError("an in-memory SQLite database cannot be backed up")
        return found
    return None


def create_backup(cfg: AppConfig, out_dir: Path | None = None, *, use_pg_dump: bool | None = None,
                  now_ms: int | None = None) -> Backup:
    """Write one archive of the bot's state into ``out_dir`` (default ``backup.dir``) and return it.

    ``use_pg_dump``: None uses ``pg_dump`` when it is on PATH, else the logical export; True or False forces
    one (for tests and for operators who want the portable export)."""
    out = out_dir or cfg.backup_dir
    created_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    try:
        private_dir(out, "backup directory")
        with tempfile.TemporaryDirectory(prefix=".staging-", dir=out) as tmp:
            stage = Path(tmp)
            entries, database = _database(cfg, stage, use_pg_dump)
            entries += _audit_files(cfg.data_dir, stage)
            params, params_files = _params_files(cfg, stage)
            entries += params
            entries.append(_config(cfg, stage))
            header: dict[str, Any] = {
                "format": FORMAT, "version": FORMAT_VERSION, "created_ms": created_ms,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created_ms / 1000))
                + f".{created_ms % 1000:03d}Z",
                "tradewarden": __version__, "database": database, "data_dir": str(cfg.data_dir),
                "params_files": params_files, "config": CONFIG_NAME,
            }
            path, manifest = write_archive(out, archive_name(created_ms), header, entries)
    except UnwritablePathError as exc:
        raise BackupError(str(exc)) from None
    except OSError as exc:
        raise BackupError(f"cannot write the backup in {out}: {exc.strerror or exc}") from None
    return Backup(path, manifest)


def _database(cfg: AppConfig, stage: Path, use_pg_dump: bool | None) -> tuple[list[Entry], dict[str, Any]]:
    sqlite_file = sqlite_path(cfg)
    if sqlite_file is not None:
        (stage / "database").mkdir(mode=0o700)
        dest = stage / "database" / DB_FILE
        revision = dbcopy.backup_sqlite(sqlite_file, dest)
        return [Entry(f"database/{DB_FILE}", dest)], {
            "kind": "sqlite", "method": "sqlite-backup-api", "revision": revision, "source": str(sqlite_file)}
    try:
        db = Database.open(cfg.database.url, cfg.data_dir)
    except DatabaseError as exc:
        raise BackupError(str(exc)) from None
    try:
        dump = dbcopy.pg_dump_available() if use_pg_dump is None else use_pg_dump
        (stage / "database").mkdir(mode=0o700)
        if dump:
            dest = stage / "database" / "postgres.sql"
            with db.engine.connect() as conn:
                revision = dbcopy.dump_postgres(db.engine.url, conn, dest)
            entries = [Entry("database/postgres.sql", dest)]
            tables = dbcopy.our_tables()
        else:
            (stage / "database" / "postgres").mkdir(mode=0o700)
            revision, files = dbcopy.export_logical(db.engine, stage / "database" / "postgres")
            entries = [Entry(f"database/postgres/{name}.jsonl", path) for name, path in files]
            tables = [name for name, _ in files]
    finally:
        db.close()
    return entries, {"kind": "postgresql", "method": "pg_dump" if dump else "logical", "revision": revision,
                     "source": db.url, "tables": tables}


def _audit_files(data_dir: Path, stage: Path) -> list[Entry]:
    source = data_dir / AUDIT_DIR
    if not source.is_dir():
        return []
    private_dir(stage / AUDIT_DIR, "backup staging directory")
    entries = []
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".jsonl":
            data = data[: data.rfind(b"\n") + 1]  # a line the bot is still writing is not a record yet
        dest = stage / AUDIT_DIR / path.name
        with open_private(dest, append=False) as fh:
            fh.write(data)
        entries.append(Entry(f"{AUDIT_DIR}/{path.name}", dest))
    return entries


def _params_files(cfg: AppConfig, stage: Path) -> tuple[list[Entry], dict[str, str]]:
    params = cfg.strategy.params_file
    if params is None or not params.is_file():
        return [], {}
    private_dir(stage / "params", "backup staging directory")
    dest = stage / "params" / params.name
    shutil.copyfile(params, dest)
    dest.chmod(0o600)
    name = f"params/{params.name}"
    return [Entry(name, dest)], {name: str(params)}


def config_without_secrets(cfg: AppConfig) -> dict[str, Any]:
    """The effective config with the credentials left out (they come from the environment or the secrets
    file) and passwords in URLs masked: what the archive keeps, loadable again as a config file."""
    from tradewarden.config import masked_dump

    data = masked_dump(cfg)
    for name in _SECRET_SETTINGS:
        data["exchange"].pop(name, None)
    for section in ("database", "redis"):
        url = data[section].get("url")
        if isinstance(url, str):
            data[section]["url"] = safe_url(url)
    return data


def _config(cfg: AppConfig, stage: Path) -> Entry:
    import yaml

    text = ("# the bot's effective config when the backup was taken; credentials are left out (they come from\n"
            "# the environment or exchange.secrets_file) and passwords in URLs are masked\n"
            + yaml.safe_dump(config_without_secrets(cfg), sort_keys=False, allow_unicode=True))
    dest = stage / CONFIG_NAME
    with open_private(dest, append=False) as fh:
        fh.write(text.encode("utf-8"))
    return Entry(CONFIG_NAME, dest)


def run_scheduled_backup(cfg: AppConfig) -> Path:
    """One backup into ``backup.dir``, then keep the newest ``backup.keep`` archives there (for a job of the
    running bot's scheduler: it touches no trading state and takes no lock the bot waits for)."""
    made = create_backup(cfg)
    removed = prune(made.path.parent, cfg.backup.keep)
    log.info("backup written: %s (%d older removed, keeping %d)", made.path, len(removed), cfg.backup.keep,
             extra={"backup": str(made.path)})
    return made.path


def declare_backup_job(scheduler: SessionScheduler, cfg: AppConfig) -> bool:
    """Declare the scheduled backup on a running bot's scheduler when the config asks for one; whether it did."""
    def job() -> None:
        run_scheduled_backup(cfg)

    if cfg.backup.every_hours is not None:
        scheduler.every(BACKUP_JOB, cfg.backup.every_hours * 3600, job)
        return True
    if cfg.backup.daily_utc is not None:
        scheduler.daily_at(BACKUP_JOB, cfg.backup.daily_utc, job)
        return True
    return False
