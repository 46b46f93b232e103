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
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("explanation_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("explanation_args", sa.JSON(), nullable=True))
    op.create_table(
        "registered_devices",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=True),
        sa.Column("ble_address", sa.String(length=17), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=True),
        sa.Column("enrolled_by", sa.String(length=100), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_registered_devices_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_devices")),
    )
    with op.batch_alter_table("registered_devices", schema=None) as batch_op:
        batch_op.create_index("ix_registered_devices_patient", ["patient_id"], unique=False)
        batch_op.create_index(
            "ux_registered_devices_active_id", ["device_id"], unique=True,
            sqlite_where=sa.text("retired_at IS NULL"), postgresql_where=sa.text("retired_at IS NULL"),
        )  # fmt: skip
        batch_op.create_index(
            "ux_registered_devices_active_ble", ["ble_address"], unique=True,
            sqlite_where=sa.text("retired_at IS NULL AND ble_address IS NOT NULL"),
            postgresql_where=sa.text("retired_at IS NULL AND ble_address IS NOT NULL"),
        )  # fmt: skip
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("client_ip", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_table("registered_devices")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("explanation_args")
        batch_op.drop_column("explanation_key")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("client_ip")
        batch_op.drop_column("user_agent")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("kind")
