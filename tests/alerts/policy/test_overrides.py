"""A clinician's per-patient threshold, with provenance and expiry, changes what alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alerts.policy.service import set_override
from patient_hub.db import unit_of_work
from patient_hub.patients import service as patients
from telemed_core.errors import BusinessRuleViolation
from tests.alerts.conftest import AlertRig
from tests.alerts.episodes.test_endpoints import client
from tests.alerts.helpers import T0, episodes, feed, spo2_series


async def override(rig: AlertRig, **kw: Any) -> None:
    args: dict[str, Any] = {"rule": "desaturation", "parameter": "trigger", "value": 88.0,
                            "by": "dr-a", "reason": "COPD, lives at 89-91 %", "now": T0,
                            "expires_at": None, **kw}  # fmt: skip
    async with unit_of_work(rig.hub.sessions) as s:
        await patients.upsert_patient(s, "p1", "P1", T0)
        await set_override(
            s, "p1", args.pop("rule"), args.pop("parameter"), args.pop("value"), **args
        )


async def test_a_lower_trigger_for_a_copd_patient_keeps_89_percent_quiet(rig: AlertRig) -> None:
    await override(rig)
    await feed(rig.worker(), {"readings": spo2_series([89] * 90)})
    assert await episodes(rig.hub) == []


async def test_the_alert_cites_the_clinicians_threshold_and_reason(rig: AlertRig) -> None:
    await override(rig)
    await feed(rig.worker(), {"readings": spo2_series([87] * 90)})
    [ep] = await episodes(rig.hub)
    prov = ep.explanation["threshold"]["provenance"]
    assert (ep.explanation["threshold"]["trigger"], prov["set_by"], prov["reason"]) == (
        88.0,
        "dr-a",
        "COPD, lives at 89-91 %",
    )


async def test_an_expired_override_no_longer_applies(rig: AlertRig) -> None:
    await override(rig, expires_at=T0 + timedelta(hours=1))
    rig.clock.advance(7200)
    await feed(rig.worker(), {"readings": spo2_series([89] * 90)})
    assert [e.rule for e in await episodes(rig.hub)] == ["desaturation"]


@pytest.mark.parametrize(
    "bad",
    [{"value": 93.0}, {"reason": " "}, {"rule": "nope"}, {"parameter": "colour"},
     {"expires_at": T0 - timedelta(minutes=1)}, {"value": 20.0},
     {"parameter": "persistence_s", "value": -1.0}, {"parameter": "persistence_s", "value": 1e6},
     {"parameter": "rapid", "value": 101.0}],
)  # fmt: skip
async def test_an_incoherent_override_is_refused(rig: AlertRig, bad: dict[str, Any]) -> None:
    with pytest.raises(BusinessRuleViolation):
        await override(rig, **bad)


async def test_a_nurse_sets_a_threshold_through_the_api_and_sees_its_provenance(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    body = {"rule": "desaturation", "parameter": "trigger", "value": 88, "reason": "COPD"}
    async with await client(hub, "nurse-a") as c:
        created = await c.post("/api/patients/p1/alert-policy", json=body)
        refused = await c.post("/api/patients/p1/alert-policy", json={**body, "value": 95})
        policy = (await c.get("/api/patients/p1/alert-policy")).json()
    async with await client(hub, "pat1") as c:
        patient = await c.post("/api/patients/p1/alert-policy", json=body)
    desat = next(r for r in policy["reading_rules"] if r["rule"] == "desaturation")
    assert created.status_code == 201 and refused.status_code == 422 and patient.status_code == 403
    assert (desat["trigger"], desat["provenance"]["set_by"]) == (88, "nurse-a")
    assert [h["value"] for h in policy["history"]] == [88]


async def test_a_running_worker_applies_a_new_override_at_its_next_policy_refresh(
    rig: AlertRig,
) -> None:
    worker = rig.worker()
    async with unit_of_work(rig.hub.sessions) as s:
        await patients.upsert_patient(s, "p1", "P1", T0)
    await feed(worker, {"readings": spo2_series([97] * 5)})  # p1's default rules cached
    await override(rig)
    worker.engine.policies.ttl_s = 0.0  # the refresh is due
    await worker._maintain()  # the timer loop's turn
    later = spo2_series([89] * 90, start=T0 + timedelta(minutes=1))
    await feed(worker, {"readings": [{**r, "seq": 100 + r["seq"]} for r in later]})
    assert await episodes(rig.hub) == []  # 89 % is above the clinician's 88 %


async def test_a_threshold_of_another_cohorts_patient_or_not_a_number_is_refused(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    body = {"rule": "desaturation", "parameter": "trigger", "value": 88, "reason": "COPD"}
    async with await client(hub, "cardio") as c:  # follows p3 only
        assert (await c.post("/api/patients/p1/alert-policy", json=body)).status_code == 404
        assert (await c.get("/api/patients/p1/alert-policy")).status_code == 404
        nan = await c.post(
            "/api/patients/p3/alert-policy",
            content=b'{"rule": "desaturation", "parameter": "trigger", "value": NaN, "reason": "x"}',
            headers={"Content-Type": "application/json"},
        )
        assert nan.status_code == 422
        text = await c.post("/api/patients/p3/alert-policy", json={**body, "value": "low"})
        assert text.status_code == 422 and "value" in text.json()["detail"]
        long = await c.post("/api/patients/p3/alert-policy", json={**body, "reason": "x" * 1001})
        assert long.status_code == 422
        assert (await c.get("/api/patients/p3/alert-policy")).json()["history"] == []


async def test_each_parameter_keeps_its_own_provenance(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    trigger = {"rule": "desaturation", "parameter": "trigger", "value": 88, "reason": "COPD"}
    delay = {"rule": "desaturation", "parameter": "persistence_s", "value": 120,
             "reason": "motion artefacts at night", "expires_at": "2099-01-01T00:00:00Z"}  # fmt: skip
    async with await client(hub, "nurse-a") as c:
        assert (await c.post("/api/patients/p1/alert-policy", json=trigger)).status_code == 201
    async with await client(hub, "admin") as c:
        assert (await c.post("/api/patients/p1/alert-policy", json=delay)).status_code == 201
        policy = (await c.get("/api/patients/p1/alert-policy")).json()
    desat = next(r for r in policy["reading_rules"] if r["rule"] == "desaturation")
    params = desat["parameters"]
    assert (params["trigger"]["value"], params["trigger"]["provenance"]["set_by"]) == (
        88,
        "nurse-a",
    )
    assert params["trigger"]["provenance"]["reason"] == "COPD"
    assert params["trigger"]["provenance"]["expires_at"] is None
    assert (params["persistence_s"]["value"], params["persistence_s"]["provenance"]["set_by"]) == (
        120, "admin",
    )  # fmt: skip
    assert params["persistence_s"]["provenance"]["expires_at"].startswith("2099-01-01")
    for untouched in ("clear", "rapid"):
        assert params[untouched]["provenance"]["source"] == "programme default"
    assert desat["provenance"]["set_by"] == "admin"  # the rule's latest change, as before
