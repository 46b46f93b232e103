"""``POST /api/admin/enrolments``: a new patient, their home gateway, devices, care team and
account in one transaction, so a refused part leaves nothing half-enrolled."""

from __future__ import annotations

from fastapi import APIRouter

from clinician_api.admin.schemas import EnrolmentIn, EnrolmentOut
from clinician_api.deps import Admin, Session
from clinician_api.devices.endpoints import device_out
from clinician_api.patients.endpoints import enrolled_out
from patient_hub.accounts import security
from patient_hub.accounts import service as accounts
from patient_hub.audit import service as audit
from patient_hub.devices import service as devices
from patient_hub.ingest.models import Bridge
from patient_hub.patients import service as patients
from patient_hub.patients.models import Patient
from telemed_core.errors import Conflict
from telemed_core.values import utc_now

router = APIRouter(tags=["admin"])


@router.post("/api/admin/enrolments", response_model=EnrolmentOut, status_code=201)
async def enrol(body: EnrolmentIn, session: Session, who: Admin) -> EnrolmentOut:
    """Enrol a new patient; the gateway's token is in the answer once and stored only hashed."""
    p = body.patient
    assert p.display_name is not None  # PatientIn fills it from the name parts
    if await session.get(Patient, p.id) is not None:
        raise Conflict(f"patient {p.id!r} exists: change the record at /api/patients")
    if body.gateway_id is not None and await session.get(Bridge, body.gateway_id) is not None:
        raise Conflict(f"gateway {body.gateway_id!r} is enrolled already")
    if body.account is not None:  # checked before anything is written
        security.check_password_policy(body.account.password, body.account.username)
    patient = await patients.upsert_patient(
        session, p.id, p.display_name, utc_now(), programme=p.programme,
        telemedpoint_id=p.telemedpoint_id, record=p.model_dump(include=set(patients.RECORD_FIELDS)),
    )  # fmt: skip
    token = None
    if body.gateway_id is not None:
        token = await patients.enrol_bridge(session, body.gateway_id, patient_id=p.id)
    enrolled = [
        await devices.enrol_device(
            session,
            patient_id=p.id,
            by=who.username,
            now=utc_now(),
            **{**d.model_dump(), "gateway_id": d.gateway_id or body.gateway_id},
        )  # fmt: skip
        for d in body.devices
    ]
    team = sorted(set(body.care_team))
    for username in team:
        await patients.add_clinician_to_care_team(session, username, p.id)
    account = None
    if body.account is not None:
        user = await accounts.create_user(
            session, body.account.username, body.account.password, "patient", patient_id=p.id
        )
        account = user.username
    await audit.record(
        session, actor=who, action="create", entity_type="Enrolment", entity_id=p.id,
        patient_id=p.id, detail={"gateway": body.gateway_id, "care_team": team, "account": account,
                                 "devices": [d.device_id for d in enrolled]},
    )  # fmt: skip
    duplicates = await patients.likely_duplicates(session, patient)
    return EnrolmentOut(
        patient=enrolled_out(patient, duplicates), gateway_id=body.gateway_id,
        gateway_token=token, care_team=team, account=account,
        devices=[device_out(d) for d in enrolled],
    )  # fmt: skip
