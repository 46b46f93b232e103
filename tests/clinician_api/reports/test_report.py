"""The period report: a real PDF with the period's figures; bad periods refused; audited."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.clinician_api.patient_view.test_timeline_api import _iso, bp_pairs, send
from tests.clinician_api.stored import store_weight_gain
from tests.conftest import token_for


def pdf_text(pdf: bytes) -> str:
    """The text a reader of the PDF sees (pypdf, through the fonts' Unicode maps)."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
async def client(hub: Any, seed: Any) -> Any:
    tokens = await seed(hub.settings.database_url)
    now = datetime.now(UTC)
    await send(hub, tokens["bridge-p1"], "p1", bp_pairs(now, 10) + [
        {"kind": "body_weight", "value": 80.0 + d / 10, "unit": "kg", "device_id": "scale",
         "measured_at": _iso(now - timedelta(days=d, hours=1))} for d in range(10)
    ])  # fmt: skip
    token = await token_for(hub, "nurse-a")
    async with httpx.AsyncClient(  # a PDF takes seconds of CPU on a busy test machine
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
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
    text = pdf_text(response.content)  # the nurse reads Czech (a nurse's default language)
    assert "Zpráva o vzdáleném monitorování" in text and "Patient p1" in text
    assert "150/90" in text and "140/90" in text  # ESH morning and evening means
    assert "Změna léčby" in text and "Ramipril up to 10 mg" in text
    assert "Dodržování plánu:" in text
    assert (await client.put("/api/me/language", json={"language": "en"})).status_code < 300
    english = pdf_text((await client.get("/api/patients/p1/report.pdf")).content)
    assert "Remote monitoring report" in english and "Medication change" in english
    assert "Adherence:" in english


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
    async with httpx.AsyncClient(  # a PDF takes seconds of CPU on a busy test machine
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        assert (await c.get("/api/patients/p1/report.pdf")).status_code == 403


def test_czech_names_and_notes_come_out_as_written() -> None:
    """The PDF base fonts lack ř, ě, č, ť, ů: the report embeds DejaVu Sans instead."""
    from zoneinfo import ZoneInfo

    from clinician_api.reports.pdf import ReportData, render
    from telemed_signal.trends import HomeBpSummary

    now = datetime.now(UTC)
    day = now.date()
    no_bp = HomeBpSummary(day, day, None, 0, None, None, None, (), False, None)
    data = ReportData(
        patient_id="p1", patient_name="Antonín Dvořák", programme="heart_failure",
        since=day, until=day, generated_at=now, zone=ZoneInfo("Europe/Prague"),
        author="sestra Šťastná", stats=[], home_bp=no_bp, daily={}, findings=[],
        contacts=[(now, "phone", "medication_change", "Pacient se cítí lépe, tlak měří ráno i večer")],
        adherence=(0, 0), language="cs",
    )  # fmt: skip
    text = pdf_text(render(data))
    assert "Antonín Dvořák" in text and "sestra Šťastná" in text
    assert "tlak měří ráno i večer" in text
    # in the reader's language: a Czech nurse's report is in Czech
    assert "Zpráva o vzdáleném monitorování" in text and "Změna léčby" in text
    assert "Srdeční selhání" in text and "Remote monitoring" not in text


async def test_a_findings_explanation_is_in_the_readers_language(client: Any, hub: Any) -> None:
    await store_weight_gain(hub.settings.database_url)
    czech = pdf_text((await client.get("/api/patients/p1/report.pdf")).content)
    assert "Hmotnost 82,4 kg, o 2,4 kg více než 80 kg dne" in czech and "up 2.4" not in czech
    await client.put("/api/me/language", json={"language": "en"})
    english = pdf_text((await client.get("/api/patients/p1/report.pdf")).content)
    assert "Weight 82.4 kg, up 2.4 kg from 80 kg on" in english
