"""Fills record the base asset an exchange withheld as the fee (Binance charges a buy's fee in the asset bought).

Revision ID: 0003_fill_fee_base
Revises: 0002_runtime_state
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_fill_fee_base"
down_revision: str | None = "0002_runtime_state"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # fills stored before this revision were all paid in the quote asset: nothing was withheld
    op.add_column("runtime_fills", sa.Column("fee_base", sa.String(64), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runtime_fills") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("fee_base")
