"""Stored findings: one row per (patient, kind, start), updated as the episode evolves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class FindingRow(Base):
    """A finding; ``key`` makes reprocessing idempotent (the same episode is one row)."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_patient_start", "patient_id", "start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    severity: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(200))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    window_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    explanation: Mapped[str] = mapped_column(Text, default="")
    #: The explanation as a key and arguments (``telemed_core.explanations``), for the reader's
    #: language; NULL for findings stored before they had one (their English text is shown).
    explanation_key: Mapped[str | None] = mapped_column(String(64), default=None)
    explanation_args: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
