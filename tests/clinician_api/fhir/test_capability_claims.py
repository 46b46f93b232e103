"""Honest conformance: every interaction, search parameter and operation that /fhir/metadata
claims is exercised against the running server, and a claim nobody exercises fails the test."""

from __future__ import annotations

from typing import Any

import httpx
import websockets

from tests.alerts.helpers import next_alert, send_readings
from tests.clinician_api.fhir.test_subscriptions import subscription
from tests.clinician_api.fhir.test_transaction import phd_bundle
from tests.conftest import token_for

RCIS = "https://ncez.mzcr.cz/fhir/sid/rcis"
DEVICE_SID = "https://fhir.telemed.example/sid/device"
READING_SID = "https://fhir.telemed.example/sid/reading"
ANNA = {
    "id": "p-anna", "given_name": "Anna", "family_name": "Nováková",
    "national_id": "5653141010", "sex": "female",
}  # fmt: skip

#: One matching value per claimed search parameter (``{obs}``/``{dev}``: an id found first).
SEARCH_SAMPLES: dict[str, dict[str, str]] = {
    "Patient": {
        "_id": "p-anna", "identifier": f"{RCIS}|5653141010", "name": "anna",
        "family": "nováková", "given": "Anna", "birthdate": "1956-03-14", "gender": "female",
        "_count": "1", "_sort": "-_lastUpdated", "_lastUpdated": "ge2000-01-01",
    },
    "Device": {
        "_id": "{dev}", "patient": "p1", "identifier": f"{DEVICE_SID}|{{device_id}}",
        "_count": "1", "_sort": "_id",
    },
    "Observation": {
        "_id": "{obs}", "patient": "Patient/p1", "subject": "p1",
        "code": "http://loinc.org|8867-4", "category": "vital-signs", "date": "ge2026-11-27",
        "identifier": f"{READING_SID}|{{reading_key}}", "_count": "1", "_sort": "-date",
        "_lastUpdated": "ge2000-01-01",
    },
    "Flag": {"patient": "Patient/p1", "status": "active", "_count": "1"},
}  # fmt: skip


async def _world(hub: Any, seed: Any) -> tuple[httpx.AsyncClient, httpx.Response]:
    tokens = await seed(hub.settings.database_url)
    token = await token_for(hub, "admin")
    client = httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {token}"})
    assert (await client.post("/api/patients", json=ANNA)).status_code == 201
    first = await client.post("/fhir", json=phd_bundle("p1"))
    assert first.status_code == 200, first.text
    # An open alert (a Flag): p1 below 90 % SpO2 for 70 s.
    async with websockets.connect(f"{hub.ws_url}/ws/monitor?access_token={token}") as monitor:
        await monitor.recv()  # hello
        await send_readings(hub.ws_url, "bridge-p1", tokens["bridge-p1"], "p1", "spo2", [88] * 70)
        await next_alert(monitor, rule="desaturation")
    return client, first


def _ids(bundle: httpx.Response) -> list[str]:
    assert bundle.status_code == 200, bundle.text
    return [e["resource"]["id"] for e in bundle.json().get("entry", [])]


async def _exercise_search(client: httpx.AsyncClient, rtype: str, params: list[str]) -> None:
    device = next(
        e["resource"] for e in (await client.get("/fhir/Device?patient=p1")).json()["entry"]
        if e["resource"]["id"].startswith("phd-")
    )  # fmt: skip
    obs = (await client.get("/fhir/Observation?patient=p1&code=http://loinc.org|8867-4")).json()
    reading = obs["entry"][0]["resource"]
    found = {
        "obs": reading["id"],
        "reading_key": next(
            i["value"] for i in reading["identifier"] if i["system"] == READING_SID
        ),
        "dev": device["id"],
        "device_id": next(
            i["value"] for i in device["identifier"] if i.get("system") == DEVICE_SID
        ),
    }
    samples = SEARCH_SAMPLES.get(rtype, {})
    unexercised = sorted(set(params) - set(samples))
    assert unexercised == [], f"{rtype} claims search parameters no test exercises"
    for name in params:
        value = samples[name].format(**found)
        hits = _ids(await client.get(f"/fhir/{rtype}", params={name: value}))
        assert hits, f"{rtype}?{name}={value} found nothing"


async def _exercise_subscription(client: httpx.AsyncClient, claims: dict[str, Any]) -> None:
    made = await client.post("/fhir/Subscription", json=subscription("p1"))
    assert made.status_code == 201, made.text
    sub_id = made.json()["id"]
    interactions = {i["code"] for i in claims["interaction"]}
    assert interactions == {"read", "create", "delete"}
    assert (await client.get(f"/fhir/Subscription/{sub_id}")).status_code == 200
    for op in claims["operation"]:
        reply = await client.get(f"/fhir/Subscription/{sub_id}/${op['name']}")
        assert reply.status_code == 200, (op["name"], reply.text)
    assert (await client.delete(f"/fhir/Subscription/{sub_id}")).status_code in (200, 204)
    assert (await client.get(f"/fhir/Subscription/{sub_id}")).status_code == 404


async def _exercise_resource(client: httpx.AsyncClient, claims: dict[str, Any]) -> None:
    rtype = claims["type"]
    if rtype == "Subscription":
        await _exercise_subscription(client, claims)
        return
    interactions = {i["code"] for i in claims["interaction"]}
    assert interactions == {"read", "search-type"}, rtype
    first_id = _ids(await client.get(f"/fhir/{rtype}"))[0]
    assert (await client.get(f"/fhir/{rtype}/{first_id}")).status_code == 200
    await _exercise_search(client, rtype, [p["name"] for p in claims.get("searchParam", [])])
    for op in claims.get("operation", []):
        assert op["name"] == "lastn", f"unexercised operation {op['name']}"
        assert _ids(await client.get("/fhir/Observation/$lastn", params={"patient": "p1"}))


async def test_every_claim_of_the_capability_statement_holds(hub: Any, seed: Any) -> None:
    client, first_post = await _world(hub, seed)
    try:
        cs = (await client.get("/fhir/metadata")).json()
        rest = cs["rest"][0]
        assert "audit" not in rest.get("documentation", "").lower()  # no audit log on this hub
        assert rest["security"]["cors"] is False
        for claims in rest["resource"]:
            await _exercise_resource(client, claims)
        assert [i["code"] for i in rest["interaction"]] == ["transaction"]
        statuses = [e["response"]["status"] for e in first_post.json()["entry"]]
        assert any(s.startswith("201") for s in statuses)
        # conditionalCreate (Observation): the same Bundle again creates nothing.
        observation = next(r for r in rest["resource"] if r["type"] == "Observation")
        assert observation["conditionalCreate"] is True
        again = await client.post("/fhir", json=phd_bundle("p1"))
        assert not any(e["response"]["status"].startswith("201") for e in again.json()["entry"])
    finally:
        await client.aclose()
