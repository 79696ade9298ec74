"""The operations read model (bots, their events, positions, open orders, balances, equity) and API tokens.

Revision ID: 0010_ops
Revises: 0005_killswitch_ack_audit
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010_ops"
down_revision: str | None = "0005_killswitch_ack_audit"
branch_labels: str | None = None
depends_on: str | None = None

_AMOUNT = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "bots",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("symbols", sa.Text(), nullable=False),
        sa.Column("strategy", sa.String(200), nullable=False),
        sa.Column("timeframe_ms", sa.BigInteger(), nullable=False),
        sa.Column("config_hash", sa.String(128), nullable=False),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("last_heartbeat", sa.BigInteger(), nullable=False),
        sa.Column("last_candle", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stopped", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "bot_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("bot", sa.String(300), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("json", sa.Text(), nullable=False),
    )
    op.create_index("ix_bot_events_bot_ts", "bot_events", ["bot", "ts"])
    op.create_index("ix_bot_events_type", "bot_events", ["type"])
    op.create_table(
        "bot_positions",
        sa.Column("bot", sa.String(300), primary_key=True),
        sa.Column("symbol", sa.String(64), primary_key=True),
        sa.Column("qty", _AMOUNT, nullable=False),
        sa.Column("entry_price", _AMOUNT, nullable=False),
        sa.Column("mark", _AMOUNT, nullable=True),
        sa.Column("realized", _AMOUNT, nullable=False),
        sa.Column("realized_today", _AMOUNT, nullable=False),
        sa.Column("today", sa.Integer(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "bot_open_orders",
        sa.Column("bot", sa.String(300), primary_key=True),
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("order_type", sa.String(32), nullable=False),
        sa.Column("qty", _AMOUNT, nullable=False),
        sa.Column("price", _AMOUNT, nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "bot_balances",
        sa.Column("bot", sa.String(300), primary_key=True),
        sa.Column("asset", sa.String(32), primary_key=True),
        sa.Column("amount", _AMOUNT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "bot_equity",
        sa.Column("bot", sa.String(300), primary_key=True),
        sa.Column("ts", sa.BigInteger(), primary_key=True),
        sa.Column("equity", _AMOUNT, nullable=False),
        sa.Column("pnl", _AMOUNT, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("bot_equity")
    op.drop_table("bot_balances")
    op.drop_table("bot_open_orders")
    op.drop_table("bot_positions")
    op.drop_index("ix_bot_events_type", table_name="bot_events")
    op.drop_index("ix_bot_events_bot_ts", table_name="bot_events")
    op.drop_table("bot_events")
    op.drop_table("bots")
