"""Kiosk logic: enrolment by one-time token, merging offline registrations without duplicates,
teleconsultation requests as clinician tasks. Services never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.service import BridgeSession, hash_token
from patient_hub.kiosk import repository
from patient_hub.kiosk.models import KioskEnrolment, KioskRegistration, TeleconsultRequest
from patient_hub.patients import service as patients
from patient_hub.patients.models import Patient, Telemedpoint
from telemed_core.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from telemed_core.ids import new_token
from telemed_core.kiosk_items import ConsultRequest, PatientRegistration
from telemed_core.protocol import Batch

ENROLMENT_TTL = timedelta(hours=24)
TASK_STATUSES = ("open", "accepted", "done")


@dataclass(frozen=True)
class EnrolledKiosk:
    bridge_id: str
    token: str
    telemedpoint_id: str
    telemedpoint_name: str


async def create_enrolment(session: AsyncSession, telemedpoint_id: str, now: datetime) -> str:
    """A one-time enrolment token for a kiosk of ``telemedpoint_id`` (valid 24 h)."""
    if await session.get(Telemedpoint, telemedpoint_id) is None:
        raise NotFound(f"no telemedpoint {telemedpoint_id!r}")
    token = new_token()
    session.add(
        KioskEnrolment(
            token_hash=hash_token(token),
            telemedpoint_id=telemedpoint_id,
            created_at=now,
            expires_at=now + ENROLMENT_TTL,
        )
    )
    await session.flush()
    return token


async def enrol_kiosk(
    session: AsyncSession, enrolment_token: str, kiosk_name: str, now: datetime
) -> EnrolledKiosk:
    """Spend an enrolment token: create the kiosk's bridge and return its credentials."""
    row = await repository.enrolment(session, hash_token(enrolment_token))
    if row is None or row.expires_at < now:
        raise NotAuthenticated("unknown or expired enrolment token; ask the admin for a new one")
    if row.used_at is not None:
        raise NotAuthenticated(f"enrolment token already used (kiosk {row.bridge_id})")
    bridge_id = f"kiosk-{row.telemedpoint_id}-{kiosk_name}"[:64]
    token = await patients.enrol_bridge(session, bridge_id, telemedpoint_id=row.telemedpoint_id)
    row.used_at, row.bridge_id = now, bridge_id
    point = await session.get(Telemedpoint, row.telemedpoint_id)
    assert point is not None  # foreign key
    await session.flush()
    return EnrolledKiosk(bridge_id, token, point.id, point.name)


async def accept_kiosk_items(
    session: AsyncSession, bridge: BridgeSession, batch: Batch, now: datetime
) -> Batch:
    """Merge the batch's registrations, store its consult requests, and return the batch with
    the kiosk's own patient ids replaced by the hub's (the kiosk keeps using its ids)."""
    if (batch.patients or batch.consults) and bridge.telemedpoint_id is None:
        raise Forbidden(f"bridge {bridge.bridge_id} is not a kiosk: it cannot register patients")
    for registration in batch.patients:
        await _register(session, bridge, registration, now)
    local_ids = {r.patient_id for r in batch.readings} | {c.patient_id for c in batch.chunks}
    local_ids |= {c.patient_id for c in batch.consults}
    mapping = await repository.links(session, bridge.bridge_id, local_ids)
    bridge.allowed_patients |= set(mapping.values())
    for consult in batch.consults:
        await _store_consult(session, bridge, consult, mapping.get(consult.patient_id), now)
    return _mapped(batch, mapping)


async def map_local_ids(session: AsyncSession, bridge: BridgeSession, batch: Batch) -> Batch:
    """A kiosk batch of readings and chunks only, with the kiosk's own patient ids replaced by
    the hub's: read only (no writer), from the bridge's links cached on its session and re-read
    only when the bridge has registered someone since (one count per batch, not a look-up of
    every id: the hot path of a kiosk with hundreds of patients)."""
    return _mapped(batch, await local_links(session, bridge))


async def local_links(session: AsyncSession, bridge: BridgeSession) -> dict[str, str]:
    """The kiosk's own patient ids → the hub's, only those that differ (see map_local_ids)."""
    count = await repository.link_count(session, bridge.bridge_id)
    if count != bridge.links_count:
        bridge.links = await repository.all_links(session, bridge.bridge_id)
        bridge.links_count = count  # a registration in between: the next count differs
        bridge.allowed_patients |= set(bridge.links.values())
    return {local: hub for local, hub in bridge.links.items() if local != hub}


