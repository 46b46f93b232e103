"""Alerts as FHIR R4 Flags: validated (fhir.resources and Medplum) and served under /fhir."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.flag import Flag

from alerts.episodes.fhir import alert_to_flag
from alerts.episodes.models import AlertEpisode
from tests.alerts.episodes.test_endpoints import client, desat
from tests.alerts.helpers import T0
from tests.patient_hub.fhir.test_validation import medplum

__all__ = ["desat", "medplum"]


def episode(**changes: Any) -> AlertEpisode:
    values: dict[str, Any] = dict(
        id=7, open_key="p1|cardiac_arrest", patient_id="p1", rule="cardiac_arrest",
        kind="cardiac_arrest", category="clinical", priority="high", state="accepted",
        condition="present", title="Cardiac arrest", chain="clinical-high", tier=0,
        opened_at=T0, updated_at=T0, resolved_at=None,
        explanation={"why": "ventricular fibrillation on all leads, no pulse wave"},
    )  # fmt: skip
    values.update(changes)
    return AlertEpisode(**values)


EXAMPLES = {
    "open-high-clinical": episode(),
    "resolved-technical-kiosk": episode(
        open_key=None,
        patient_id="telemedpoint:tmp-a",
        rule="kiosk_offline",
        category="technical",
        priority="medium",
        state="resolved",
        resolved_at=T0 + timedelta(hours=1),
    ),
    "adherence-low": episode(rule="missed_measurement", category="adherence", priority="low"),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_flags_validate_with_fhir_resources(name: str) -> None:
    flag = Flag.model_validate(alert_to_flag(EXAMPLES[name]))
    assert flag.status == ("inactive" if name.startswith("resolved") else "active")


def test_flags_pass_medplums_validator(medplum: Any) -> None:
    items = [
        {"name": n, "resource": alert_to_flag(ep), "profiles": []} for n, ep in EXAMPLES.items()
    ]
    results = medplum(items)
    errors = [
        (r["name"], i) for r in results for i in r["issues"] if i["severity"] in ("error", "fatal")
    ]
    assert errors == []


async def test_a_nurse_reads_the_alert_as_a_flag_and_finds_it_by_patient(
    hub: Any, desat: dict[str, Any]
) -> None:
    async with await client(hub, "nurse-a") as c:
        bundle = (await c.get("/fhir/Flag", params={"patient": "p1", "status": "active"})).json()
        one = await c.get(f"/fhir/Flag/alert-{desat['id']}")
        missing = await c.get("/fhir/Flag/alert-999999")
    assert [e["resource"]["id"] for e in bundle["entry"]] == [f"alert-{desat['id']}"]
    assert one.headers["content-type"].startswith("application/fhir+json")
    assert Flag.model_validate(one.json()).code.coding[0].code == "desaturation"
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


async def test_a_flag_of_a_patient_one_may_not_see_is_not_found(
    hub: Any, desat: dict[str, Any]
) -> None:
    async with await client(hub, "cardio") as c:
        response = await c.get(f"/fhir/Flag/alert-{desat['id']}")
        bundle = (await c.get("/fhir/Flag")).json()
    assert response.status_code == 404 and bundle["entry"] == []
