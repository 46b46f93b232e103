"""A hypertension patient who skips measurements is reminded first; the nurse is alerted once
after the configured number of misses (simulated clock, real local SMTP server)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts.adherence.service import ensure_default_schedules, next_due
from alerts.engine.consumer import AlertWorker
from alerts.notify.models import ContactPoint
from alerts.notify.port import SmtpNotifier, SmtpSettings
from patient_hub.db import unit_of_work
from patient_hub.ingest.models import ReadingRow
from patient_hub.patients import service as patients
from tests.alerts.conftest import AlertRig
from tests.alerts.helpers import episodes

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 13:00 in Prague (CET, UTC+1)


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def hypertension_patient(rig: AlertRig) -> None:
    async with unit_of_work(rig.hub.sessions) as s:
        await patients.upsert_patient(s, "h1", "Hana", NOON, programme="hypertension")
        s.add(ContactPoint(patient_id="h1", channel="email", address="hana@example.org"))
    async with unit_of_work(rig.hub.sessions) as s:
        assert await ensure_default_schedules(s, NOON) == 2  # 07:00 and 19:00 Europe/Prague


def worker(rig: AlertRig, port: int) -> AlertWorker:
    notifier = SmtpNotifier(SmtpSettings("127.0.0.1", port, "centre@example.org"))
    return AlertWorker(rig.hub, "w", clock=rig.clock, notifiers={"email": notifier})


def test_schedules_follow_the_patients_time_zone_across_daylight_saving() -> None:
    winter = next_due("19:00", "Europe/Prague", NOON)
    summer = next_due("19:00", "Europe/Prague", datetime(2026, 7, 1, 12, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (18, 17)


async def test_a_skipped_evening_measurement_sends_a_reminder_email_after_the_grace_window(
    rig: AlertRig, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    rig.clock.now = NOON
    await hypertension_patient(rig)
    w = worker(rig, port)
    rig.clock.now = datetime(2026, 12, 1, 18, 59, tzinfo=UTC)  # 19:59 Prague: still in grace
    await w.fire_timers()
    assert inbox.mails == []
    rig.clock.now = datetime(2026, 12, 1, 19, 0, 1, tzinfo=UTC)
    await w.fire_timers()
    [mail] = inbox.mails
    assert mail.rcpt_tos == ["hana@example.org"]
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert message["Subject"] == "Připomínka měření"  # Czech: no choice made
    body = message.get_content()  # type: ignore[attr-defined]
    assert "Měření krevního tlaku plánované na 19:00 nedorazilo" in body  # Czech: no choice made
    assert await episodes(rig.hub) == []  # one miss: the patient is reminded, nobody paged


async def test_after_two_misses_the_nurse_gets_one_adherence_alert(
    rig: AlertRig, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    rig.clock.now = NOON
    await hypertension_patient(rig)
    w = worker(rig, port)
    for hours in (7, 19, 31):  # misses at 19:00, 07:00 and 19:00 (+ grace)
        rig.clock.now = NOON + timedelta(hours=hours, minutes=1)
        await w.fire_timers()
    assert len(inbox.mails) == 3
    [alert] = await episodes(rig.hub)
    assert (alert.rule, alert.priority, alert.category) == (
        "missed_measurement",
        "low",
        "adherence",
    )
    assert alert.chain == "operations"  # nurses and operators, not cardiologists
    assert alert.explanation["suppressed_duplicates"] == 1


async def test_a_measurement_inside_the_grace_window_counts_as_taken(
    rig: AlertRig, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    rig.clock.now = NOON
    await hypertension_patient(rig)
    taken = datetime(2026, 12, 1, 18, 40, tzinfo=UTC)  # 19:40 Prague
    async with unit_of_work(rig.hub.sessions) as s:
        s.add(ReadingRow(bridge_id="bridge-h1", seq=1, patient_id="h1", device_id="cuff-1",
                         kind="bp_systolic", value=135, unit="mm[Hg]", measured_at=taken,
                         stored_at=taken))  # fmt: skip
    rig.clock.now = datetime(2026, 12, 1, 19, 1, tzinfo=UTC)
    await worker(rig, port).fire_timers()
    assert inbox.mails == []


def test_the_reminder_is_in_the_patients_language() -> None:
    from alerts.adherence.service import reminder_text

    assert reminder_text("body_weight", "07:00", "en").startswith(
        "Your weight measurement due at 07:00 has not arrived"
    )
    assert reminder_text("body_weight", "07:00", "cs").startswith(
        "Měření hmotnosti plánované na 07:00 nedorazilo"
    )
