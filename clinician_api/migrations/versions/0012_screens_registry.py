"""screens: reminder kind on notifications (Czech subjects), session device, structured
finding explanations, device registry, per-parameter threshold provenance

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
    # Reminders were found by their (English) subject until now.
    op.execute("UPDATE notifications SET kind = 'reminder' WHERE subject = 'Measurement reminder'")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("client_ip", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("client_ip")
        batch_op.drop_column("user_agent")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("kind")
