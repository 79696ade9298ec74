"""Opening the database: URL resolution, engine set-up, automatic migrations, and the session scope."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tradewarden.persistence.migrate import VERSION_TABLE, upgrade_to_head
from tradewarden.private_files import PRIVATE_FILE, UnwritablePathError, make_private, private_dir

DB_FILE = "tradewarden.db"
DATA_DIR_ENV = "TRADEWARDEN_DATA_DIR"
#: a lock id for PostgreSQL advisory locks, so two processes never migrate the same database at once
_MIGRATION_LOCK = 0x7472_6164_6577  # "tradew"


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated. The message never contains a password."""


def default_data_dir() -> Path:
    """``$TRADEWARDEN_DATA_DIR``, else ``$XDG_DATA_HOME/tradewarden``, else ``~/.local/share/tradewarden``
    (the same default as :func:`tradewarden.config.default_data_dir`)."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "tradewarden"


def default_url(data_dir: Path) -> str:
    """The SQLite file under the data directory."""
    return f"sqlite:///{(data_dir / DB_FILE).resolve()}"


def safe_url(url: str | URL) -> str:
    """The URL as it may be shown to a user: password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def resolve_driver(url: URL) -> URL:
    """``postgresql://`` means whichever PostgreSQL driver is installed: SQLAlchemy 2.1 assumes psycopg 3,
    while tradewarden depends on psycopg2 (``psycopg2-binary``)."""
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return url.set(drivername="postgresql+psycopg2")
    return url


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _sqlite_setup(engine: Engine) -> None:
    """Make SQLite safe for two processes (the bot and the CLI) and truly transactional.

    Python's sqlite3 module would otherwise run DDL outside transactions and begin lazily; we take over
    BEGIN ourselves (the recipe from the SQLAlchemy docs). WAL lets the bot read while the CLI writes and
    ``busy_timeout`` makes a writer wait for the other instead of failing.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=10000")  # first, so a writer waits for another process
        _enable_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def error_line(exc: BaseException) -> str:
    """A database error in one line: the driver's first line, without SQLAlchemy's SQL, parameters and link."""
    detail = str(getattr(exc, "orig", None) or exc).strip()
    return detail.splitlines()[0] if detail else type(exc).__name__


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL (``file:`` URIs included); None for other databases and in-memory ones."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    name = str(url.database)
    if url.query.get("uri"):
        name = name.removeprefix("file:").split("?", 1)[0]
    if name in ("", ":memory:") or "mode=memory" in str(url.database):
        return None
    return Path(name).expanduser()


def _make_private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (an empty file is an empty database), or tighten it.
    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so they follow."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, PRIVATE_FILE))
    except OSError as exc:
        raise DatabaseError(f"cannot write database {path}: {exc.strerror or exc}") from None
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        make_private(part)


def _enable_wal(cur: Any, attempts: int = 100) -> None:
    """Switch a database file to WAL. The switch needs the file to itself and SQLite does not wait for that
    (busy_timeout does not apply): two processes opening a fresh database at once would fail. Once a file is
    in WAL it stays so, and asking again is a no-op."""
    import sqlite3
    import time

    for attempt in range(attempts):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class Migration:
    """What opening the database did to its schema."""

    from_revision: str | None
    to_revision: str | None

    @property
    def migrated(self) -> bool:
        return self.from_revision != self.to_revision


class Database:
    """An open database at the newest schema. Use :meth:`session` for each unit of work."""

    def __init__(self, engine: Engine, migration: Migration) -> None:
        self.engine = engine
        self.migration = migration
        # SQLite: every transaction takes the write lock when it begins. A deferred one that reads and then
        # writes cannot wait for another writer (the bot's scheduler, the kill-switch CLI): it fails with
        # "database is locked" at once instead of honouring the busy timeout.
        self.sessions = sessionmaker(engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)

    @property
    def url(self) -> str:
        """The URL with any password masked."""
        return safe_url(self.engine.url)

    @property
    def migrated(self) -> bool:
        """True when opening changed the schema (the caller records ``STATE_MIGRATED``)."""
        return self.migration.migrated

    @classmethod
    def open(cls, url: str | None, data_dir: Path) -> Database:
        """Open ``url`` (default: the SQLite file under ``data_dir``); upgrade its schema to the newest."""
        if url is None:
            try:
                private_dir(data_dir, "data directory")
            except UnwritablePathError as exc:
                raise DatabaseError(str(exc)) from None
            url = default_url(data_dir)
        try:
            parsed = resolve_driver(make_url(url))
        except ArgumentError:
            raise DatabaseError(f"not a database URL: {safe_url(url)!r}") from None
        sqlite_file = _sqlite_file(parsed)
        if sqlite_file is not None and not parsed.query.get("uri"):  # a URI may ask for read-only: leave it
            _make_private_file(sqlite_file)
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except (ArgumentError, ImportError, SQLAlchemyError) as exc:
            raise DatabaseError(f"cannot use database {safe_url(parsed)}: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            _sqlite_setup(engine)
        try:
            migration = cls._migrate(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise DatabaseError(f"cannot open database {safe_url(parsed)}: {error_line(exc)}") from None
        try:
            cls._check_writable(engine)
        except SQLAlchemyError as exc:
            # a read-only file, mount, role or standby: refuse now, before anything relies on writes (and
            # before a half-done step); the stored state stays as it was
            engine.dispose()
            raise DatabaseError(f"cannot write database {sqlite_file or safe_url(parsed)}: {error_line(exc)}") \
                from None
        return cls(engine, migration)

    @staticmethod
    def _migrate(engine: Engine) -> Migration:
        # One transaction that holds a write lock for the whole check-and-upgrade, so a second process
        # opening the same database waits and then finds it current.
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            before, after = upgrade_to_head(conn)
        return Migration(before, after)

    @staticmethod
    def _check_writable(engine: Engine) -> None:
        """A write that changes nothing, rolled back: it fails exactly when the database refuses writes."""
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            tx = conn.begin()
            try:
                conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = version_num"))
            finally:
                tx.rollback()

    @property
    def location(self) -> str:
        """Where the state lives, as a user may be shown it: the SQLite file, else the masked URL."""
        found = _sqlite_file(self.engine.url)
        return str(found) if found is not None else self.url

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed at the end of the block, rolled back on error."""
        with session_scope(self.sessions) as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
