"""API shapes of kiosk enrolment and teleconsultation tasks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from clinician_api.patients.schemas import ReadingOut


class EnrolmentTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    telemedpoint_id: str = Field(min_length=1, max_length=64)


class EnrolmentTokenOut(BaseModel):
    enrolment_token: str
    telemedpoint_id: str
    expires_at: datetime


class KioskEnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enrolment_token: str = Field(min_length=16, max_length=256)
    kiosk_name: str = Field(default="1", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$")


class KioskEnrolOut(BaseModel):
    bridge_id: str
    token: str
    telemedpoint_id: str
    telemedpoint_name: str


class KioskOut(BaseModel):
    bridge_id: str
    telemedpoint_id: str | None
    last_seen_at: datetime | None


class TaskOut(BaseModel):
    id: str
    patient_id: str
    telemedpoint_id: str | None
    bridge_id: str
    addressee: str
    reason: str
    summary: str
    video_url: str | None
    visit_id: str
    visit_started_at: datetime
    visit_ended_at: datetime | None
    requested_by: str
    requested_at: datetime
    status: str
    handled_by: str | None


class TaskDetailOut(TaskOut):
    readings: list[ReadingOut]


class TaskUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern=r"^(open|accepted|done)$")
    video_url: str | None = Field(default=None, max_length=500, pattern=r"^https://\S+$")
