"""bots.candle_seen: when (wall clock) the bot's newest candle reached it, so a candle's age is measured on
the clock the bot trades by (the built-in simulator's market time is years behind and runs faster).

Revision ID: 0012_wireops
Revises: 0010_ops
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_wireops"
down_revision: str | None = "0010_ops"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("candle_seen", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("candle_seen")
