"""Registered devices: one row per assignment of a device to a patient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId

#: Device kinds of the registry (what the patient measures with).
KINDS = (
    "bp_monitor",
    "scale",
    "pulse_oximeter",
    "thermometer",
    "glucose_meter",
    "ecg_strap",
    "hr_strap",
)


class RegisteredDevice(Base):
    """A device assigned to a patient until it is retired. ``device_id`` is the id the device's
    readings carry; at most one active (not retired) row per device id and per BLE address, so
    a device is never assigned to two patients at once (partial unique indexes)."""

    __tablename__ = "registered_devices"
    __table_args__ = (
        Index(
            "ux_registered_devices_active_id", "device_id", unique=True,
            sqlite_where=text("retired_at IS NULL"), postgresql_where=text("retired_at IS NULL"),
        ),
        Index(
            "ux_registered_devices_active_ble", "ble_address", unique=True,
            sqlite_where=text("retired_at IS NULL AND ble_address IS NOT NULL"),
            postgresql_where=text("retired_at IS NULL AND ble_address IS NOT NULL"),
        ),
        Index("ix_registered_devices_patient", "patient_id"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100), default=None)
    ble_address: Mapped[str | None] = mapped_column(String(17), default=None)  # AA:BB:CC:DD:EE:FF
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    gateway_id: Mapped[str | None] = mapped_column(String(64), default=None)  # bridge or kiosk
    enrolled_by: Mapped[str] = mapped_column(String(100))
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retired_by: Mapped[str | None] = mapped_column(String(100), default=None)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
