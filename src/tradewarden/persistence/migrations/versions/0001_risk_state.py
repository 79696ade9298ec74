"""Risk state: kill switch history, breakers, counters, cool-downs, trading states, stages, operator requests.

Revision ID: 0001_risk_state
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_risk_state"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "kill_switch_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "risk_breakers",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("tripped", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tripped_ts", sa.BigInteger(), nullable=True),
        sa.Column("reset_after_ts", sa.BigInteger(), nullable=True),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "risk_counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "risk_cooldowns",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("until_ts", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_table(
        "trading_states",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "stage_progress",
        sa.Column("stage", sa.String(64), primary_key=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("first_ts", sa.BigInteger(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("losing_trades", sa.Integer(), nullable=False),
        sa.Column("pnl", sa.String(64), nullable=False),
        sa.Column("largest_loss", sa.String(64), nullable=False),
        sa.Column("peak_equity", sa.String(64), nullable=False),
        sa.Column("max_drawdown_pct", sa.String(64), nullable=False),
    )
    op.create_table(
        "operator_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("handled_ts", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
    )
    op.create_index("ix_operator_requests_pending", "operator_requests", ["handled_ts"])


def downgrade() -> None:
    op.drop_index("ix_operator_requests_pending", table_name="operator_requests")
    for table in ("operator_requests", "stage_progress", "trading_states", "risk_cooldowns", "risk_counters",
                  "risk_breakers", "kill_switch_events"):
        op.drop_table(table)
