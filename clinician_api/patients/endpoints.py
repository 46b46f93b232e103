"""Patients and their readings, as the signed-in user may see them; admin enrolment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from clinician_api.deps import Admin, CurrentPrincipal, Session, get_hub
from clinician_api.patients.schemas import (
    BridgeIn,
    BridgeOut,
    CareTeamIn,
    EnrolledOut,
    FindingOut,
    PatientIn,
    PatientOut,
    ReadingOut,
    TelemedpointIn,
)
from patient_hub.access import require_patient, visible_patient_ids
from patient_hub.audit import service as audit
from patient_hub.findings.models import FindingRow
from patient_hub.findings.repository import findings_of_patient, recent_findings
from patient_hub.ingest.models import ReadingRow
from patient_hub.patients import service as patients
from patient_hub.patients.models import Patient
from patient_hub.readings.repository import latest_per_kind, readings_of_patient
from telemed_core.errors import InvalidInput, NotFound
from telemed_core.kinds import Kind
from telemed_core.values import utc_now

router = APIRouter(tags=["patients"])


def _patient_fields(p: Patient) -> dict[str, Any]:
    fields = {name: getattr(p, name) for name in patients.RECORD_FIELDS}
    return {
        **fields,
        "id": p.id,
        "display_name": p.display_name,
        "programme": p.programme,
        "telemedpoint_id": p.telemedpoint_id,
    }


def _patient_out(p: Patient) -> PatientOut:
    return PatientOut.model_construct(**_patient_fields(p))  # stored values: validated on entry


def reading_out(r: ReadingRow) -> ReadingOut:
    return ReadingOut(
        bridge_id=r.bridge_id,
        seq=r.seq,
        patient_id=r.patient_id,
        device_id=r.device_id,
        kind=r.kind,
        value=r.value,
        unit=r.unit,
        measured_at=r.measured_at,
        device_time=r.device_time,
        received_at=r.received_at,
        stored_at=r.stored_at,
        flags=[f for f in r.flags.split(",") if f],
    )


async def _visible_patients(session: Session, who: CurrentPrincipal) -> list[Patient]:
    visible = await visible_patient_ids(session, who)
    stmt = select(Patient).order_by(Patient.display_name)
    if visible is not None:
        stmt = stmt.where(Patient.id.in_(visible))
    return list((await session.scalars(stmt)).all())


@router.get("/api/patients", response_model=list[PatientOut])
async def list_patients(session: Session, who: CurrentPrincipal) -> list[PatientOut]:
    """The patients the signed-in user may see."""
    shown = await _visible_patients(session, who)
    await audit.record_many(
        session, actor=who, action="search", entity_type="Patient", entity_id="list",
        patient_ids=[p.id for p in shown],
    )  # fmt: skip
    return [_patient_out(p) for p in shown]


@router.get("/api/patients/{patient_id}/readings", response_model=list[ReadingOut])
async def list_readings(
    patient_id: str,
    session: Session,
    who: CurrentPrincipal,
    kind: Kind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[ReadingOut]:
    """A patient's readings, newest first; ``since``/``until`` must carry a time zone."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} must carry a time zone, e.g. 2026-01-01T00:00:00Z")
    await require_patient(session, who, patient_id)
    rows = await readings_of_patient(
        session,
        patient_id,
        kind=kind.value if kind else None,
        since=since,
        until=until,
        limit=limit,
    )
    await audit.record(
        session, actor=who, action="read", entity_type="Reading", entity_id=patient_id,
        patient_id=patient_id, detail=_query_detail(kind=kind, since=since, until=until, rows=len(rows)),
    )  # fmt: skip
    return [reading_out(r) for r in rows]


def _query_detail(**values: object) -> dict[str, object]:
    """What a read asked for and got, for the audit entry (None left out)."""
    return {k: str(v) if isinstance(v, datetime) else v for k, v in values.items() if v is not None}


