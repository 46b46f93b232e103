"""Notifications are sent outside any transaction and outside the hub's one SQLite writer, and a
claim whose sender died is sent again (alerts/notify/service.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from alerts.engine.consumer import AlertWorker
from alerts.notify import service as notify
from alerts.notify.models import NotificationRow
from alerts.notify.port import Message, NotifyError
from patient_hub.db import unit_of_work
from patient_hub.patients import service as patients
from tests.alerts.conftest import AlertRig
from tests.alerts.helpers import T0


class Probe:
    """A channel that records whether the hub's writer was free while it sent."""

    channel = "email"

    def __init__(self, rig: AlertRig, fail: bool = False) -> None:
        self.rig, self.fail = rig, fail
        self.sent: list[Message] = []
        self.writer_free: list[bool] = []

    async def send(self, message: Message) -> None:
        try:
            async with asyncio.timeout(1.0):
                async with self.rig.hub.write_lock:
                    self.writer_free.append(True)
        except TimeoutError:
            self.writer_free.append(False)
        if self.fail:
            raise NotifyError("mailbox full")
        self.sent.append(message)


async def queue(rig: AlertRig, *rows: tuple[str, str]) -> None:
    async with unit_of_work(rig.hub.sessions) as s:
        await patients.upsert_patient(s, "p1", "Pavel", T0)
    async with unit_of_work(rig.hub.sessions) as s:
        for channel, recipient in rows:
            s.add(NotificationRow(patient_id="p1", channel=channel, recipient=recipient,
                                  subject="Reminder", body="Please measure", created_at=T0,
                                  status="queued"))  # fmt: skip


async def stored(rig: AlertRig) -> list[tuple[str, str | None]]:
    async with rig.hub.sessions() as s:
        rows = (await s.scalars(select(NotificationRow).order_by(NotificationRow.id))).all()
    return [(r.status, r.error) for r in rows]


async def test_a_message_is_sent_with_the_writer_free_and_its_outcome_recorded(
    rig: AlertRig,
) -> None:
    await queue(rig, ("email", "a@example.org"), ("sms", "+420600000000"))
    probe = Probe(rig)
    handled = await notify.dispatch(
        rig.hub.sessions, {"email": probe}, T0, write_lock=rig.hub.write_lock
    )
    assert handled == 2
    assert probe.writer_free == [True]  # ingest and pages were not held up by the mail server
    assert [m.recipient for m in probe.sent] == ["a@example.org"]
    assert await stored(rig) == [("sent", None), ("failed", "no sms channel configured")]
    assert await notify.dispatch(rig.hub.sessions, {"email": probe}, T0) == 0  # nothing twice


async def test_a_failed_send_is_recorded_with_its_reason(rig: AlertRig) -> None:
    await queue(rig, ("email", "a@example.org"))
    await notify.dispatch(rig.hub.sessions, {"email": Probe(rig, fail=True)}, T0)
    assert await stored(rig) == [("failed", "mailbox full")]


async def test_a_claim_whose_sender_died_is_sent_again_after_the_stale_limit(
    rig: AlertRig,
) -> None:
    await queue(rig, ("email", "a@example.org"))
    async with unit_of_work(rig.hub.sessions) as s:  # a sender claimed it, then was killed
        row = (await s.scalars(select(NotificationRow))).one()
        row.status, row.claimed_at = "sending", T0
    probe = Probe(rig)
    soon = T0 + notify.STALE_CLAIM - timedelta(seconds=1)
    assert await notify.dispatch(rig.hub.sessions, {"email": probe}, soon) == 0  # still its
    later = T0 + notify.STALE_CLAIM + timedelta(seconds=1)
    assert await notify.dispatch(rig.hub.sessions, {"email": probe}, later) == 1
    assert len(probe.sent) == 1 and await stored(rig) == [("sent", None)]


async def test_the_timer_loop_sends_outside_the_writer(rig: AlertRig) -> None:
    """It took the writer around the whole send until this was fixed (a slow SMTP server then
    stalled every ingest batch of the hub)."""
    await queue(rig, ("email", "a@example.org"))
    probe = Probe(rig)
    rig.clock.now = T0
    worker = AlertWorker(rig.hub, "w", clock=rig.clock, notifiers={"email": probe})
    await worker.fire_timers()
    assert probe.writer_free == [True]
    assert await stored(rig) == [("sent", None)]
