"""Patients, telemedpoints, care teams and bridge enrolment. Services never commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.accounts.models import User
from patient_hub.ingest.models import Bridge
from patient_hub.ingest.service import hash_token
from patient_hub.patients import repository as repo
from patient_hub.patients.models import CareTeamMember, Patient, Telemedpoint
from telemed_core.errors import Conflict, InvalidInput, NotFound
from telemed_core.ids import new_token

PROGRAMMES = ("hypertension", "heart_failure", "telemedpoint", "first_responder")


async def ensure_telemedpoint(session: AsyncSession, telemedpoint_id: str, name: str) -> None:
    if await session.get(Telemedpoint, telemedpoint_id) is None:
        session.add(Telemedpoint(id=telemedpoint_id, name=name))
        await session.flush()


#: The demographic columns a record may set (``PatientRecord`` in the API).
RECORD_FIELDS = (
    "family_name", "given_name", "birth_date", "sex", "national_id", "address_line", "city",
    "postal_code", "country", "home_latitude", "home_longitude", "phone", "treating_doctor",
    "insurer", "timezone", "is_test",
)  # fmt: skip


async def upsert_patient(
    session: AsyncSession,
    patient_id: str,
    display_name: str,
    now: datetime,
    *,
    programme: str = "heart_failure",
    telemedpoint_id: str | None = None,
    record: Mapping[str, object] | None = None,
) -> Patient:
    """Create the patient, or update an existing one. ``record`` (validated by the caller)
    replaces the demographic fields; a birth number already used by another patient is a
    Conflict (one person, one record)."""
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
    if record is not None:
        await _check_unique_national_id(session, patient_id, record.get("national_id"))
        for name in RECORD_FIELDS:
            if name in record:
                setattr(patient, name, record[name])
    await session.flush()
    return patient


async def _check_unique_national_id(session: AsyncSession, patient_id: str, value: object) -> None:
    if isinstance(value, str):
        other = await repo.with_national_id(session, value, patient_id)
        if other is not None:
            raise Conflict(f"patient {other!r} already has this birth number")


async def likely_duplicates(session: AsyncSession, patient: Patient) -> list[str]:
    """Other patients who are likely the same person (a warning at enrolment)."""
    found = await repo.same_name_and_birth(
        session, patient.id, patient.display_name, patient.family_name, patient.given_name,
        patient.birth_date,
    )  # fmt: skip
    return list(found)


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


async def remove_test_patients(
    session: AsyncSession, metadata: MetaData, prefix: str
) -> dict[str, int]:
    """Delete the simulated cohort: test patients (``is_test``) whose id starts with
    ``prefix``, with their readings, findings, bridges, accounts and everything else that
    refers to them. Real patients never match. ``metadata`` describes every table of the
    server; tables marked ``info={"append_only": True}`` (an audit log) are never touched.
    Returns the rows deleted per table."""
    if not prefix:
        raise InvalidInput("give the id prefix of the simulated cohort, e.g. sim-")
    ids = await repo.test_patient_ids(session, prefix)
    if not ids:
        return {}
    return await repo.delete_patients_everywhere(session, metadata, ids)


async def remove_from_care_team(session: AsyncSession, user_id: str, patient_id: str) -> bool:
    """Take the clinician off the patient's care team; False when they were not on it."""
    member = await session.get(CareTeamMember, (user_id, patient_id))
    if member is None:
        return False
    await session.delete(member)
    await session.flush()
    return True


async def care_team_of(session: AsyncSession, patient_id: str) -> list[tuple[str, str, str]]:
    """``(user id, username, role)`` of the clinicians following the patient."""
    rows = await session.execute(
        select(User.id, User.username, User.role)
        .join(CareTeamMember, CareTeamMember.user_id == User.id)
        .where(CareTeamMember.patient_id == patient_id)
        .order_by(User.username)
    )
    return [(i, u, r) for i, u, r in rows.all()]


async def followed_by(session: AsyncSession, user_id: str) -> list[str]:
    """Ids of the patients a clinician follows (their care-team cohort), sorted."""
    rows = await session.scalars(
        select(CareTeamMember.patient_id)
        .where(CareTeamMember.user_id == user_id)
        .order_by(CareTeamMember.patient_id)
    )
    return list(rows.all())


async def telemedpoints(session: AsyncSession) -> list[Telemedpoint]:
    """Every telemedpoint, by name."""
    return list((await session.scalars(select(Telemedpoint).order_by(Telemedpoint.name))).all())


CLINICIAN_ROLES = ("nurse", "cardiologist")


async def clinician_named(session: AsyncSession, username: str) -> User:
    """The nurse or cardiologist ``username``; NotFound, or InvalidInput for another role."""
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    if user.role not in CLINICIAN_ROLES:
        raise InvalidInput(f"{username!r} is a {user.role}: only clinicians are on care teams")
    return user


async def add_clinician_to_care_team(session: AsyncSession, username: str, patient_id: str) -> User:
    """Let the clinician ``username`` follow the patient (idempotent); returns the clinician."""
    user = await clinician_named(session, username)
    if await session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id!r}")
    await add_to_care_team(session, user.id, patient_id)
    return user
