"""the patient record: name parts, birth date, sex, birth number, address and home position,
phone, treating doctor, insurer, time zone, test-data flag

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("family_name", sa.String(100)),
    ("given_name", sa.String(100)),
    ("birth_date", sa.Date()),
    ("sex", sa.String(16)),
    ("national_id", sa.String(32)),
    ("address_line", sa.String(200)),
    ("city", sa.String(100)),
    ("postal_code", sa.String(16)),
    ("country", sa.String(2)),
    ("home_latitude", sa.Float()),
    ("home_longitude", sa.Float()),
    ("phone", sa.String(32)),
    ("treating_doctor", sa.String(200)),
    ("insurer", sa.String(64)),
)


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(
            sa.Column("timezone", sa.String(64), server_default="Europe/Prague", nullable=False)
        )
        batch.add_column(
            sa.Column("is_test", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_index("ix_patients_national_id", ["national_id"])
        batch.create_index("ix_patients_is_test", ["is_test"])


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_index("ix_patients_is_test")
        batch.drop_index("ix_patients_national_id")
        for name in ("is_test", "timezone", *(name for name, _ in reversed(_COLUMNS))):
            batch.drop_column(name)
