"""first-responder dispatch: responders, AEDs, incidents, offers, incident timeline and views

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:26:40.203011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "aeds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("access_hours", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aeds")),
    )
    with op.batch_alter_table("aeds", schema=None) as batch_op:
        batch_op.create_index("ix_aeds_lat_lon", ["latitude", "longitude"], unique=False)

    op.create_table(
        "incident_views",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("what", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_views")),
    )
    with op.batch_alter_table("incident_views", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_views_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("alert_id", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("next_phase_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("max_accept", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_incidents_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_incidents_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_state_due", ["state", "next_phase_at"], unique=False)

    op.create_table(
        "responders",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("qualification", sa.String(length=100), nullable=False),
        sa.Column("vetted_until", sa.Date(), nullable=True),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("position_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("incident_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_responders_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_responders")),
    )
    with op.batch_alter_table("responders", schema=None) as batch_op:
        batch_op.create_index("ix_responders_lat_lon", ["latitude", "longitude"], unique=False)

    op.create_table(
        "incident_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_events_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_offers",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("responder_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task", sa.String(length=10), nullable=True),
        sa.Column("aed_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["aed_id"], ["aeds.id"], name=op.f("fk_incident_offers_aed_id_aeds")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_offers_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["responder_id"], ["users.id"], name=op.f("fk_incident_offers_responder_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_offers")),
        sa.UniqueConstraint(
            "incident_id", "responder_id", name=op.f("uq_incident_offers_incident_id")
        ),
    )
    with op.batch_alter_table("incident_offers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_offers_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incident_offers_responder_id"), ["responder_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_offers_responder_id"))
        batch_op.drop_index(batch_op.f("ix_incident_offers_incident_id"))

    op.drop_table("incident_offers")
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_events_incident_id"))

    op.drop_table("incident_events")
    with op.batch_alter_table("responders", schema=None) as batch_op:
        batch_op.drop_index("ix_responders_lat_lon")

    op.drop_table("responders")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_state_due")

    op.drop_table("incidents")
    with op.batch_alter_table("incident_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_views_incident_id"))

    op.drop_table("incident_views")
    with op.batch_alter_table("aeds", schema=None) as batch_op:
        batch_op.drop_index("ix_aeds_lat_lon")

    op.drop_table("aeds")
