"""The fleet registry: exchanges (seeded with binance and binance_us), users, user_exchanges, instances, their
lifecycle events and harness results.

Revision ID: 0013_fleet
Revises: 0012_wireops
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013_fleet"
down_revision: str | None = "0012_wireops"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    exchanges = op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("ccxt_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("rest_url", sa.Text(), nullable=True),
        sa.Column("ws_url", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "user_exchanges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("exchange_id", sa.Integer(), sa.ForeignKey("exchanges.id"), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("api_key_env", sa.String(200), nullable=True),
        sa.Column("api_secret_env", sa.String(200), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("user_id", "exchange_id", "display_name", name="uq_user_exchanges_name"),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("exchange_id", sa.Integer(), sa.ForeignKey("exchanges.id"), nullable=False),
        sa.Column("user_exchange_id", sa.Integer(), sa.ForeignKey("user_exchanges.id"), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("desired_state", sa.String(16), nullable=False),
        sa.Column("symbols", sa.Text(), nullable=False),
        sa.Column("timeframes", sa.Text(), nullable=False),
        sa.Column("progress_symbols_done", sa.Integer(), nullable=False),
        sa.Column("progress_symbols_total", sa.Integer(), nullable=False),
        sa.Column("progress_candles_done", sa.BigInteger(), nullable=False),
        sa.Column("progress_candles_total", sa.BigInteger(), nullable=False),
        sa.Column("last_heartbeat_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("state_since_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_instances_host", "instances", ["host"])
    op.create_index("ix_instances_exchange", "instances", ["exchange_id"])
    op.create_table(
        "instance_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_instance_events_instance_ts", "instance_events", ["instance_id", "ts"])
    op.create_table(
        "harness_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("exchange_id", sa.Integer(), sa.ForeignKey("exchanges.id"), nullable=False),
        sa.Column("test", sa.String(64), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
    )
    op.create_index("ix_harness_results_exchange_ts", "harness_results", ["exchange_id", "ts"])
    # the two exchanges the fleet serves first; ids 1 and 2 on a new database, but nothing relies on that
    op.bulk_insert(exchanges, [
        {"slug": "binance", "ccxt_id": "binance", "display_name": "Binance", "rest_url": None, "ws_url": None,
         "is_active": True, "is_default": True},
        {"slug": "binance_us", "ccxt_id": "binanceus", "display_name": "Binance.US", "rest_url": None,
         "ws_url": None, "is_active": True, "is_default": False},
    ])


def downgrade() -> None:
    for index, table in (("ix_harness_results_exchange_ts", "harness_results"),
                         ("ix_instance_events_instance_ts", "instance_events"),
                         ("ix_instances_exchange", "instances"), ("ix_instances_host", "instances")):
        op.drop_index(index, table_name=table)
    for table in ("harness_results", "instance_events", "instances", "user_exchanges", "users", "exchanges"):
        op.drop_table(table)
