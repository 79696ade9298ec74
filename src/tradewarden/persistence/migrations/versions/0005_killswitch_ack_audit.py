"""Kill switch acknowledgements, audit trail heads and operator actions.

A running bot records that it applied a kill switch (so ``kill-switch on`` can say which bot halted); each
account's audit trail keeps its record count and last hash here (so a cut tail, a deleted file or a
recomputed chain is found); and every operator action (kill switch, breaker reset, parameter apply, ...) is
a row that each running bot copies into its audit trail.

Revision ID: 0005_killswitch_ack_audit
Revises: 0004_account_lease
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_killswitch_ack_audit"
down_revision: str | None = "0004_account_lease"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "kill_switch_acks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("bot", sa.String(300), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_kill_switch_acks_event", "kill_switch_acks", ["event_id"])
    op.create_table(
        "audit_heads",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("actions_seen", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("operator_actions")
    op.drop_table("audit_heads")
    op.drop_index("ix_kill_switch_acks_event", table_name="kill_switch_acks")
    op.drop_table("kill_switch_acks")
