"""All SQL of alert policy: the patient's programme and the clinicians' overrides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.policy.models import ThresholdOverride
from patient_hub.patients.models import Patient


async def programme_of(session: AsyncSession, patient_id: str) -> str | None:
    return await session.scalar(select(Patient.programme).where(Patient.id == patient_id))


async def live_overrides(
    session: AsyncSession, patient_id: str, now: datetime
) -> Sequence[ThresholdOverride]:
    """Unexpired overrides of the patient, oldest first (a newer one wins)."""
    stmt = (
        select(ThresholdOverride)
        .where(
            ThresholdOverride.patient_id == patient_id,
            or_(ThresholdOverride.expires_at.is_(None), ThresholdOverride.expires_at > now),
        )
        .order_by(ThresholdOverride.set_at, ThresholdOverride.id)
    )
    return (await session.scalars(stmt)).all()


async def programmes_of(session: AsyncSession, patient_ids: Sequence[str]) -> dict[str, str]:
    """Patient → programme, for many patients in one query."""
    if not patient_ids:
        return {}
    stmt = select(Patient.id, Patient.programme).where(Patient.id.in_(patient_ids))
    return {pid: prog for pid, prog in (await session.execute(stmt)).all() if prog}


async def live_overrides_of(
    session: AsyncSession, patient_ids: Sequence[str], now: datetime
) -> Sequence[ThresholdOverride]:
    """Unexpired overrides of many patients, oldest first."""
    if not patient_ids:
        return []
    stmt = (
        select(ThresholdOverride)
        .where(
            ThresholdOverride.patient_id.in_(patient_ids),
            or_(ThresholdOverride.expires_at.is_(None), ThresholdOverride.expires_at > now),
        )
        .order_by(ThresholdOverride.set_at, ThresholdOverride.id)
    )
    return (await session.scalars(stmt)).all()


async def history(session: AsyncSession, patient_id: str) -> Sequence[ThresholdOverride]:
    stmt = (
        select(ThresholdOverride)
        .where(ThresholdOverride.patient_id == patient_id)
        .order_by(ThresholdOverride.set_at.desc(), ThresholdOverride.id.desc())
    )
    return (await session.scalars(stmt)).all()


def add(session: AsyncSession, row: ThresholdOverride) -> None:
    session.add(row)
