"""The period report: a real PDF with the period's figures; bad periods refused; audited."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.clinician_api.patient_view.test_timeline_api import _iso, bp_pairs, send
from tests.conftest import token_for


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a ReportLab PDF (its content streams, inflated)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):  # ASCII85 over Flate, ReportLab's default
            data = base64.a85decode(data[:-2].replace(b"\n", b""))
        try:
            out.append(zlib.decompress(data).decode("latin-1"))
        except zlib.error:
            out.append(data.decode("latin-1"))
    return "".join(out)


@pytest.fixture
async def client(hub: Any, seed: Any) -> Any:
    tokens = await seed(hub.settings.database_url)
    now = datetime.now(UTC)
    await send(hub, tokens["bridge-p1"], "p1", bp_pairs(now, 10) + [
        {"kind": "body_weight", "value": 80.0 + d / 10, "unit": "kg", "device_id": "scale",
         "measured_at": _iso(now - timedelta(days=d, hours=1))} for d in range(10)
    ])  # fmt: skip
    token = await token_for(hub, "nurse-a")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        created = await c.post("/api/patients/p1/notes", json={
            "kind": "contact", "channel": "phone", "outcome": "medication_change",
            "text": "Ramipril up to 10 mg <checked>"})  # fmt: skip
        assert created.status_code == 201
        yield c


async def test_the_report_is_a_pdf_with_the_periods_figures(client: Any) -> None:
    response = await client.get("/api/patients/p1/report.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    assert "Remote monitoring report" in text and "Patient p1" in text
    assert "150/90" in text and "140/90" in text  # ESH morning and evening means
    assert "medication change" in text and "Ramipril up to 10 mg" in text
    assert "Adherence:" in text


async def test_the_export_is_audited(client: Any, hub: Any) -> None:
    await client.get("/api/patients/p1/report.pdf")
    admin = await token_for(hub, "admin")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {admin}"}
    ) as c:
        trail = (await c.get("/api/patients/p1/audit")).json()
    assert any(e["action"] == "export" and e["actor"] == "nurse-a" for e in trail)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("since=2026-02-01&until=2026-01-01", 400, "not be after"),
        ("since=2024-01-01&until=2026-01-01", 400, "at most 366 days"),
        ("since=yesterday", 422, "since"),
    ],
)
async def test_bad_periods_are_refused(client: Any, query: str, status: int, message: str) -> None:
    response = await client.get(f"/api/patients/p1/report.pdf?{query}")
    assert response.status_code == status and message in response.text


async def test_patients_and_other_cohorts_get_no_report(hub: Any, client: Any) -> None:
    assert (await client.get("/api/patients/p3/report.pdf")).status_code == 404
    token = await token_for(hub, "pat1")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        assert (await c.get("/api/patients/p1/report.pdf")).status_code == 403
