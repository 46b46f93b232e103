"""Notifications through a durable outbox: queued in the transaction that decided them, sent
after commit by ``dispatch``, each marked sent or failed (never lost silently)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.notify import repository as repo
from alerts.notify.models import NotificationRow
from alerts.notify.port import Message, Notifier, NotifyError


async def queue_for_patient(
    session: AsyncSession,
    patient_id: str,
    subject: str,
    body: str,
    now: datetime,
    alert_id: int | None = None,
    kind: str | None = None,
) -> int:
    """Queue a message to the patient's own screens and each of their contact points."""
    targets = [("websocket", patient_id)]
    targets += [(c.channel, c.address) for c in await repo.contacts_of(session, patient_id)]
    for channel, recipient in targets:
        repo.add(
            session,
            NotificationRow(
                alert_id=alert_id, patient_id=patient_id, channel=channel, recipient=recipient,
                subject=subject, body=body, created_at=now, status="queued", kind=kind,
            ),
        )  # fmt: skip
    return len(targets)


async def dispatch(
    sessions: async_sessionmaker[AsyncSession],
    notifiers: dict[str, Notifier],
    limit: int = 50,
) -> int:
    """Send what is queued; return how many were handled. A channel with no adapter or an
    adapter error marks the row failed with the reason."""
    async with sessions() as session, session.begin():
        rows = await repo.claim_queued(session, limit)
        for row in rows:
            notifier = notifiers.get(row.channel)
            if notifier is None:
                row.status, row.error = "failed", f"no {row.channel} channel configured"
                continue
            message = Message(row.patient_id, row.channel, row.recipient, row.subject, row.body)
            try:
                await notifier.send(message)
                row.status = "sent"
            except NotifyError as exc:
                row.status, row.error = "failed", str(exc)
        return len(rows)
