"""Kiosk enrolment tokens, registrations a kiosk made, teleconsultation requests (tasks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime


class KioskEnrolment(Base):
    """A one-time token an admin hands to whoever sets up a kiosk PC of a telemedpoint.

    Stored as the SHA-256 of a 256-bit token (like bridge tokens); used once, then it names the
    bridge it created.
    """

    __tablename__ = "kiosk_enrolments"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    telemedpoint_id: Mapped[str] = mapped_column(ForeignKey("telemedpoints.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    bridge_id: Mapped[str | None] = mapped_column(String(64), default=None)


class KioskRegistration(Base):
    """A kiosk's id of a patient and the hub patient it was merged into (idempotent by key)."""

    __tablename__ = "kiosk_registrations"

    bridge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    merged: Mapped[bool] = mapped_column(Boolean())  # True: an existing patient was found
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    id_checked: Mapped[bool] = mapped_column(Boolean())
    registered_by: Mapped[str] = mapped_column(String(100))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TeleconsultRequest(Base):
    """A nurse's request for a consultation on a kiosk visit: a task on the clinician side."""

    __tablename__ = "teleconsult_requests"
    __table_args__ = (Index("ix_teleconsult_requests_status", "status", "requested_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bridge_id: Mapped[str] = mapped_column(String(64))
    telemedpoint_id: Mapped[str | None] = mapped_column(String(64), default=None)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    addressee: Mapped[str] = mapped_column(String(32))  # treating_doctor | centre
    reason: Mapped[str] = mapped_column(Text())
    summary: Mapped[str] = mapped_column(Text(), default="")
    video_url: Mapped[str | None] = mapped_column(String(500), default=None)
    visit_id: Mapped[str] = mapped_column(String(64))
    visit_started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    visit_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|accepted|done
    handled_by: Mapped[str | None] = mapped_column(String(100), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
