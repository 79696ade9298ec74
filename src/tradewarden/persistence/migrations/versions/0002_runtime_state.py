"""Runtime state: orders by client order id, fills once per key, paper balances, JSON snapshots.

Revision ID: 0002_runtime_state
Revises: 0001_risk_state
Create Date: 2024-06-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_runtime_state"
down_revision: str | None = "0001_risk_state"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "runtime_orders",
        sa.Column("account", sa.String(128), primary_key=True),
        sa.Column("client_id", sa.String(100), primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("qty", sa.String(64), nullable=False),
        sa.Column("price", sa.String(64), nullable=True),
        sa.Column("stop_price", sa.String(64), nullable=True),
        sa.Column("stop_loss", sa.String(64), nullable=True),
        sa.Column("take_profit", sa.String(64), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("filled_qty", sa.String(64), nullable=False),
        sa.Column("exchange_id", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_runtime_orders_open", "runtime_orders", ["account", "is_open"])
    op.create_index("ix_runtime_orders_exchange_id", "runtime_orders", ["account", "exchange_id"])
    op.create_table(
        "runtime_fills",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("qty", sa.String(64), nullable=False),
        sa.Column("price", sa.String(64), nullable=False),
        sa.Column("fee", sa.String(64), nullable=False),
        sa.Column("liquidity", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.UniqueConstraint("account", "key", name="uq_runtime_fills_account_key"),
    )
    op.create_index("ix_runtime_fills_order", "runtime_fills", ["account", "client_id"])
    op.create_table(
        "runtime_balances",
        sa.Column("account", sa.String(128), primary_key=True),
        sa.Column("asset", sa.String(32), primary_key=True),
        sa.Column("amount", sa.String(64), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "runtime_snapshots",
        sa.Column("account", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runtime_snapshots")
    op.drop_table("runtime_balances")
    op.drop_index("ix_runtime_fills_order", table_name="runtime_fills")
    op.drop_table("runtime_fills")
    op.drop_index("ix_runtime_orders_exchange_id", table_name="runtime_orders")
    op.drop_index("ix_runtime_orders_open", table_name="runtime_orders")
    op.drop_table("runtime_orders")
