"""Notes and contacts about a patient, kept by the monitoring centre."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime


class NoteKind(StrEnum):
    NOTE = "note"
    CONTACT = "contact"


class ContactChannel(StrEnum):
    PHONE = "phone"
    VIDEO = "video"
    VISIT = "visit"
    MESSAGE = "message"


class ContactOutcome(StrEnum):
    """The structured outcome of a contact (clinical-workflow.md §5.2 M4)."""

    NO_ACTION = "no_action"
    ADVICE = "advice"
    MEDICATION_CHANGE = "medication_change"
    REFERRED = "referred"
    AMBULANCE = "ambulance"
    NOT_REACHED = "not_reached"


class PatientNote(Base):
    """A note, or a contact with its channel and outcome; never edited, only added."""

    __tablename__ = "patient_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    author: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20), default=None)
    outcome: Mapped[str | None] = mapped_column(String(30), default=None)
    text: Mapped[str] = mapped_column(Text())
