"""API shapes of the patient timeline."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from patient_hub.notes.models import ContactChannel, ContactOutcome, NoteKind


class TrendOut(BaseModel):
    kind: str
    range: str
    since: datetime
    until: datetime
    bucket_s: int
    t: list[float] = Field(description="bucket start, seconds since 1970 (UTC)")
    n: list[int]
    mean: list[float]
    min: list[float]
    max: list[float]


class BpMeanOut(BaseModel):
    sbp_mmhg: float
    dbp_mmhg: float
    n: int


class HomeBpOut(BaseModel):
    first_day: str
    last_day: str
    n_days: int
    overall: BpMeanOut | None
    morning: BpMeanOut | None
    evening: BpMeanOut | None
    sufficient: bool
    elevated: bool | None


class WeightOut(BaseModel):
    at: datetime
    weight_kg: float


class DeviceOut(BaseModel):
    """A device of the patient: registered (kind, model, ...) and/or seen sending readings."""

    device_id: str
    bridge_id: str | None  # None: registered, never sent
    last_measured_at: datetime | None  # when it last sent data (liveness, else readings)
    readings: int
    battery_pct: float | None
    registered: bool = False
    kind: str | None = None  # registry kind: bp_monitor, scale, pulse_oximeter, ...
    model: str | None = None
    serial: str | None = None
    ble_address: str | None = None
    gateway_id: str | None = None


class SummaryOut(BaseModel):
    id: str
    display_name: str
    programme: str
    telemedpoint_id: str | None
    timezone: str
    home_bp: HomeBpOut
    weights: list[WeightOut]
    devices: list[DeviceOut]


class NoteIn(BaseModel):
    kind: NoteKind = NoteKind.NOTE
    text: str = Field(min_length=1, max_length=4000)
    channel: ContactChannel | None = None
    outcome: ContactOutcome | None = None


class NoteOut(BaseModel):
    id: int
    at: datetime
    author: str
    kind: str
    channel: str | None
    outcome: str | None
    text: str


class SlotOut(BaseModel):
    kind: str
    due: datetime
    window_start: datetime
    window_end: datetime
    status: str
    measured_at: datetime | None
