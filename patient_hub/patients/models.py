"""Patients, telemedicine points and care-team relations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false as sa_false

from patient_hub.db import Base, UtcDateTime


class Telemedpoint(Base):
    """A nurse-run village telemedicine point."""

    __tablename__ = "telemedpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Patient(Base):
    """A monitored patient; ``telemedpoint_id`` is the point whose nurses look after them.

    The demographic fields are optional at the storage level (older records have none); the
    API decides what enrolment requires. ``national_id`` is the Czech birth number, normalised
    (digits only, ``telemed_core.birth_number``). ``home_latitude``/``home_longitude`` (WGS 84
    degrees) are where a first responder or a field nurse goes. ``is_test`` marks simulated
    patients (FHIR security label HTEST); their data is removable.
    """

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(40), default="heart_failure")
    telemedpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("telemedpoints.id"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    family_name: Mapped[str | None] = mapped_column(String(100), default=None)
    given_name: Mapped[str | None] = mapped_column(String(100), default=None)
    birth_date: Mapped[date | None] = mapped_column(Date(), default=None)
    sex: Mapped[str | None] = mapped_column(String(16), default=None)  # male|female|other|unknown
    national_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    address_line: Mapped[str | None] = mapped_column(String(200), default=None)
    city: Mapped[str | None] = mapped_column(String(100), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(16), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)  # ISO 3166-1 alpha-2
    home_latitude: Mapped[float | None] = mapped_column(Float(), default=None)
    home_longitude: Mapped[float | None] = mapped_column(Float(), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)  # E.164
    treating_doctor: Mapped[str | None] = mapped_column(String(200), default=None)
    insurer: Mapped[str | None] = mapped_column(String(64), default=None)
    timezone: Mapped[str] = mapped_column(
        String(64), default="Europe/Prague", server_default="Europe/Prague"
    )
    is_test: Mapped[bool] = mapped_column(
        Boolean(), default=False, server_default=sa_false(), index=True
    )


class CareTeamMember(Base):
    """A clinician (cardiologist or nurse of the monitoring centre) who follows a patient."""

    __tablename__ = "care_team"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True, index=True)
