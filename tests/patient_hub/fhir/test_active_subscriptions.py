"""Which subscriptions a batch's patients have: matched in Python when a topic has few, by an IN
list when it has many; the same answer either way (expired and other topics left out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinician_api.migrate import upgrade_async
from patient_hub.accounts.service import create_user
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.fhir.subscriptions import events
from patient_hub.fhir.subscriptions.models import SubscriptionRow
from patient_hub.patients import service as patients

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("whole", [1000, 1])  # few: read whole; many: IN list
async def test_the_active_subscriptions_of_the_named_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: int
) -> None:
    monkeypatch.setattr(events, "_WHOLE", whole)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            user = await create_user(s, "nurse", "a-long-password-1", "nurse")
            for pid in ("p1", "p2", "p3"):
                await patients.upsert_patient(s, pid, pid, NOW)
            rows = [  # (id, topic, patient, status, end)
                ("a", "t-readings", "p1", "active", None),
                ("b", "t-readings", "p2", "active", NOW - timedelta(minutes=1)),  # expired
                ("c", "t-findings", "p1", "active", None),  # another topic
                ("d", "t-readings", "p3", "off", None),  # not active
                ("e", "t-readings", "p3", "active", NOW + timedelta(hours=1)),
            ]
            for sid, topic, pid, status, end in rows:
                s.add(SubscriptionRow(
                    id=sid, owner_id=user.id, topic=topic, patient_id=pid, filters=[],
                    content="id-only", fhir_version="4.0.1", heartbeat_s=None, max_count=10,
                    status=status, end=end, events_count=0, resource={}, created_at=NOW,
                ))  # fmt: skip
        async with make_sessionmaker(engine)() as s:
            got = await events.active_subscriptions(s, "t-readings", ["p1", "p2", "p3"], NOW)
            only = await events.active_subscriptions(s, "t-readings", ["p2", "p9"], NOW)
    finally:
        await engine.dispose()
    assert sorted(x.id for x in got) == ["a", "e"]
    assert only == []
