"""outbox lives: blocks of sequence numbers reserved per bridge (bridges.seq_blocks)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bridges") as batch:
        batch.add_column(sa.Column("seq_blocks", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("bridges") as batch:
        batch.drop_column("seq_blocks")
