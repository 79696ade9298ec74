"""Alembic environment: runs on the connection :mod:`tradewarden.persistence.migrate` provides.

Offline (SQL script) mode is supported for operators who review DDL before applying it:
``alembic -c <this dir>/alembic.ini upgrade head --sql``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tradewarden.persistence.migrate import VERSION_TABLE  # not alembic_version: Optuna uses that
from tradewarden.persistence.models import Base

config = context.config
target_metadata = Base.metadata



def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"}, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    # batch mode lets later migrations alter tables on SQLite, which has almost no ALTER TABLE
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("set sqlalchemy.url in alembic.ini, or open the database with tradewarden")
        with create_engine(url).begin() as conn:
            run_online(conn)
    else:
        run_online(connection)