@router.get("/api/patients/{patient_id}/findings", response_model=list[FindingOut])
async def list_findings(
    patient_id: str,
    session: Session,
    who: CurrentPrincipal,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[FindingOut]:
    """What the signal library found for a patient, newest first, each saying why."""
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since must carry a time zone, e.g. 2026-01-01T00:00:00Z")
    await require_patient(session, who, patient_id)
    rows = await findings_of_patient(session, patient_id, since=since, limit=limit)
    await audit.record(
        session, actor=who, action="read", entity_type="Finding", entity_id=patient_id,
        patient_id=patient_id, detail=_query_detail(since=since, rows=len(rows)),
    )  # fmt: skip
    return [_finding_out(f) for f in rows]


def _finding_out(f: FindingRow) -> FindingOut:
    return FindingOut(
        key=f.key, patient_id=f.patient_id, kind=f.kind, start=f.start, end=f.end,
        severity=f.severity, method=f.method, values=f.values, window_s=f.window_s,
        explanation=f.explanation, explanation_key=f.explanation_key or "",
        explanation_args=f.explanation_args or {},
    )  # fmt: skip


@router.get("/api/monitor/snapshot")
async def monitor_snapshot(session: Session, who: CurrentPrincipal) -> dict[str, object]:
    """Visible patients with the latest reading of each kind: the monitor's first paint."""
    visible = await _visible_patients(session, who)
    ids = [p.id for p in visible]
    latest = await latest_per_kind(session, ids)
    findings = await recent_findings(session, ids, utc_now() - timedelta(hours=24))
    await audit.record_many(
        session, actor=who, action="read", entity_type="Monitor", entity_id="snapshot",
        patient_ids=ids,
    )  # fmt: skip
    return {
        "patients": [_patient_out(p).model_dump() for p in visible],
        "latest": [reading_out(r).model_dump(mode="json") for r in latest],
        "findings": [_finding_out(f).model_dump(mode="json") for f in reversed(findings)],
    }


@router.post("/api/telemedpoints", status_code=201, tags=["admin"])
async def create_telemedpoint(body: TelemedpointIn, session: Session, _: Admin) -> dict[str, str]:
    await patients.ensure_telemedpoint(session, body.id, body.name)
    return {"id": body.id}


@router.get("/api/patients/{patient_id}", response_model=PatientOut)
async def read_patient(patient_id: str, session: Session, who: CurrentPrincipal) -> PatientOut:
    """One patient's record, if the signed-in user may see the patient."""
    await require_patient(session, who, patient_id)
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id!r}")
    await audit.record(
        session, actor=who, action="read", entity_type="Patient", entity_id=patient_id,
        patient_id=patient_id,
    )  # fmt: skip
    return _patient_out(patient)


@router.post("/api/patients", response_model=EnrolledOut, status_code=201, tags=["admin"])
async def create_patient(body: PatientIn, session: Session, who: Admin) -> EnrolledOut:
    """Create or update a patient (admin). The birth number is checked by its rules and must
    be unique; ``possible_duplicates`` lists other patients with the same name and birth date."""
    assert body.display_name is not None  # PatientIn fills it from the name parts
    existed = await session.get(Patient, body.id) is not None
    patient = await patients.upsert_patient(
        session,
        body.id,
        body.display_name,
        utc_now(),
        programme=body.programme,
        telemedpoint_id=body.telemedpoint_id,
        record=body.model_dump(include=set(patients.RECORD_FIELDS)),
    )
    duplicates = await patients.likely_duplicates(session, patient)
    await audit.record(
        session, actor=who, action="update" if existed else "create", entity_type="Patient",
        entity_id=body.id, patient_id=body.id, detail={"fields": sorted(body.model_fields_set)},
    )  # fmt: skip
    return enrolled_out(patient, duplicates)


def enrolled_out(patient: Patient, duplicates: list[str]) -> EnrolledOut:
    return EnrolledOut.model_construct(**_patient_fields(patient), possible_duplicates=duplicates)


@router.delete("/api/test-data", tags=["admin"])
async def remove_test_data(
    session: Session, _: Admin, prefix: Annotated[str, Query(min_length=1, max_length=64)]
) -> dict[str, object]:
    """Delete simulated patients (test data, HTEST) whose id starts with ``prefix`` and
    everything that belongs to them. Real patients are never touched."""
    from clinician_api.migrations.models import metadata

    deleted = await patients.remove_test_patients(session, metadata, prefix)
    return {"prefix": prefix, "patients": deleted.get("patients", 0), "rows": deleted}


@router.post("/api/care-team", status_code=201, tags=["admin"])
async def add_care_team(body: CareTeamIn, session: Session, who: Admin) -> dict[str, str]:
    """Let a clinician (nurse or cardiologist) follow a patient."""
    user = await patients.add_clinician_to_care_team(session, body.username, body.patient_id)
    await audit.record(
        session, actor=who, action="create", entity_type="CareTeam", entity_id=user.id,
        patient_id=body.patient_id, detail={"username": body.username},
    )  # fmt: skip
    return {"user_id": user.id, "patient_id": body.patient_id}


@router.post("/api/bridges", response_model=BridgeOut, status_code=201, tags=["admin"])
async def enrol_bridge(body: BridgeIn, session: Session, _: Admin) -> BridgeOut:
    """Enrol a bridge (or rotate its token). The token is returned once."""
    token = await patients.enrol_bridge(
        session, body.bridge_id, patient_id=body.patient_id, telemedpoint_id=body.telemedpoint_id
    )
    return BridgeOut(bridge_id=body.bridge_id, token=token)


__all__ = ["router", "reading_out", "enrolled_out", "get_hub"]
