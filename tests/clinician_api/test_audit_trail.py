"""Every read and change of patient data through REST and FHIR lands in the audit trail; an
admin sees who looked at a patient, also as FHIR AuditEvents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from tests.conftest import token_for


async def _client(hub: Any, username: str) -> httpx.AsyncClient:
    token = await token_for(hub, username)
    return httpx.AsyncClient(  # the suite's heavy tail (cluster and fault tests) is slow
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture
async def world(hub: Any, seed: Any) -> Any:
    await seed(hub.settings.database_url)
    return hub


async def _who_looked(hub: Any, patient: str) -> list[dict[str, Any]]:
    async with await _client(hub, "admin") as admin:
        response = await admin.get(f"/api/patients/{patient}/audit")
    assert response.status_code == 200
    return list(response.json())


async def test_rest_and_fhir_reads_are_recorded_with_the_reader(world: Any) -> None:
    async with await _client(world, "nurse-a") as nurse:
        assert (await nurse.get("/api/patients/p1/readings")).status_code == 200
        assert (await nurse.get("/api/patients/p1/findings")).status_code == 200
        assert (await nurse.get("/fhir/Patient/p1")).status_code == 200
        assert (await nurse.get("/fhir/Observation", params={"patient": "p1"})).status_code == 200
    seen = {(e["actor"], e["action"], e["entity_type"]) for e in await _who_looked(world, "p1")}
    assert {
        ("nurse-a", "read", "Reading"),
        ("nurse-a", "read", "Finding"),
        ("nurse-a", "read", "Patient"),
        ("nurse-a", "search", "Observation"),
    } <= seen


async def test_a_refused_read_records_nothing_about_that_patient(world: Any) -> None:
    async with await _client(world, "pat1") as patient:
        assert (await patient.get("/api/patients/p2/readings")).status_code == 404
    assert [e for e in await _who_looked(world, "p2") if e["actor"] == "pat1"] == []


async def test_the_group_snapshot_is_recorded_for_each_patient_shown(world: Any) -> None:
    async with await _client(world, "nurse-a") as nurse:
        assert (await nurse.get("/api/monitor/snapshot")).status_code == 200
    for patient in ("p1", "p2"):
        entries = await _who_looked(world, patient)
        assert any(e["actor"] == "nurse-a" and e["entity_type"] == "Monitor" for e in entries)
    assert not any(e["actor"] == "nurse-a" for e in await _who_looked(world, "p3"))


async def test_changes_are_recorded(world: Any) -> None:
    async with await _client(world, "admin") as admin:
        response = await admin.post(
            "/api/patients", json={"id": "p9", "display_name": "New", "telemedpoint_id": "tmp-a"}
        )
        assert response.status_code == 201
    [created] = [e for e in await _who_looked(world, "p9") if e["entity_type"] == "Patient"]
    assert created["actor"] == "admin" and created["action"] == "create"


async def test_audit_events_export_as_valid_fhir_r4(world: Any) -> None:
    async with await _client(world, "nurse-a") as nurse:
        await nurse.get("/api/patients/p1/readings")
    async with await _client(world, "admin") as admin:
        response = await admin.get("/fhir/AuditEvent", params={"patient": "Patient/p1"})
    assert response.status_code == 200
    bundle = response.json()
    events = [e["resource"] for e in bundle["entry"]]
    reading = next(e for e in events if e["agent"][0]["who"]["display"] == "nurse-a")
    AuditEvent.model_validate(reading)
    assert reading["action"] == "R"
    assert reading["entity"][0]["what"]["reference"] == "Patient/p1"


@pytest.mark.parametrize("path", ["/api/patients/p1/audit", "/fhir/AuditEvent?patient=p1"])
async def test_only_admins_see_the_trail(world: Any, path: str) -> None:
    async with await _client(world, "nurse-a") as nurse:
        response = await nurse.get(path)
    assert response.status_code == 403


async def test_unknown_patient_and_bad_id_get_clear_errors(world: Any) -> None:
    async with await _client(world, "admin") as admin:
        missing = await admin.get("/fhir/AuditEvent", params={"patient": "nobody"})
        bad = await admin.get("/fhir/AuditEvent", params={"patient": "a.x"})
        no_param = await admin.get("/fhir/AuditEvent")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert bad.status_code == 400 and "not a Patient id" in bad.text
    assert no_param.status_code == 400


async def test_the_chain_of_a_running_hub_verifies(world: Any) -> None:
    async with await _client(world, "nurse-a") as nurse:
        await nurse.get("/api/patients/p1/readings")
    async with await _client(world, "admin") as admin:
        verdict = (await admin.get("/api/audit/verify")).json()
    assert verdict["intact"] is True and verdict["entries"] >= 1
