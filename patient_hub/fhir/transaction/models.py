"""The table of Observations created over FHIR (conditional-create keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class FhirObservationKey(Base):
    """One Observation created over FHIR: its conditional-create identifier (if any), where its
    readings are (``source``/seq from ``id``) and its logical id for the response location."""

    __tablename__ = "fhir_observation_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    value_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    system: Mapped[str | None] = mapped_column(Text, nullable=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64))
    observation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
