"""Admins manage cohorts over the API: a removed clinician stops seeing the patient at once."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import token_for


async def test_adding_and_removing_a_cohort_member_changes_what_they_see(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
    cardio = {"Authorization": f"Bearer {await token_for(hub, 'cardio')}"}
    async with httpx.AsyncClient(base_url=hub.url) as c:
        add = await c.post(
            "/api/care-team", json={"username": "cardio", "patient_id": "p1"}, headers=admin
        )
        assert add.status_code == 201
        seen = {p["id"] for p in (await c.get("/api/patients", headers=cardio)).json()}
        assert seen == {"p1", "p3"}
        members = (await c.get("/api/patients/p1/care-team", headers=admin)).json()
        assert [m["username"] for m in members] == ["cardio"]
        gone = await c.delete("/api/patients/p1/care-team/cardio", headers=admin)
        assert gone.status_code == 204
        seen = {p["id"] for p in (await c.get("/api/patients", headers=cardio)).json()}
        assert seen == {"p3"}
        assert (await c.get("/api/patients/p1/readings", headers=cardio)).status_code == 404


async def test_bad_removals_get_clear_errors(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
    nurse = {"Authorization": f"Bearer {await token_for(hub, 'nurse-a')}"}
    async with httpx.AsyncClient(base_url=hub.url) as c:
        not_member = await c.delete("/api/patients/p1/care-team/cardio", headers=admin)
        not_clinician = await c.delete("/api/patients/p1/care-team/resp", headers=admin)
        no_patient = await c.delete("/api/patients/zz/care-team/cardio", headers=admin)
        not_admin = await c.delete("/api/patients/p3/care-team/cardio", headers=nurse)
    assert not_member.status_code == 404 and "not on the care team" in not_member.text
    assert not_clinician.status_code == 400 and "only clinicians" in not_clinician.text
    assert no_patient.status_code == 404
    assert not_admin.status_code == 403
