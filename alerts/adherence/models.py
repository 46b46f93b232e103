"""Measurement schedules, their slots, and device/bridge liveness for technical alarms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class MeasurementSchedule(Base):
    """A measurement due daily at ``local_time`` (HH:MM) in ``timezone`` (the patient's)."""

    __tablename__ = "measurement_schedules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # a reading kind, e.g. bp_systolic
    local_time: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    grace_min: Mapped[int] = mapped_column(Integer, default=60)
    misses_before_alert: Mapped[int] = mapped_column(Integer, default=2)
    consecutive_misses: Mapped[int] = mapped_column(Integer, default=0)
    last_checked_due: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class DeviceHeartbeat(Base):
    """When a patient's device was last heard, through which bridge, and its battery level."""

    __tablename__ = "device_heartbeats"
    __table_args__ = (Index("ix_device_heartbeats_seen", "last_seen_at"),)

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bridge_id: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    battery_pct: Mapped[float | None] = mapped_column(Float, default=None)
    #: It streams (SpO2, heart rate every second): only such a device can be "offline"; a cuff
    #: or a scale is silent between measurements by design.
    continuous: Mapped[bool] = mapped_column(Boolean, default=False)
