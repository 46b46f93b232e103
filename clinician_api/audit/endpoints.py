"""The audit trail for admins: who looked at a patient (JSON) and FHIR ``AuditEvent`` export.

Reading the trail is itself audited (entity ``AuditEvent``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from clinician_api.deps import Admin, Session
from clinician_api.fhir_rest.outcome import fhir_response
from clinician_api.fhir_rest.search import fhir_base, searchset
from patient_hub.audit import repository as audit_repo
from patient_hub.audit import service as audit
from patient_hub.audit.models import AuditEntry
from patient_hub.fhir.audit_event import audit_event
from patient_hub.fhir.common import decode_id
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.patients.models import Patient
from telemed_core.errors import InvalidInput, NotFound

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    detail: str | None


class ChainOut(BaseModel):
    entries: int
    intact: bool
    broken_seq: int | None
    reason: str


async def _entries(
    session: Session, who: Admin, patient_id: str, limit: int, before: int | None
) -> list[AuditEntry]:
    if await session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id!r}")
    rows = list(await audit_repo.entries_about_patient(session, patient_id, limit, before))
    await audit.record(
        session, actor=who, action="read", entity_type="AuditEvent", entity_id=patient_id,
        patient_id=patient_id, detail={"entries": len(rows)},
    )  # fmt: skip
    return rows


@router.get("/api/patients/{patient_id}/audit", response_model=list[AuditEntryOut])
async def who_looked(
    patient_id: str,
    session: Session,
    who: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> list[AuditEntryOut]:
    """Who read or changed this patient's data, newest first (admin)."""
    rows = await _entries(session, who, patient_id, limit, before)
    return [AuditEntryOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/api/audit/verify", response_model=ChainOut)
async def verify_chain(session: Session, _: Admin) -> ChainOut:
    """Check the whole hash chain now (admin); the same check as ``telemed audit verify``."""
    verdict = await audit.verify(session)
    return ChainOut(
        entries=verdict.entries,
        intact=verdict.intact,
        broken_seq=verdict.broken_seq,
        reason=verdict.reason,
    )


def _patient_param(value: str) -> str:
    raw = value.removeprefix("Patient/")
    try:
        return decode_id(raw)
    except FhirMappingError:
        raise InvalidInput(f"patient {value!r} is not a Patient id") from None


@router.get("/fhir/AuditEvent", tags=["fhir"], summary="Audit trail of one patient (admin)")
async def audit_events(
    request: Request,
    session: Session,
    who: Admin,
    patient: str,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 100,
) -> JSONResponse:
    """``AuditEvent?patient=<id>``: the newest entries about a patient as AuditEvents."""
    rows = await _entries(session, who, _patient_param(patient), count, None)
    base = fhir_base(request)
    links = [("self", str(request.url))]
    return fhir_response(searchset(base, [audit_event(r) for r in rows], links, None))
