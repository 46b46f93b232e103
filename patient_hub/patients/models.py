"""Patients, telemedicine points and care-team relations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime


class Telemedpoint(Base):
    """A nurse-run village telemedicine point."""

    __tablename__ = "telemedpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Patient(Base):
    """A monitored patient; ``telemedpoint_id`` is the point whose nurses look after them."""

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(40), default="heart_failure")
    telemedpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("telemedpoints.id"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CareTeamMember(Base):
    """A clinician (cardiologist or nurse of the monitoring centre) who follows a patient."""

    __tablename__ = "care_team"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True, index=True)
