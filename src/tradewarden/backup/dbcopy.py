"""Copying the state database out of a running bot and back into an empty one.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the file page by page under one read
transaction, so the copy is the database as of one commit while the bot goes on writing (WAL lets it).
PostgreSQL: our tables only (a schema may hold other applications' tables), either through ``pg_dump``
(data only, one ``INSERT`` per row, restorable into another schema) when it is on PATH, or a logical export
of our own: one JSON line per row and table, read in a single REPEATABLE READ transaction so every table is
seen as of the same moment. Restoring loads the rows into a schema migrated to the backup's revision and
moves each id sequence past the highest id restored.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, column, insert, inspect, table, text
from sqlalchemy.engine import URL

from tradewarden.backup.archive import BackupError, BackupFormatError
from tradewarden.persistence.database import error_line, safe_url
from tradewarden.persistence.migrate import VERSION_TABLE, current_revision
from tradewarden.persistence.models import Base
from tradewarden.private_files import PRIVATE_FILE, open_private

_BATCH = 1000
#: an identifier pg_dump writes without quotes (it quotes everything else)
_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


#: tables a new database already holds rows in: the migrations seed them (the registry's exchanges). A database
#: whose only rows are these is empty for a restore, which replaces them with the backup's.
SEEDED_TABLES = ("exchanges",)


def our_tables() -> list[str]:
    """Every table of our schema, parents before children (the order rows can be inserted in)."""
    return [t.name for t in Base.metadata.sorted_tables]


# -- SQLite ---------------------------------------------------------------------------------------------
def backup_sqlite(source: Path, dest: Path) -> str:
    """Copy the live database ``source`` to ``dest`` (0600, a self-contained file); return its revision."""
    if not source.is_file():
        raise BackupError(f"no database at {source}: nothing to back up (has the bot run with this config?)")
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE))
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            dst = sqlite3.connect(dest)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy: the file is all of it
                row = dst.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up database {source}: {exc}") from None
    if row is None:
        raise BackupError(f"{source} is not a tradewarden database (no schema revision)")
    return str(row[0])


def sqlite_audit_heads(path: Path) -> dict[str, tuple[str, int, str]]:
    """``account -> (trail path, seq, last hash)`` from a restored SQLite file, before it is put in place."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT account, path, seq, last_hash FROM audit_heads").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupFormatError(f"the database in the backup cannot be read: {exc}") from None
    return {str(a): (str(p), int(s), str(h)) for a, p, s, h in rows}


# -- PostgreSQL: logical export -------------------------------------------------------------------------
def _present(conn: Connection) -> list[str]:
    names = set(inspect(conn).get_table_names())
    return [t for t in our_tables() if t in names]


def export_logical(engine: Engine, dest_dir: Path) -> tuple[str, list[tuple[str, Path]]]:
    """Every row of our tables as JSON lines, ``<dest_dir>/<table>.jsonl``, all as of one snapshot; return the
    revision and the files."""
    files: list[tuple[str, Path]] = []
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        revision = current_revision(conn)
        for name in _present(conn):
            path = dest_dir / f"{name}.jsonl"
            with open_private(path, append=False) as fh:
                result = conn.execute(text(f'SELECT * FROM "{name}"'))
                keys = list(result.keys())
                for row in result:
                    fh.write(orjson.dumps(dict(zip(keys, row, strict=True))) + b"\n")
            files.append((name, path))
    if revision is None:
        raise BackupError("the database has no tradewarden schema revision: nothing to back up")
    return revision, files


def import_logical(conn: Connection, files: dict[str, Path]) -> None:
    """Insert the exported rows (tables in dependency order), then move the id sequences past them."""
    for name in our_tables():
        path = files.get(name)
        if path is None:
            continue
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        if not rows:
            continue
        target = table(name, *[column(c) for c in rows[0]])
        for start in range(0, len(rows), _BATCH):
            conn.execute(insert(target), rows[start:start + _BATCH])
    reset_sequences(conn)


def reset_sequences(conn: Connection) -> None:
    """PostgreSQL hands out ids from a sequence; rows inserted with their ids leave it behind, so the next
    insert would collide. Set each one to the highest id present."""
    for t in Base.metadata.sorted_tables:
        col = t.autoincrement_column
        if col is None:
            continue
        conn.execute(text(f'SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX("{col.name}"), 1), '
                          f'MAX("{col.name}") IS NOT NULL) FROM "{t.name}"'), {"t": t.name, "c": col.name})


def audit_heads_of_export(path: Path | None) -> dict[str, tuple[str, int, str]]:
    if path is None or not path.is_file():
        return {}
    try:
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return {str(r["account"]): (str(r["path"]), int(r["seq"]), str(r["last_hash"])) for r in rows}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BackupFormatError(f"audit_heads in the backup is not a table export: {exc}") from None


# -- PostgreSQL: pg_dump ---------------------------------------------------------------------------------
def pg_dump_available() -> bool:
    return shutil.which("pg_dump") is not None


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The URL as libpq takes it (no driver name), the password in the environment, never on a command line."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dump_postgres(url: URL, conn: Connection, dest: Path) -> str:
    """``pg_dump`` our tables' rows (``INSERT`` statements) and the id sequences to ``dest``; return the
    revision as of the dump (read just before it: migrations only run at a bot's start)."""
    schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
    revision = current_revision(conn)
    if revision is None:
        raise BackupError("the database has no tradewarden schema revision: nothing to back up")
    dsn, env = _libpq(url)
    args = ["pg_dump", "--data-only", "--column-inserts", "--no-owner", "--no-privileges", "--dbname", dsn,
            "--file", str(dest)]
    for name in _present(conn):
        args += ["--table", f"{quote_ident(schema)}.{quote_ident(name)}"]
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE))
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"pg_dump of {safe_url(url)} failed: {detail}")
    return revision


def dumped_schema(sql: str) -> str | None:
    """The schema the dump's statements name (``INSERT INTO <schema>.<table>``)."""
    found = re.search(r'^INSERT INTO ("(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\.', sql, re.MULTILINE)
    if found is None:
        return None
    ident = found.group(1)
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def load_dump(conn: Connection, sql: str) -> None:
    """Run a dump made by :func:`dump_postgres` in the connection's current schema, whatever schema it was
    taken from. psql meta-commands (``\\restrict``) are dropped; the statements go to the server as they are."""
    source = dumped_schema(sql)
    target = str(conn.execute(text("SELECT current_schema()")).scalar_one())
    lines = []
    for line in sql.splitlines():
        if line.startswith(("\\restrict", "\\unrestrict")):
            continue
        if line.startswith("\\"):
            raise BackupFormatError(f"the PostgreSQL dump holds a psql command ({line.split()[0]}): not ours")
        lines.append(line)
    body = "\n".join(lines)
    if source is not None:
        names = {quote_ident(source)} | ({source} if _PLAIN_IDENT.match(source) else set())
        alternatives = "|".join(re.escape(n) for n in names)
        body = re.sub(rf"^INSERT INTO (?:{alternatives})\.", f"INSERT INTO {quote_ident(target)}.", body,
                      flags=re.MULTILINE)
        body = re.sub(rf"setval\('(?:{alternatives})\.", f"setval('{quote_ident(target)}.", body)
    # search_path must name the target again after the dump's own set_config('search_path', '', false)
    body += f"\nSELECT pg_catalog.set_config('search_path', {_literal(target)}, false);\n"
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(body)
    except Exception as exc:  # the driver's own error type; reported in one line
        raise BackupError(f"the PostgreSQL dump could not be loaded: {error_line(exc)}") from None
    finally:
        cursor.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
