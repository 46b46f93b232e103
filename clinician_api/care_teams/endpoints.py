"""Care teams for admins: list and remove members (adding is ``POST /api/care-team``)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from clinician_api.deps import Admin, Session
from patient_hub.accounts.models import Role, User
from patient_hub.audit import service as audit
from patient_hub.patients import service as patients
from patient_hub.patients.models import Patient
from telemed_core.errors import InvalidInput, NotFound

router = APIRouter(tags=["admin"])
CLINICIANS = (Role.NURSE.value, Role.CARDIOLOGIST.value)


class MemberOut(BaseModel):
    user_id: str
    username: str
    role: str


async def _patient(session: Session, patient_id: str) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id!r}")
    return patient


@router.get("/api/patients/{patient_id}/care-team", response_model=list[MemberOut])
async def list_care_team(patient_id: str, session: Session, who: Admin) -> list[MemberOut]:
    """The clinicians following this patient."""
    await _patient(session, patient_id)
    rows = await patients.care_team_of(session, patient_id)
    return [MemberOut(user_id=i, username=u, role=r) for i, u, r in rows]


@router.delete("/api/patients/{patient_id}/care-team/{username}", status_code=204)
async def remove_care_team_member(
    patient_id: str, username: str, session: Session, who: Admin
) -> Response:
    """Take a clinician off the patient's care team (they stop seeing the patient at once)."""
    await _patient(session, patient_id)
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    if user.role not in CLINICIANS:
        raise InvalidInput(f"{username!r} is a {user.role}: only clinicians are on care teams")
    if not await patients.remove_from_care_team(session, user.id, patient_id):
        raise NotFound(f"{username!r} is not on the care team of {patient_id!r}")
    await audit.record(
        session, actor=who, action="delete", entity_type="CareTeam", entity_id=user.id,
        patient_id=patient_id, detail={"username": username},
    )  # fmt: skip
    return Response(status_code=204)
