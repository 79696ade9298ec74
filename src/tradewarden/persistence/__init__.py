"""Durable state in a relational database: SQLite by default, PostgreSQL by URL.

This package owns the SQLAlchemy models, the :class:`Database` (engine, transactional session scope, and
Alembic migrations applied automatically when it opens; the migrations ship inside the package), and the
repositories that read and write rows. Today it holds the risk layer's state (kill switch with its history,
circuit breakers, counters, cool-downs, trading states, stage progress); the runtime adds orders, fills,
positions, balances and strategy state through the same :class:`Database`. It imports nothing of ours beyond
the domain, and nothing here runs at import of ``tradewarden`` unless asked for, because SQLAlchemy is slow to
import.
"""

from tradewarden.persistence.database import (
    Database,
    DatabaseError,
    default_data_dir,
    default_url,
    session_scope,
)

__all__ = ["Database", "DatabaseError", "default_data_dir", "default_url", "session_scope"]
