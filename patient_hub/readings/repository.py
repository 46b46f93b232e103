"""Queries over stored readings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.models import ReadingRow
from patient_hub.patients.models import Patient


async def readings_of_patient(
    session: AsyncSession,
    patient_id: str,
    *,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> Sequence[ReadingRow]:
    """A patient's readings, newest first."""
    stmt = select(ReadingRow).where(ReadingRow.patient_id == patient_id)
    if kind is not None:
        stmt = stmt.where(ReadingRow.kind == kind)
    if since is not None:
        stmt = stmt.where(ReadingRow.measured_at >= since)
    if until is not None:
        stmt = stmt.where(ReadingRow.measured_at < until)
    stmt = stmt.order_by(ReadingRow.measured_at.desc(), ReadingRow.id.desc()).limit(limit)
    return (await session.scalars(stmt)).all()


async def latest_per_kind(session: AsyncSession, patient_ids: Sequence[str]) -> list[ReadingRow]:
    """The newest valid reading of each kind for each patient (for the monitor's first paint)."""
    if not patient_ids:
        return []
    newest = (
        select(
            ReadingRow.patient_id,
            ReadingRow.kind,
            func.max(ReadingRow.measured_at).label("at"),
        )
        .where(ReadingRow.patient_id.in_(patient_ids))
        .group_by(ReadingRow.patient_id, ReadingRow.kind)
        .subquery()
    )
    stmt = select(ReadingRow).join(
        newest,
        (ReadingRow.patient_id == newest.c.patient_id)
        & (ReadingRow.kind == newest.c.kind)
        & (ReadingRow.measured_at == newest.c.at),
    )
    rows = (await session.scalars(stmt)).all()
    unique: dict[tuple[str, str], ReadingRow] = {}
    for row in rows:
        unique[(row.patient_id, row.kind)] = row
    return list(unique.values())


async def count_readings(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(ReadingRow.id))) or 0)


async def all_patient_ids(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Patient.id)))


async def recent_of_kinds(
    session: AsyncSession, patient_ids: Sequence[str], since: dict[str, datetime]
) -> Sequence[ReadingRow]:
    """The patients' readings of each kind in ``since`` measured at or after its time."""
    if not since or not patient_ids:
        return []
    recent = or_(
        *((ReadingRow.kind == kind) & (ReadingRow.measured_at >= at) for kind, at in since.items())
    )
    stmt = select(ReadingRow).where(ReadingRow.patient_id.in_(patient_ids), recent)
    return (await session.scalars(stmt)).all()
