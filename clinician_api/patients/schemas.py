"""API shapes of patients and readings (kept apart from the ORM models)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from telemed_core.values import Identifier


class PatientOut(BaseModel):
    id: str
    display_name: str
    programme: str
    telemedpoint_id: str | None


class PatientIn(BaseModel):
    id: Identifier
    display_name: str = Field(min_length=1, max_length=200)
    programme: str = "heart_failure"
    telemedpoint_id: Identifier | None = None


class ReadingOut(BaseModel):
    bridge_id: str
    seq: int
    patient_id: str
    device_id: str
    kind: str
    value: float | None
    unit: str
    measured_at: datetime
    device_time: datetime | None
    received_at: datetime | None
    stored_at: datetime
    flags: list[str]


class BridgeIn(BaseModel):
    bridge_id: Identifier
    patient_id: Identifier | None = None
    telemedpoint_id: Identifier | None = None


class BridgeOut(BaseModel):
    bridge_id: str
    token: str = Field(description="shown once; stored only as a hash")


class TelemedpointIn(BaseModel):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)


class CareTeamIn(BaseModel):
    username: str
    patient_id: Identifier


class FindingOut(BaseModel):
    key: str
    patient_id: str
    kind: str
    start: datetime
    end: datetime | None
    severity: str
    method: str
    values: dict[str, object]
    window_s: float | None
    explanation: str
