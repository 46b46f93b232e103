"""API shapes of dispatch (pydantic), apart from the ORM models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class DutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class ResponderIn(BaseModel):
    """Vetting record, set by an admin or a dispatcher."""

    model_config = ConfigDict(extra="forbid")
    qualification: str = Field(min_length=1, max_length=100)
    vetted_until: date


class ResponderOut(BaseModel):
    user_id: str
    username: str
    qualification: str
    vetted_until: date | None
    on_duty: bool
    latitude: float | None
    longitude: float | None
    position_at: datetime | None
    incident_id: str | None


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    address: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="Suspected cardiac arrest", max_length=300)


class SendRespondersIn(BaseModel):
    """The clinician's confirmation: which finding (or alert) shows the arrest."""

    model_config = ConfigDict(extra="forbid")
    finding_key: str | None = Field(default=None, max_length=200)
    alert_id: str | None = Field(default=None, max_length=200)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(max_length=20)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(default="stood_down", max_length=20)


class OfferOut(BaseModel):
    incident_id: str
    state: str
    summary: str
    distance_m: float
    bearing_deg: float | None
    direction: str | None
    offered_at: datetime
    expires_at: datetime


class AedOut(BaseModel):
    id: str
    latitude: float
    longitude: float
    address: str
    access_hours: str
    notes: str


class EventOut(BaseModel):
    at: datetime
    kind: str
    actor: str | None
    detail: str


class OfferRow(BaseModel):
    """An offer as the dispatcher sees it, with the responder's latest position."""

    responder_id: str
    username: str
    state: str
    phase: int
    distance_m: float
    task: str | None
    aed_id: str | None
    status: str | None
    latitude: float | None
    longitude: float | None
    position_at: datetime | None


class IncidentOut(BaseModel):
    id: str
    state: str
    outcome: str | None
    latitude: float
    longitude: float
    address: str
    summary: str
    created_at: datetime
    closed_at: datetime | None
    accepted: int
    max_accept: int
    phase: int
    # For a responder: their task, the AED to fetch, where the incident is from them.
    task: str | None = None
    status: str | None = None
    aed: AedOut | None = None
    distance_m: float | None = None
    bearing_deg: float | None = None
    direction: str | None = None
    me: tuple[float, float] | None = None
    # For a dispatcher: who was offered, what they answered, where they are; the timeline.
    patient_id: str | None = None
    alert_id: str | None = None
    offers: list[OfferRow] | None = None
    aeds: list[AedOut] | None = None
    events: list[EventOut] | None = None


class CurrentOut(BaseModel):
    """What a responder's page shows now: open offers and the incident they are on."""

    on_duty: bool
    position_at: datetime | None
    offers: list[OfferOut]
    incident: IncidentOut | None


class AedImportOut(BaseModel):
    imported: int
