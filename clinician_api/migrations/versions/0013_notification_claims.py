"""notifications: claimed_at, so messages are sent outside the writer and a claim whose sender
died is sent again (alerts/notify/service.py)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A message claimed but not yet recorded goes back to the queue (sent at least once).
    op.execute("UPDATE notifications SET status = 'queued' WHERE status = 'sending'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
