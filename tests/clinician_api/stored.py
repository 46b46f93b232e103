"""Test data put straight into a hub: a stored finding, and a device in the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.findings.repository import upsert_findings
from telemed_core.explanations import explained
from telemed_signal.findings import Finding, Severity
from tests.conftest import token_for


async def store_weight_gain(database_url: str, patient: str = "p1") -> None:
    """A medium heart-failure weight-gain finding two hours ago, explained by key and values."""
    now = datetime.now(UTC)
    finding = Finding(
        patient, "weight_gain", now - timedelta(hours=2), now - timedelta(hours=2),
        Severity.MEDIUM, "HF weight gain", {"gain_kg": 2.4},
        **explained("weight_gain", weight_kg=82.4, gain_kg=2.4, reference_kg=80.0,
                    reference_date=(now - timedelta(days=3)).date().isoformat()),
    )  # fmt: skip
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await upsert_findings(s, [finding], now)
    finally:
        await engine.dispose()


async def register_device(hub: Any, **device: Any) -> None:
    """Enter a device in the registry as the admin does (``patient_id``, ``device_id``, ...)."""
    async with httpx.AsyncClient(base_url=hub.url) as c:
        admin = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
        made = await c.post("/api/admin/devices", json=device, headers=admin)
        assert made.status_code == 201, made.text
