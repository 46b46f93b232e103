"""All SQL of notifications and contact points."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.notify.models import ContactPoint, NotificationRow


async def contacts_of(session: AsyncSession, patient_id: str) -> Sequence[ContactPoint]:
    stmt = select(ContactPoint).where(ContactPoint.patient_id == patient_id)
    return (await session.scalars(stmt.order_by(ContactPoint.id))).all()


def add(session: AsyncSession, row: NotificationRow | ContactPoint) -> None:
    session.add(row)


async def claim_queued(session: AsyncSession, limit: int) -> Sequence[NotificationRow]:
    """Queued notifications, locked for this transaction (SKIP LOCKED on PostgreSQL)."""
    stmt = (
        select(NotificationRow)
        .where(NotificationRow.status == "queued")
        .order_by(NotificationRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).all()


async def any_queued(session: AsyncSession) -> bool:
    """Whether a notification waits to be sent (a read: no writer needed to ask)."""
    stmt = select(NotificationRow.id).where(NotificationRow.status == "queued").limit(1)
    return (await session.scalar(stmt)) is not None


async def of_patient(session: AsyncSession, patient_id: str) -> Sequence[NotificationRow]:
    stmt = select(NotificationRow).where(NotificationRow.patient_id == patient_id)
    return (await session.scalars(stmt.order_by(NotificationRow.id))).all()


#: The kind of a missed-measurement reminder (``alerts.adherence.service``), and its subject
#: in each language (Czech unless the patient chose English).
REMINDER = "reminder"
REMINDER_SUBJECT = "Measurement reminder"
REMINDER_SUBJECTS = {"en": REMINDER_SUBJECT, "cs": "Připomínka měření"}


async def reminders_of(
    session: AsyncSession, patient_id: str, since: datetime, until: datetime, limit: int = 500
) -> Sequence[NotificationRow]:
    """The reminder messages sent (or tried) to a patient in [since, until), every channel,
    oldest first."""
    stmt = select(NotificationRow).where(
        NotificationRow.patient_id == patient_id,
        NotificationRow.kind == REMINDER,
        NotificationRow.created_at >= since,
        NotificationRow.created_at < until,
    )
    return (await session.scalars(stmt.order_by(NotificationRow.id).limit(limit))).all()
