"""waveform chunks carry a factor (pleth and abp waveform kinds)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sample_chunks") as batch:
        batch.add_column(sa.Column("factor", sa.Float(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sample_chunks") as batch:
        batch.drop_column("factor")
