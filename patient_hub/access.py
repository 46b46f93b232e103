"""Who may see which patients: by role and relation (ARCHITECTURE.md, "Access")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.accounts.models import Role
from patient_hub.patients.models import CareTeamMember, Patient
from telemed_core.errors import NotFound


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user as the data layer needs it."""

    user_id: str
    username: str
    role: Role
    patient_id: str | None = None
    telemedpoint_id: str | None = None


async def visible_patient_ids(session: AsyncSession, who: Principal) -> set[str] | None:
    """Ids of the patients ``who`` may see; None means every patient (admin).

    A patient sees only themself; a nurse the patients of their telemedpoint (and any they
    follow in a care team); a cardiologist their cohort (care team); a responder and a
    dispatcher no patient's readings (incidents grant that, later).
    """
    if who.role is Role.ADMIN:
        return None
    if who.role is Role.PATIENT:
        return {who.patient_id} if who.patient_id else set()
    ids: set[str] = set()
    if who.role in (Role.NURSE, Role.CARDIOLOGIST):
        ids |= set(
            await session.scalars(
                select(CareTeamMember.patient_id).where(CareTeamMember.user_id == who.user_id)
            )
        )
    if who.role is Role.NURSE and who.telemedpoint_id:
        ids |= set(
            await session.scalars(
                select(Patient.id).where(Patient.telemedpoint_id == who.telemedpoint_id)
            )
        )
    return ids


async def require_patient(session: AsyncSession, who: Principal, patient_id: str) -> Patient:
    """The patient, if ``who`` may see them; NotFound otherwise (no existence leak)."""
    visible = await visible_patient_ids(session, who)
    patient = await session.get(Patient, patient_id)
    if patient is None or (visible is not None and patient_id not in visible):
        raise NotFound(f"no patient {patient_id!r}")
    return patient
