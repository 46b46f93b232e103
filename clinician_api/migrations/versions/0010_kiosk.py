"""kiosk: enrolment tokens, registrations made at kiosks (merged patients), teleconsultation
requests (clinician tasks)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:26:26.589338
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_enrolments",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("telemedpoint_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bridge_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["telemedpoint_id"],
            ["telemedpoints.id"],
            name=op.f("fk_kiosk_enrolments_telemedpoint_id_telemedpoints"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_kiosk_enrolments")),
    )
    op.create_table(
        "kiosk_registrations",
        sa.Column("bridge_id", sa.String(length=64), nullable=False),
        sa.Column("local_patient_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id_checked", sa.Boolean(), nullable=False),
        sa.Column("registered_by", sa.String(length=100), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_kiosk_registrations_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint(
            "bridge_id", "local_patient_id", name=op.f("pk_kiosk_registrations")
        ),
    )
    with op.batch_alter_table("kiosk_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kiosk_registrations_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "teleconsult_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("bridge_id", sa.String(length=64), nullable=False),
        sa.Column("telemedpoint_id", sa.String(length=64), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("addressee", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("video_url", sa.String(length=500), nullable=True),
        sa.Column("visit_id", sa.String(length=64), nullable=False),
        sa.Column("visit_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_teleconsult_requests_patient_id_patients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleconsult_requests")),
    )
    with op.batch_alter_table("teleconsult_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teleconsult_requests_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            "ix_teleconsult_requests_status", ["status", "requested_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("teleconsult_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_teleconsult_requests_status")
        batch_op.drop_index(batch_op.f("ix_teleconsult_requests_patient_id"))

    op.drop_table("teleconsult_requests")
    with op.batch_alter_table("kiosk_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kiosk_registrations_patient_id"))

    op.drop_table("kiosk_registrations")
    op.drop_table("kiosk_enrolments")
