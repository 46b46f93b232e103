"""Per-patient overrides of a programme's alert thresholds, with provenance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class ThresholdOverride(Base):
    """A clinician's change of one parameter of one rule for one patient: who, when, why, until.

    The newest unexpired override of (patient, rule, parameter) applies; older rows stay as the
    history of the threshold.
    """

    __tablename__ = "alert_threshold_overrides"
    __table_args__ = (Index("ix_alert_overrides_patient_rule", "patient_id", "rule"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    rule: Mapped[str] = mapped_column(String(64))
    parameter: Mapped[str] = mapped_column(String(32))  # trigger | clear | persistence_s | rapid
    value: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
