"""Patients, telemedpoints, care teams and bridge enrolment. Services never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.models import Bridge
from patient_hub.ingest.service import hash_token
from patient_hub.patients.models import CareTeamMember, Patient, Telemedpoint
from telemed_core.errors import InvalidInput, NotFound
from telemed_core.ids import new_token

PROGRAMMES = ("hypertension", "heart_failure", "telemedpoint", "first_responder")


async def ensure_telemedpoint(session: AsyncSession, telemedpoint_id: str, name: str) -> None:
    if await session.get(Telemedpoint, telemedpoint_id) is None:
        session.add(Telemedpoint(id=telemedpoint_id, name=name))
        await session.flush()


async def upsert_patient(
    session: AsyncSession,
    patient_id: str,
    display_name: str,
    now: datetime,
    *,
    programme: str = "heart_failure",
    telemedpoint_id: str | None = None,
) -> Patient:
    """Create the patient, or update name/programme/telemedpoint of an existing one."""
    if programme not in PROGRAMMES:
        raise InvalidInput(f"unknown programme {programme!r}; one of {list(PROGRAMMES)}")
    if telemedpoint_id is not None and await session.get(Telemedpoint, telemedpoint_id) is None:
        raise InvalidInput(f"no telemedpoint {telemedpoint_id!r}")
    patient = await session.get(Patient, patient_id)
    if patient is None:
        patient = Patient(id=patient_id, created_at=now, display_name=display_name)
        session.add(patient)
    patient.display_name = display_name
    patient.programme = programme
    patient.telemedpoint_id = telemedpoint_id
    await session.flush()
    return patient


async def add_to_care_team(session: AsyncSession, user_id: str, patient_id: str) -> None:
    if await session.get(CareTeamMember, (user_id, patient_id)) is None:
        session.add(CareTeamMember(user_id=user_id, patient_id=patient_id))
        await session.flush()


async def enrol_bridge(
    session: AsyncSession,
    bridge_id: str,
    *,
    patient_id: str | None = None,
    telemedpoint_id: str | None = None,
) -> str:
    """Create the bridge or rotate its token; return the new token (shown once, stored hashed).

    A home gateway serves one patient; a kiosk serves the patients of its telemedpoint.
    """
    if (patient_id is None) == (telemedpoint_id is None):
        raise InvalidInput("a bridge serves either one patient or one telemedpoint")
    if patient_id is not None and await session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id!r}")
    if telemedpoint_id is not None and await session.get(Telemedpoint, telemedpoint_id) is None:
        raise NotFound(f"no telemedpoint {telemedpoint_id!r}")
    token = new_token()
    bridge = await session.get(Bridge, bridge_id)
    if bridge is None:
        bridge = Bridge(id=bridge_id, token_hash=hash_token(token))
        session.add(bridge)
    bridge.token_hash = hash_token(token)
    bridge.patient_id = patient_id
    bridge.telemedpoint_id = telemedpoint_id
    await session.flush()
    return token
