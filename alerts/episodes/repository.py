"""All SQL of alert episodes and their events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.episodes.models import AlertEpisode, AlertEvent
from patient_hub.ingest.repository import dialect_insert

OPEN_STATES = ("pending", "active", "delivered", "accepted")


def open_key(patient_id: str, rule: str) -> str:
    return f"{patient_id}|{rule}"


async def get(session: AsyncSession, alert_id: int, *, lock: bool = False) -> AlertEpisode | None:
    stmt = select(AlertEpisode).where(AlertEpisode.id == alert_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def open_of(
    session: AsyncSession, patient_ids: set[str], rules: Sequence[str]
) -> Sequence[AlertEpisode]:
    """The open episodes of these rules among these patients (one query, no lock: a caller
    that changes one takes it again with ``get_open``)."""
    keys = [open_key(p, r) for p in sorted(patient_ids) for r in rules]
    if not keys:
        return []
    return (
        await session.scalars(select(AlertEpisode).where(AlertEpisode.open_key.in_(keys)))
    ).all()


async def get_open(session: AsyncSession, patient_id: str, rule: str) -> AlertEpisode | None:
    stmt = (
        select(AlertEpisode)
        .where(AlertEpisode.open_key == open_key(patient_id, rule))
        .with_for_update()
    )
    return (await session.scalars(stmt)).first()


async def insert_open(session: AsyncSession, values: dict[str, Any]) -> AlertEpisode | None:
    """Insert an open episode; None when another writer opened the same (patient, rule) first."""
    stmt = (
        dialect_insert(session, AlertEpisode)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["open_key"])
        .returning(AlertEpisode.id)
    )
    new_id = (await session.execute(stmt)).scalar()
    return None if new_id is None else await session.get(AlertEpisode, new_id)


async def open_of_patient(
    session: AsyncSession, patient_id: str, since: datetime
) -> Sequence[AlertEpisode]:
    stmt = select(AlertEpisode).where(
        AlertEpisode.patient_id == patient_id,
        AlertEpisode.open_key.is_not(None),
        AlertEpisode.opened_at >= since,
    )
    return (await session.scalars(stmt.with_for_update())).all()


async def add_event(
    session: AsyncSession,
    alert_id: int,
    at: datetime,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    once_key: str | None = None,
) -> bool:
    """Append an event; with ``once_key``, only the first of its kind (False if it existed)."""
    stmt = dialect_insert(session, AlertEvent).values(
        alert_id=alert_id, at=at, actor=actor, action=action, detail=detail or {}, once_key=once_key
    )
    if once_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["once_key"])
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 1))


async def events_of(session: AsyncSession, alert_id: int) -> Sequence[AlertEvent]:
    stmt = select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    return (await session.scalars(stmt)).all()


@dataclass(frozen=True, slots=True)
class AlertFilter:
    patient_ids: set[str] | None  # None: every patient
    patient: str | None = None
    state: str | None = None
    priority: str | None = None
    kind: str | None = None
    category: str | None = None
    open_only: bool = False
    limit: int = 200


async def search(session: AsyncSession, f: AlertFilter) -> Sequence[AlertEpisode]:
    stmt = select(AlertEpisode)
    if f.patient_ids is not None:
        stmt = stmt.where(AlertEpisode.patient_id.in_(f.patient_ids))
    if f.patient:
        stmt = stmt.where(AlertEpisode.patient_id == f.patient)
    if f.state:
        stmt = stmt.where(AlertEpisode.state == f.state)
    if f.priority:
        stmt = stmt.where(AlertEpisode.priority == f.priority)
    if f.kind:
        stmt = stmt.where(AlertEpisode.kind == f.kind)
    if f.category:
        stmt = stmt.where(AlertEpisode.category == f.category)
    if f.open_only:
        stmt = stmt.where(AlertEpisode.open_key.is_not(None), AlertEpisode.state != "pending")
    stmt = stmt.order_by(AlertEpisode.opened_at.desc(), AlertEpisode.id.desc()).limit(f.limit)
    return (await session.scalars(stmt)).all()


async def active_pauses(
    session: AsyncSession, patient_ids: set[str] | None, now: datetime
) -> Sequence[AlertEpisode]:
    stmt = select(AlertEpisode).where(
        AlertEpisode.paused_until > now, AlertEpisode.open_key.is_not(None)
    )
    if patient_ids is not None:
        stmt = stmt.where(AlertEpisode.patient_id.in_(patient_ids))
    return (await session.scalars(stmt.order_by(AlertEpisode.paused_until))).all()


async def in_period(
    session: AsyncSession, since: datetime, until: datetime
) -> Sequence[AlertEpisode]:
    stmt = select(AlertEpisode).where(
        AlertEpisode.opened_at >= since, AlertEpisode.opened_at < until
    )
    return (await session.scalars(stmt)).all()


async def count_open(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(AlertEpisode).where(AlertEpisode.open_key.is_not(None))
    return int((await session.scalar(stmt)) or 0)


async def latest_closed(session: AsyncSession, patient_id: str, rule: str) -> AlertEpisode | None:
    """The most recent closed episode of (patient, rule)."""
    stmt = (
        select(AlertEpisode)
        .where(
            AlertEpisode.patient_id == patient_id,
            AlertEpisode.rule == rule,
            AlertEpisode.open_key.is_(None),
        )
        .order_by(AlertEpisode.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def of_patient_between(
    session: AsyncSession, patient_id: str, since: datetime, until: datetime, limit: int = 500
) -> Sequence[AlertEpisode]:
    """The patient's episodes opened in [since, until), oldest first (merged ones left out:
    they live on in the episode they were merged into)."""
    stmt = select(AlertEpisode).where(
        AlertEpisode.patient_id == patient_id,
        AlertEpisode.opened_at >= since,
        AlertEpisode.opened_at < until,
        AlertEpisode.state != "merged",
    )
    return (await session.scalars(stmt.order_by(AlertEpisode.opened_at).limit(limit))).all()
