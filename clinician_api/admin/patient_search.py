"""``GET /api/admin/patient-search?q=``: the patient-id suggestions of the admin forms.

The forms ask as the admin types, so opening ``/admin`` reads no patient at all; each search is
one audit entry (``search``, the query and the ids answered in its detail), not one per patient
of the registry as listing ``/api/patients`` for suggestions did.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, or_, select

from clinician_api.deps import Admin, Session
from patient_hub.access import visible_patient_ids
from patient_hub.audit import service as audit
from patient_hub.patients.models import Patient

router = APIRouter(tags=["admin"])
MAX_SUGGESTIONS = 20


class PatientSuggestion(BaseModel):
    id: str
    display_name: str


@router.get("/api/admin/patient-search", response_model=list[PatientSuggestion])
async def patient_search(
    session: Session,
    who: Admin,
    q: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[PatientSuggestion]:
    """Up to 20 patients (of those the admin may see) whose id or name contains ``q``."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = f"%{escaped}%"
    stmt = (
        select(Patient.id, Patient.display_name)
        .where(
            or_(
                func.lower(Patient.id).like(like, escape="\\"),
                func.lower(Patient.display_name).like(like, escape="\\"),
            )
        )
        .order_by(Patient.id)
        .limit(MAX_SUGGESTIONS)
    )
    visible = await visible_patient_ids(session, who)
    if visible is not None:
        stmt = stmt.where(Patient.id.in_(visible))
    rows = (await session.execute(stmt)).all()
    await audit.record(
        session, actor=who, action="search", entity_type="Patient", entity_id="suggestions",
        detail={"q": q, "patients": [r.id for r in rows]},
    )  # fmt: skip
    return [PatientSuggestion(id=r.id, display_name=r.display_name) for r in rows]
