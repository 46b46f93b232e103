"""Notifications through a durable outbox: queued in the transaction that decided them, sent
after commit by ``dispatch``, each marked sent or failed (never lost silently)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.notify import repository as repo
from alerts.notify.models import NotificationRow
from alerts.notify.port import Message, Notifier, NotifyError
from patient_hub.db import unit_of_work

#: A claim this old that was never recorded is taken again (its sender died mid-send).
STALE_CLAIM = timedelta(minutes=5)


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
    now: datetime,
    limit: int = 50,
    *,
    write_lock: contextlib.AbstractAsyncContextManager[object] | None = None,
) -> int:
    """Send what is queued; return how many were handled. A channel with no adapter or an
    adapter error marks the row failed with the reason.

    Three steps, so that no message is sent inside a transaction: claim (a short write: the
    rows become ``sending``), send (no transaction and, on SQLite, not holding the hub's one
    writer, which ingest and the pages need: a slow SMTP server used to stall them), record
    (a short write). A sender that dies between claim and record leaves rows ``sending``;
    after ``STALE_CLAIM`` they are claimed again: at least once, so a message may go out twice
    after a crash, and is never lost."""
    lock = write_lock or contextlib.nullcontext()
    async with lock, unit_of_work(sessions) as session:
        rows = await repo.claim_queued(session, limit, now, STALE_CLAIM)
        claimed = [
            (row.id, Message(row.patient_id, row.channel, row.recipient, row.subject, row.body))
            for row in rows
        ]
    outcomes: dict[int, tuple[str, str | None]] = {}
    for row_id, message in claimed:
        notifier = notifiers.get(message.channel)
        if notifier is None:
            outcomes[row_id] = ("failed", f"no {message.channel} channel configured")
            continue
        try:
            await notifier.send(message)
            outcomes[row_id] = ("sent", None)
        except NotifyError as exc:
            outcomes[row_id] = ("failed", str(exc))
    if outcomes:
        async with lock, unit_of_work(sessions) as session:
            await repo.record_outcomes(session, outcomes)
    return len(claimed)
