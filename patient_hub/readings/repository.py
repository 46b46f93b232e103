"""Queries over stored readings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Float, Integer, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.models import ReadingRow
from patient_hub.patients.models import Patient


async def readings_of_patient(
    session: AsyncSession,
    patient_id: str,
    *,
    kind: str | None = None,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> Sequence[ReadingRow]:
    """A patient's readings, newest first (``kind`` or any of ``kinds``)."""
    stmt = select(ReadingRow).where(ReadingRow.patient_id == patient_id)
    if kind is not None:
        stmt = stmt.where(ReadingRow.kind == kind)
    if kinds is not None:
        stmt = stmt.where(ReadingRow.kind.in_(kinds))
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


def _epoch_s(session: AsyncSession) -> ColumnElement[float]:
    """Seconds since 1970 of ``measured_at`` in SQL, per backend (SQLite stores UTC text)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", ReadingRow.measured_at), Float)
    return cast(func.strftime("%s", ReadingRow.measured_at), Integer)


async def bucketed(
    session: AsyncSession,
    patient_id: str,
    kind: str,
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[tuple[float, int, float, float, float]]:
    """Readings of one kind in ``[since, until)`` folded into ``bucket_s`` buckets in SQL:
    ``(bucket start epoch s, n, mean, min, max)``, oldest first. Derived and invalid values
    count like the rest (a month of 1 Hz data is 2.6 M rows: never fetched one by one)."""
    bucket = func.floor(_epoch_s(session) / bucket_s).label("bucket")
    stmt = (
        select(
            bucket,
            func.count(ReadingRow.value),
            func.avg(ReadingRow.value),
            func.min(ReadingRow.value),
            func.max(ReadingRow.value),
        )
        .where(
            ReadingRow.patient_id == patient_id,
            ReadingRow.kind == kind,
            ReadingRow.measured_at >= since,
            ReadingRow.measured_at < until,
            ReadingRow.value.is_not(None),
        )
        .group_by(bucket)
        .order_by(bucket)
    )
    return [
        (float(b) * bucket_s, int(n), float(mean), float(lo), float(hi))
        for b, n, mean, lo, hi in (await session.execute(stmt)).all()
        if n
    ]


async def devices_of_patient(
    session: AsyncSession, patient_id: str
) -> list[tuple[str, str, datetime, int]]:
    """Each device that sent for the patient: ``(device id, bridge id, last measured, count)``."""
    stmt = (
        select(
            ReadingRow.device_id,
            func.max(ReadingRow.bridge_id),
            func.max(ReadingRow.measured_at),
            func.count(ReadingRow.id),
        )
        .where(ReadingRow.patient_id == patient_id)
        .group_by(ReadingRow.device_id)
        .order_by(ReadingRow.device_id)
    )
    return [(d, b, at, int(n)) for d, b, at, n in (await session.execute(stmt)).all()]


async def sparklines(
    session: AsyncSession,
    patient_ids: Sequence[str],
    kinds: Sequence[str],
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[tuple[str, str, float, float]]:
    """Means per ``bucket_s`` of several patients' kinds in one query (the monitor's 24 h
    sparklines): ``(patient id, kind, bucket start epoch s, mean)``, oldest first."""
    if not patient_ids:
        return []
    bucket = func.floor(_epoch_s(session) / bucket_s).label("bucket")
    stmt = (
        select(ReadingRow.patient_id, ReadingRow.kind, bucket, func.avg(ReadingRow.value))
        .where(
            ReadingRow.patient_id.in_(patient_ids),
            ReadingRow.kind.in_(kinds),
            ReadingRow.measured_at >= since,
            ReadingRow.measured_at < until,
            ReadingRow.value.is_not(None),
        )
        .group_by(ReadingRow.patient_id, ReadingRow.kind, bucket)
        .order_by(bucket)
    )
    return [
        (p, k, float(b) * bucket_s, float(mean))
        for p, k, b, mean in (await session.execute(stmt)).all()
        if mean is not None
    ]


async def stats_by_kind(
    session: AsyncSession, patient_id: str, since: datetime, until: datetime
) -> list[tuple[str, int, float, float, float]]:
    """``(kind, n, mean, min, max)`` of each kind's values in ``[since, until)``."""
    stmt = (
        select(
            ReadingRow.kind,
            func.count(ReadingRow.value),
            func.avg(ReadingRow.value),
            func.min(ReadingRow.value),
            func.max(ReadingRow.value),
        )
        .where(
            ReadingRow.patient_id == patient_id,
            ReadingRow.measured_at >= since,
            ReadingRow.measured_at < until,
            ReadingRow.value.is_not(None),
        )
        .group_by(ReadingRow.kind)
        .order_by(ReadingRow.kind)
    )
    return [
        (k, int(n), float(mean), float(lo), float(hi))
        for k, n, mean, lo, hi in (await session.execute(stmt)).all()
        if n
    ]
