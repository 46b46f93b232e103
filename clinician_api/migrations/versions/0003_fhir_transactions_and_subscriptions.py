"""fhir transactions and subscriptions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 17:51:33.590622
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_observation_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key_hash", sa.String(length=64), nullable=True),
        sa.Column("value_hash", sa.String(length=64), nullable=True),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("observation_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_observation_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_fhir_observation_keys_key_hash")),
    )
    with op.batch_alter_table("fhir_observation_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fhir_observation_keys_value_hash"), ["value_hash"], unique=False
        )

    op.create_table(
        "fhir_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("content", sa.String(length=16), nullable=False),
        sa.Column("fhir_version", sa.String(length=8), nullable=False),
        sa.Column("heartbeat_s", sa.Integer(), nullable=True),
        sa.Column("max_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events_count", sa.BigInteger(), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_fhir_subscriptions_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_fhir_subscriptions_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_subscriptions")),
    )
    with op.batch_alter_table("fhir_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_subscriptions_patient_status", ["patient_id", "status"], unique=False
        )

    op.create_table(
        "fhir_subscription_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("event_number", sa.BigInteger(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("focus", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["fhir_subscriptions.id"],
            name=op.f("fk_fhir_subscription_events_subscription_id_fhir_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_subscription_events")),
        sa.UniqueConstraint(
            "subscription_id", "event_number", name="uq_fhir_subscription_events_number"
        ),
        sa.UniqueConstraint(
            "subscription_id", "source_key", name="uq_fhir_subscription_events_source"
        ),
    )


def downgrade() -> None:
    op.drop_table("fhir_subscription_events")
    with op.batch_alter_table("fhir_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_subscriptions_patient_status")

    op.drop_table("fhir_subscriptions")
    with op.batch_alter_table("fhir_observation_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fhir_observation_keys_value_hash"))

    op.drop_table("fhir_observation_keys")
