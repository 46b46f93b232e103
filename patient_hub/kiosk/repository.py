"""All SQL of the kiosk domain."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.models import Bridge, ReadingRow
from patient_hub.kiosk.models import KioskEnrolment, KioskRegistration, TeleconsultRequest
from patient_hub.patients.models import Patient


async def enrolment(session: AsyncSession, token_hash: str) -> KioskEnrolment | None:
    return await session.get(KioskEnrolment, token_hash, with_for_update=True)


async def links(
    session: AsyncSession, bridge_id: str, local_ids: Collection[str]
) -> dict[str, str]:
    """The hub patient of each kiosk-local id this bridge registered."""
    if not local_ids:
        return {}
    rows = await session.execute(
        select(KioskRegistration.local_patient_id, KioskRegistration.patient_id).where(
            KioskRegistration.bridge_id == bridge_id,
            KioskRegistration.local_patient_id.in_(list(local_ids)),
        )
    )
    return {local: hub for local, hub in rows}


async def link_count(session: AsyncSession, bridge_id: str) -> int:
    """How many kiosk-local ids this bridge has registered (rows are only ever added)."""
    count = await session.scalar(
        select(func.count()).where(KioskRegistration.bridge_id == bridge_id)
    )
    return int(count or 0)


async def all_links(session: AsyncSession, bridge_id: str) -> dict[str, str]:
    """The hub patient of every kiosk-local id this bridge registered."""
    rows = await session.execute(
        select(KioskRegistration.local_patient_id, KioskRegistration.patient_id).where(
            KioskRegistration.bridge_id == bridge_id
        )
    )
    return {local: hub for local, hub in rows}


async def patient_by_national_id(session: AsyncSession, national_id: str) -> Patient | None:
    return await session.scalar(
        select(Patient).where(Patient.national_id == national_id).order_by(Patient.created_at)
    )


async def patient_by_name_and_birth(
    session: AsyncSession, family_name: str, given_name: str, birth_date: date
) -> Patient | None:
    return await session.scalar(
        select(Patient)
        .where(
            func.lower(Patient.family_name) == family_name.lower(),
            func.lower(Patient.given_name) == given_name.lower(),
            Patient.birth_date == birth_date,
        )
        .order_by(Patient.created_at)
    )


async def consult(session: AsyncSession, request_id: str) -> TeleconsultRequest | None:
    return await session.get(TeleconsultRequest, request_id)


async def consults(
    session: AsyncSession, patient_ids: Collection[str] | None, status: str | None
) -> list[TeleconsultRequest]:
    """Requests, newest first; ``patient_ids`` None means all patients."""
    query = select(TeleconsultRequest).order_by(TeleconsultRequest.requested_at.desc())
    if patient_ids is not None:
        query = query.where(TeleconsultRequest.patient_id.in_(list(patient_ids)))
    if status is not None:
        query = query.where(TeleconsultRequest.status == status)
    return list(await session.scalars(query.limit(500)))


async def visit_readings(session: AsyncSession, task: TeleconsultRequest) -> list[ReadingRow]:
    """The readings the kiosk sent for the task's patient during the visit."""
    query = select(ReadingRow).where(
        ReadingRow.bridge_id == task.bridge_id,
        ReadingRow.patient_id == task.patient_id,
        ReadingRow.measured_at >= task.visit_started_at,
    )
    if task.visit_ended_at is not None:
        query = query.where(ReadingRow.measured_at <= task.visit_ended_at)
    return list(await session.scalars(query.order_by(ReadingRow.measured_at, ReadingRow.seq)))


async def kiosks(session: AsyncSession) -> list[Bridge]:
    """Bridges that serve a telemedpoint (kiosks), with when each was last heard from."""
    query = select(Bridge).where(Bridge.telemedpoint_id.is_not(None)).order_by(Bridge.id)
    return list(await session.scalars(query))


async def touch_bridge(session: AsyncSession, bridge_id: str, now: datetime) -> None:
    bridge = await session.get(Bridge, bridge_id)
    if bridge is not None:
        bridge.last_seen_at = now
