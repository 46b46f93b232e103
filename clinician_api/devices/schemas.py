"""Device registry in and out of the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from telemed_core.values import Identifier


class DeviceIn(BaseModel):
    """A device to assign to a patient (at enrolment, or later from /admin)."""

    model_config = ConfigDict(extra="forbid")
    device_id: Identifier = Field(description="the id its readings carry, e.g. omron-7361")
    kind: str = Field(max_length=32, description="bp_monitor, scale, pulse_oximeter, ...")
    model: str = Field(min_length=1, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    ble_address: str | None = Field(default=None, max_length=17, description="AA:BB:CC:DD:EE:FF")
    gateway_id: Identifier | None = Field(
        default=None, description="the home gateway or kiosk it pairs with"
    )


class PatientDeviceIn(DeviceIn):
    patient_id: Identifier


class RegisteredDeviceOut(BaseModel):
    device_id: str
    kind: str
    model: str
    serial: str | None
    ble_address: str | None
    patient_id: str
    gateway_id: str | None
    enrolled_by: str
    enrolled_at: datetime
    retired_by: str | None
    retired_at: datetime | None
    last_data_at: datetime | None = Field(
        default=None, description="when it last sent data (device liveness, else its readings)"
    )
