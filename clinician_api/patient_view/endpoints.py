"""The patient timeline's API: trends by day/week/month, ESH home-BP averages, daily weights,
devices, notes and contacts. Every read and change is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from clinician_api.deps import CurrentPrincipal, Session
from clinician_api.devices.endpoints import registry_of
from clinician_api.patient_view.schemas import (
    BpMeanOut,
    DeviceOut,
    HomeBpOut,
    NoteIn,
    NoteOut,
    SlotOut,
    SummaryOut,
    TrendOut,
    WeightOut,
)
from patient_hub.access import require_patient
from patient_hub.accounts.models import Role
from patient_hub.audit import service as audit
from patient_hub.notes import repository as notes_repo
from patient_hub.notes import service as notes
from patient_hub.readings import repository as readings_repo
from patient_hub.readings import schedule
from patient_hub.readings import service as readings
from telemed_core.errors import Forbidden, InvalidInput
from telemed_core.kinds import WAVEFORM_KINDS, Kind
from telemed_core.values import utc_now
from telemed_signal.trends import BpMean, HomeBpSummary

router = APIRouter(tags=["patient timeline"])


@router.get("/api/patients/{patient_id}/trends", response_model=TrendOut)
async def get_trend(
    patient_id: str,
    session: Session,
    who: CurrentPrincipal,
    kind: Kind,
    range: Literal["day", "week", "month"] = "day",  # noqa: A002 - the API's word
    until: datetime | None = None,
) -> TrendOut:
    """One kind over a day (5 min buckets), week (30 min) or month (2 h): n, mean, min, max."""
    if kind in WAVEFORM_KINDS:
        raise InvalidInput(f"{kind.value} is a waveform; its trend is the derived heart rate")
    if until is not None and until.tzinfo is None:
        raise InvalidInput("until must carry a time zone, e.g. 2026-01-01T00:00:00Z")
    await require_patient(session, who, patient_id)
    t = await readings.trend(session, patient_id, kind.value, range, until or utc_now())
    await audit.record(
        session, actor=who, action="read", entity_type="Trend", entity_id=patient_id,
        patient_id=patient_id, detail={"kind": kind.value, "range": range},
    )  # fmt: skip
    return TrendOut(
        kind=t.kind, range=t.range, since=t.since, until=t.until, bucket_s=t.bucket_s,
        t=[p[0] for p in t.points], n=[p[1] for p in t.points],
        mean=[p[2] for p in t.points], min=[p[3] for p in t.points], max=[p[4] for p in t.points],
    )  # fmt: skip


def _mean(m: BpMean | None) -> BpMeanOut | None:
    return None if m is None else BpMeanOut(sbp_mmhg=m.sbp_mmhg, dbp_mmhg=m.dbp_mmhg, n=m.n)


def _home_bp(s: HomeBpSummary) -> HomeBpOut:
    return HomeBpOut(
        first_day=s.first_day.isoformat(), last_day=s.last_day.isoformat(), n_days=s.n_days,
        overall=_mean(s.overall), morning=_mean(s.morning), evening=_mean(s.evening),
        sufficient=s.sufficient, elevated=s.elevated,
    )  # fmt: skip


async def _devices(session: Session, patient_id: str) -> list[DeviceOut]:
    battery = {
        r.device_id: r.value
        for r in reversed(
            await readings_repo.readings_of_patient(
                session, patient_id, kind=Kind.BATTERY_LEVEL.value, limit=200
            )
        )
    }
    sent = {
        d: DeviceOut(
            device_id=d, bridge_id=b, last_measured_at=at, readings=n, battery_pct=battery.get(d)
        )  # fmt: skip
        for d, b, at, n in await readings_repo.devices_of_patient(session, patient_id)
    }
    # The registry's devices first (with when each last sent data), then any other device
    # that sent readings for the patient.
    registered = [
        (sent.pop(r.device_id, None) or DeviceOut(device_id=r.device_id, bridge_id=None,
            last_measured_at=None, readings=0, battery_pct=None)).model_copy(update={
            "registered": True, "kind": r.kind, "model": r.model, "serial": r.serial,
            "ble_address": r.ble_address, "gateway_id": r.gateway_id,
            "last_measured_at": r.last_data_at})
        for r in await registry_of(session, patient_id)
    ]  # fmt: skip
    return registered + list(sent.values())


@router.get("/api/patients/{patient_id}/summary", response_model=SummaryOut)
async def get_summary(patient_id: str, session: Session, who: CurrentPrincipal) -> SummaryOut:
    """The header of the timeline: ESH 7-day home BP, 30 daily weights, devices."""
    patient = await require_patient(session, who, patient_id)
    tz, now = ZoneInfo(patient.timezone), utc_now()
    bp = await readings.home_bp(session, patient_id, tz, now)
    weights = await readings.weights(session, patient_id, tz, now)
    devices = await _devices(session, patient_id)
    await audit.record(
        session, actor=who, action="read", entity_type="Summary", entity_id=patient_id,
        patient_id=patient_id,
    )  # fmt: skip
    return SummaryOut(
        id=patient.id, display_name=patient.display_name, programme=patient.programme,
        telemedpoint_id=patient.telemedpoint_id, timezone=patient.timezone, home_bp=_home_bp(bp),
        weights=[WeightOut(at=w.at, weight_kg=w.weight_kg) for w in weights], devices=devices,
    )  # fmt: skip


def _note_out(n: object) -> NoteOut:
    return NoteOut.model_validate(n, from_attributes=True)


@router.get("/api/patients/{patient_id}/notes", response_model=list[NoteOut])
async def list_notes(
    patient_id: str,
    session: Session,
    who: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NoteOut]:
    """Notes and contacts, newest first (the care team's record: not shown to patients)."""
    if who.role is Role.PATIENT:
        raise Forbidden("notes are the care team's record")
    await require_patient(session, who, patient_id)
    rows = await notes_repo.of_patient(session, patient_id, limit)
    await audit.record(
        session, actor=who, action="read", entity_type="Note", entity_id=patient_id,
        patient_id=patient_id, detail={"rows": len(rows)},
    )  # fmt: skip
    return [_note_out(n) for n in rows]


@router.post("/api/patients/{patient_id}/notes", response_model=NoteOut, status_code=201)
async def add_note(
    patient_id: str, body: NoteIn, session: Session, who: CurrentPrincipal
) -> NoteOut:
    """Add a note, or a contact with its channel and outcome (clinicians)."""
    await require_patient(session, who, patient_id)
    note = await notes.add_note(
        session, who, patient_id, body.text, utc_now(),
        kind=body.kind, channel=body.channel, outcome=body.outcome,
    )  # fmt: skip
    await audit.record(
        session, actor=who, action="create", entity_type="Note", entity_id=str(note.id),
        patient_id=patient_id, detail={"kind": note.kind, "outcome": note.outcome},
    )  # fmt: skip
    return _note_out(note)


@router.get("/api/patients/{patient_id}/today", response_model=list[SlotOut])
async def get_today(patient_id: str, session: Session, who: CurrentPrincipal) -> list[SlotOut]:
    """Today's scheduled measurements (the patient's local day): done, due, missed, upcoming."""
    patient = await require_patient(session, who, patient_id)
    slots = await schedule.today(
        session, patient_id, patient.programme, ZoneInfo(patient.timezone), utc_now()
    )
    await audit.record(
        session, actor=who, action="read", entity_type="Schedule", entity_id=patient_id,
        patient_id=patient_id,
    )  # fmt: skip
    return [SlotOut.model_validate(s, from_attributes=True) for s in slots]
