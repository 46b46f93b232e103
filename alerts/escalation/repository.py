"""All SQL of the durable timers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.escalation.models import AlertTimer
from patient_hub.ingest.repository import dialect_insert


async def schedule(
    session: AsyncSession, key: str, kind: str, due_at: datetime, payload: dict[str, Any]
) -> None:
    """Add a timer; a timer of the same ``key`` already scheduled is kept as it is."""
    stmt = dialect_insert(session, AlertTimer).values(
        key=key, kind=kind, due_at=due_at, payload=payload
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[AlertTimer]:
    """Due timers, locked for this transaction. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets
    several processes claim concurrently without ever taking the same timer; SQLite has one
    writer at a time, which serialises the claim by itself."""
    stmt = (
        select(AlertTimer)
        .where(AlertTimer.done_at.is_(None), AlertTimer.due_at <= now)
        .order_by(AlertTimer.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).all()


async def any_due(session: AsyncSession, now: datetime) -> bool:
    """Whether a timer is due (a read: the writer is taken only when one is)."""
    stmt = select(AlertTimer.id).where(AlertTimer.done_at.is_(None), AlertTimer.due_at <= now)
    return (await session.scalar(stmt.limit(1))) is not None


async def cancel_for_alert(session: AsyncSession, alert_id: int, now: datetime, by: str) -> None:
    """Mark every pending timer of an alert done (the alert was accepted, resolved, merged)."""
    stmt = (
        update(AlertTimer)
        .where(AlertTimer.done_at.is_(None), AlertTimer.key.like(f"%|{alert_id}|%"))
        .values(done_at=now, done_by=by)
    )
    await session.execute(stmt)


async def pending(session: AsyncSession) -> Sequence[AlertTimer]:
    stmt = select(AlertTimer).where(AlertTimer.done_at.is_(None)).order_by(AlertTimer.due_at)
    return (await session.scalars(stmt)).all()
