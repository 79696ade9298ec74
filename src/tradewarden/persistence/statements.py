"""Write statements the stores build once per dialect: SQLite and PostgreSQL both have ``INSERT ... ON CONFLICT``,
each behind its own dialect's ``insert``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

_INSERTS: dict[str, Callable[[Table], Any]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def dialect_insert(dialect: str) -> Callable[[Table], Any] | None:
    """The dialect's ``insert`` (with ``on_conflict_*``), or None for a database the stores do not support."""
    return _INSERTS.get(dialect)


def upsert(insert_: Callable[[Table], Any], table: Table) -> Any:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE`` every other column."""
    stmt = insert_(table)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key})
