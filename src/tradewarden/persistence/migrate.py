"""Alembic driven from code: the migrations ship in ``migrations/`` inside this package (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations; ``connection`` is handed to ``env.py``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


VERSION_TABLE = "tradewarden_alembic_version"  # the same name migrations/env.py uses


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


LEGACY_VERSION_TABLE = "alembic_version"  # used by early development builds


def _adopt_legacy_version(connection: Connection) -> None:
    """A database an early build created records its revision in ``alembic_version``; when that revision
    is one of ours, carry it over to our own version table instead of creating the tables again."""
    legacy = MigrationContext.configure(connection, opts={"version_table": LEGACY_VERSION_TABLE})
    try:
        revision = legacy.get_current_revision()
    except Exception:  # no such table, or not Alembic's
        return
    script = ScriptDirectory.from_config(alembic_config())
    if revision is not None and any(rev.revision == revision for rev in script.walk_revisions()):
        command.stamp(alembic_config(connection), revision)


def upgrade_to_head(connection: Connection) -> tuple[str | None, str | None]:
    """Upgrade inside the caller's transaction; return the revisions before and after."""
    if current_revision(connection) is None:
        _adopt_legacy_version(connection)
    before = current_revision(connection)
    head = head_revision()
    if before != head:
        command.upgrade(alembic_config(connection), "head")
    return before, current_revision(connection)