def _mapped(batch: Batch, mapping: dict[str, str]) -> Batch:
    if not any(local != hub for local, hub in mapping.items()):
        return batch
    named = {r.patient_id for r in batch.readings} | {c.patient_id for c in batch.chunks}
    if named.isdisjoint(mapping):
        return batch
    return batch.model_copy(
        update={
            "readings": [
                r.model_copy(update={"patient_id": mapping.get(r.patient_id, r.patient_id)})
                for r in batch.readings
            ],
            "chunks": [
                c.model_copy(update={"patient_id": mapping.get(c.patient_id, c.patient_id)})
                for c in batch.chunks
            ],
        }
    )


async def _register(
    session: AsyncSession, bridge: BridgeSession, reg: PatientRegistration, now: datetime
) -> None:
    known = await session.get(KioskRegistration, (bridge.bridge_id, reg.patient_id))
    if known is not None:
        return  # a replay: merged before
    patient = await _match(session, reg)
    merged = patient is not None
    if patient is None:
        if await session.get(Patient, reg.patient_id) is not None:
            raise InvalidInput(f"patient id {reg.patient_id} is taken by another patient")
        patient = Patient(
            id=reg.patient_id,
            display_name=f"{reg.given_name} {reg.family_name}",
            programme="telemedpoint",
            created_at=now,
        )
        session.add(patient)
    _fill(patient, reg, bridge.telemedpoint_id)
    await session.flush()  # the patient row first: no relationship orders the inserts
    session.add(
        KioskRegistration(
            bridge_id=bridge.bridge_id,
            local_patient_id=reg.patient_id,
            patient_id=patient.id,
            merged=merged,
            consent_at=reg.consent_at,
            id_checked=reg.id_checked,
            registered_by=reg.registered_by,
            registered_at=reg.registered_at,
            received_at=now,
        )
    )
    await session.flush()


async def _match(session: AsyncSession, reg: PatientRegistration) -> Patient | None:
    if reg.national_id is not None:
        found = await repository.patient_by_national_id(session, reg.national_id)
        if found is not None:
            return found
    found = await repository.patient_by_name_and_birth(
        session, reg.family_name, reg.given_name, reg.birth_date
    )
    if found is not None and reg.national_id and found.national_id not in (None, reg.national_id):
        return None  # same name and birthday, different birth number: another person
    return found


def _fill(patient: Patient, reg: PatientRegistration, telemedpoint_id: str | None) -> None:
    """Complete what the hub does not know yet; never overwrite what it does."""
    for field in ("family_name", "given_name", "birth_date", "national_id", "insurer", "phone"):
        if getattr(patient, field) is None and getattr(reg, field) is not None:
            setattr(patient, field, getattr(reg, field))
    if patient.treating_doctor is None:
        patient.treating_doctor = reg.treating_doctor
    if patient.sex is None and reg.sex != "unknown":
        patient.sex = reg.sex
    if patient.telemedpoint_id is None:
        patient.telemedpoint_id = telemedpoint_id


async def _store_consult(
    session: AsyncSession,
    bridge: BridgeSession,
    req: ConsultRequest,
    patient_id: str | None,
    now: datetime,
) -> None:
    if await repository.consult(session, req.request_id) is not None:
        return  # a replay
    hub_patient = patient_id or req.patient_id
    if hub_patient not in bridge.allowed_patients:
        raise Forbidden(f"bridge {bridge.bridge_id} may not ask about patient {hub_patient}")
    session.add(
        TeleconsultRequest(
            id=req.request_id,
            bridge_id=bridge.bridge_id,
            telemedpoint_id=bridge.telemedpoint_id,
            patient_id=hub_patient,
            addressee=req.addressee,
            reason=req.reason,
            summary=req.summary,
            video_url=req.video_url,
            visit_id=req.visit_id,
            visit_started_at=req.visit_started_at,
            visit_ended_at=req.visit_ended_at,
            requested_by=req.requested_by,
            requested_at=req.requested_at,
            received_at=now,
        )
    )
    await session.flush()


async def update_task(
    session: AsyncSession,
    request_id: str,
    status: str,
    video_url: str | None,
    who: str,
    now: datetime,
) -> TeleconsultRequest:
    """Accept or close a teleconsultation task; a video-call link may be set with it."""
    if status not in TASK_STATUSES:
        raise InvalidInput(f"status must be one of {list(TASK_STATUSES)}")
    task = await repository.consult(session, request_id)
    if task is None:
        raise NotFound(f"no teleconsultation request {request_id!r}")
    task.status, task.handled_by, task.updated_at = status, who, now
    if video_url is not None:
        task.video_url = video_url
    await session.flush()
    return task
