"""All SQL of notifications and contact points."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.notify.models import ContactPoint, NotificationRow


async def contacts_of(session: AsyncSession, patient_id: str) -> Sequence[ContactPoint]:
    stmt = select(ContactPoint).where(ContactPoint.patient_id == patient_id)
    return (await session.scalars(stmt.order_by(ContactPoint.id))).all()


def add(session: AsyncSession, row: NotificationRow | ContactPoint) -> None:
    session.add(row)


def _waiting(now: datetime, stale_after: timedelta) -> ColumnElement[bool]:
    """Queued, or claimed so long ago that its sender must have died before recording it."""
    stale = (NotificationRow.status == "sending") & (NotificationRow.claimed_at < now - stale_after)
    return (NotificationRow.status == "queued") | stale


async def claim_queued(
    session: AsyncSession, limit: int, now: datetime, stale_after: timedelta
) -> Sequence[NotificationRow]:
    """Claim waiting notifications for one sender: marked ``sending`` at ``now`` in this
    transaction, with the rows locked meanwhile (SKIP LOCKED: another node takes others)."""
    stmt = (
        select(NotificationRow)
        .where(_waiting(now, stale_after))
        .order_by(NotificationRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.scalars(stmt)).all()
    for row in rows:
        row.status, row.claimed_at = "sending", now
    return rows


async def record_outcomes(
    session: AsyncSession, outcomes: dict[int, tuple[str, str | None]]
) -> None:
    """Write each claimed message's outcome: ``sent``, or ``failed`` with the reason."""
    if not outcomes:
        return
    stmt = select(NotificationRow).where(NotificationRow.id.in_(sorted(outcomes)))
    for row in (await session.scalars(stmt)).all():
        row.status, row.error = outcomes[row.id]


async def any_queued(session: AsyncSession, now: datetime, stale_after: timedelta) -> bool:
    """Whether a notification waits to be sent (a read: no writer needed to ask)."""
    stmt = select(NotificationRow.id).where(_waiting(now, stale_after)).limit(1)
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
