"""Alert episodes and reminders of a patient: the patient's own in the portal's API, the
clinician's in the period report; nobody else's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from alerts.engine.conditions import Trigger
from alerts.episodes import service as episodes
from alerts.notify.models import ContactPoint
from alerts.notify.repository import REMINDER, REMINDER_SUBJECTS
from alerts.notify.service import queue_for_patient
from alerts.policy.rules import Category, Priority
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from telemed_core.explanations import why
from tests.clinician_api.reports.test_report import pdf_text
from tests.conftest import token_for


async def history(database_url: str) -> None:
    """p1: a crisis a nurse accepted, a reminder to two channels; p2: a reminder of its own."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            trigger = Trigger(
                patient_id="p1", rule="hypertensive_crisis", title="Hypertensive crisis",
                action="raise", at=now - timedelta(hours=3), priority=Priority.HIGH,
                category=Category.CLINICAL, evidence_key="test|1", source_kind="finding",
                detail=why("crisis_confirmed", n=2, sbp_mmhg=192, dbp_mmhg=121.5),
            )  # fmt: skip
            [ep] = await episodes.apply(s, trigger, now - timedelta(hours=3))
            ep.accepted_by, ep.accepted_at, ep.state = (
                "nurse-a",
                now - timedelta(hours=2),
                "accepted",
            )
            s.add(ContactPoint(patient_id="p1", channel="sms", address="+420601234567"))
            await s.flush()
            await queue_for_patient(s, "p1", REMINDER_SUBJECTS["cs"], "Změřte si tlak.",
                                    now - timedelta(hours=1), kind=REMINDER)  # fmt: skip
            await queue_for_patient(
                s, "p2", REMINDER_SUBJECTS["cs"], "Zvažte se.", now, kind=REMINDER
            )
            await queue_for_patient(s, "p1", "Alert", "not a reminder", now)
    finally:
        await engine.dispose()


async def test_a_patient_sees_their_own_episodes_and_reminders_only(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    await history(hub.settings.database_url)
    token = await token_for(hub, "pat1")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        [ep] = (await c.get("/api/patients/p1/episodes")).json()
        assert (ep["title"], ep["priority"], ep["accepted_by"]) == (
            "Hypertensive crisis", "high", "nurse-a",
        )  # fmt: skip
        [reminder] = (await c.get("/api/patients/p1/reminders")).json()
        assert reminder["body"] == "Změřte si tlak."
        # the hub's notifier may have sent them already
        assert [d["channel"] for d in reminder["deliveries"]] == ["websocket", "sms"]
        assert {d["status"] for d in reminder["deliveries"]} <= {"queued", "sent", "failed"}
        for path in ("episodes", "reminders"):
            assert (await c.get(f"/api/patients/p2/{path}")).status_code == 404
        assert (await c.get("/api/patients/p1/reminders?days=0")).status_code == 422
        assert (await c.get("/api/patients/p1/episodes?days=abc")).status_code == 422


async def test_the_report_lists_alert_episodes_and_reminders(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    await history(hub.settings.database_url)
    token = await token_for(hub, "nurse-a")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        await c.put("/api/me/language", json={"language": "en"})  # a nurse's default is Czech
        text = pdf_text((await c.get("/api/patients/p1/report.pdf")).content)
        assert "Alerts and their outcomes" in text and "Hypertensive crisis" in text
        assert "nurse-a" in text
        assert "Reminders sent to the patient: 1" in text
        assert "Measurement reminder" in text and "Připomínka" not in text  # sent in Czech
        assert re.search(r"websocket \((queued|sent)\), sms \((queued|sent|failed)\)", text)
        other = pdf_text((await c.get("/api/patients/p2/report.pdf")).content)
        assert "No alerts in this period." in other and "Reminders sent to the patient: 1" in other
