"""POST /fhir: PHD-IG transaction Bundles, all or nothing, de-duplicated by identifier."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from typing import Any

import httpx
import pytest
import websockets
from fhir.resources.R4B.bundle import Bundle

from tests.conftest import token_for

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
PATIENT_SID = "https://fhir.telemed.example/sid/patient"
EUI64 = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
PHD_ID = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation"
GATEWAY = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
PATIENT_URL, PHG_URL, PHD_URL = "urn:uuid:p-0001", "urn:uuid:g-0001", "urn:uuid:d-0001"


def observation(
    ident: str, code: tuple[str, str], value: float, unit: str, at: str
) -> dict[str, Any]:
    """A PHD numeric Observation as a standard gateway sends it (temporary references)."""
    return {
        "resourceType": "Observation",
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation"]},
        "extension": [{"url": GATEWAY, "valueReference": {"reference": PHG_URL}}],
        "identifier": [{"system": PHD_ID, "value": ident}],
        "status": "final",
        "code": {"coding": [{"system": MDC, "code": code[0]}, {"system": LOINC, "code": code[1]}]},
        "subject": {"reference": PATIENT_URL},
        "effectiveDateTime": at,
        "valueQuantity": {"value": value, "system": UCUM, "code": unit},
        "device": {"reference": PHD_URL},
    }  # fmt: skip


def bp_panel(ident: str, sys: float, dia: float, at: str) -> dict[str, Any]:
    def part(mdc: str, loinc: str, v: float) -> dict[str, Any]:
        coding = [{"system": MDC, "code": mdc}, {"system": LOINC, "code": loinc}]
        return {
            "code": {"coding": coding},
            "valueQuantity": {"value": v, "system": UCUM, "code": "mm[Hg]"},
        }

    obs = observation(ident, ("150020", "85354-9"), 0, "mm[Hg]", at)
    obs.pop("valueQuantity")
    obs["component"] = [part("150021", "8480-6", sys), part("150022", "8462-4", dia)]
    return obs


def entry(url: str, resource: dict[str, Any], if_none_exist: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": url, "resource": resource, "request": request}


def obs_entry(i: int, resource: dict[str, Any]) -> dict[str, Any]:
    ident = resource["identifier"][0]
    return entry(f"urn:uuid:o-{i:04d}", resource, f"identifier={ident['system']}|{ident['value']}")


def phd_bundle(
    patient: str = "p1", observations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Patient (conditional create on our identifier), gateway, PHD, then observations."""
    patient_res = {
        "resourceType": "Patient",
        "identifier": [{"system": PATIENT_SID, "value": patient}],
    }
    phg = {
        "resourceType": "Device",
        "identifier": [{"system": EUI64, "value": "4C-4E-49-12-34-56-FF-FF"}],
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"]},
    }
    phd = {
        "resourceType": "Device",
        "identifier": [{"system": EUI64, "value": "00-1C-05-04-00-00-78-25"}],
    }
    if observations is None:
        observations = [
            observation(f"{patient}-spo2-1", ("150456", "2708-6"), 95, "%", "2026-11-27T09:00:00Z"),
            observation(
                f"{patient}-pr-1", ("149530", "8867-4"), 61, "/min", "2026-11-27T09:00:00Z"
            ),
            bp_panel(f"{patient}-bp-1", 141, 88, "2026-11-27T09:01:00-01:00"),
        ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(PATIENT_URL, patient_res, f"identifier={PATIENT_SID}|{patient}"),
            entry(PHG_URL, phg, f"identifier={EUI64}|4C-4E-49-12-34-56-FF-FF"),
            entry(PHD_URL, phd, f"identifier={EUI64}|00-1C-05-04-00-00-78-25"),
            *(obs_entry(i, o) for i, o in enumerate(observations)),
        ],
    }  # fmt: skip


async def post(hub: Any, bundle: Any, token: str | None = None, **headers: str) -> httpx.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        return await client.post("/fhir", json=bundle, headers=headers)


async def readings(hub: Any, token: str, patient: str = "p1") -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        response = await client.get(
            f"/api/patients/{patient}/readings", headers={"Authorization": f"Bearer {token}"}
        )
    response.raise_for_status()
    return list(response.json())


@pytest.fixture
async def world(hub: Any, seed: Any) -> dict[str, str]:
    tokens: dict[str, str] = await seed(hub.settings.database_url)
    tokens["admin"] = await token_for(hub, "admin")
    return tokens


def statuses(response: httpx.Response) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


def outcome_of(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert response.headers["content-type"].startswith("application/fhir+json")
    return str(body["issue"][0]["diagnostics"])


# -- storing -------------------------------------------------------------------------------------


async def test_phd_bundle_becomes_readings_with_a_response_per_entry(
    hub: Any, world: dict[str, str]
) -> None:
    response = await post(hub, phd_bundle(), world["admin"])
    assert response.status_code == 200
    body = response.json()
    Bundle.model_validate(body)
    assert body["type"] == "transaction-response"
    assert statuses(response) == [
        "200 OK",
        "200 OK",
        "200 OK",
        "201 Created",
        "201 Created",
        "201 Created",
    ]
    entries = [e["response"] for e in body["entry"]]
    assert entries[0]["location"] == "Patient/p1"
    assert entries[2]["location"] == "Device/phd-eui64-001C050400007825"
    assert entries[3]["location"].startswith("Observation/r-") and entries[3]["etag"] == 'W/"1"'
    assert entries[5]["location"].startswith("Observation/bp-")
    stored = {r["kind"]: r for r in await readings(hub, world["admin"])}
    assert {k: r["value"] for k, r in stored.items()} == {
        "spo2": 95, "pulse_rate": 61, "bp_systolic": 141, "bp_diastolic": 88,
    }  # fmt: skip
    assert stored["bp_systolic"]["measured_at"] == "2026-11-27T10:01:00Z"
    assert stored["spo2"]["device_id"] == "eui64-001C050400007825"
    assert stored["spo2"]["bridge_id"].startswith("fhir:user:")


async def test_repost_is_deduplicated_by_identifier(hub: Any, world: dict[str, str]) -> None:
    first = await post(hub, phd_bundle(), world["admin"])
    again = await post(hub, phd_bundle(), world["admin"])
    assert statuses(again)[3:] == ["200 OK"] * 3
    locations = [e["response"]["location"] for e in first.json()["entry"][3:]]
    assert [e["response"]["location"] for e in again.json()["entry"][3:]] == locations
    assert len(await readings(hub, world["admin"])) == 4


async def test_a_repeat_inside_one_bundle_is_stored_once(hub: Any, world: dict[str, str]) -> None:
    obs = observation("same-1", ("150456", "2708-6"), 93, "%", "2026-11-27T09:00:00Z")
    response = await post(hub, phd_bundle(observations=[obs, copy.deepcopy(obs)]), world["admin"])
    assert statuses(response)[3:] == ["201 Created", "200 OK"]
    assert (
        response.json()["entry"][4]["response"]["location"]
        == response.json()["entry"][3]["response"]["location"]
    )
    assert len(await readings(hub, world["admin"])) == 1


async def test_coincident_time_stamp_is_acknowledged_and_not_stored(
    hub: Any, world: dict[str, str]
) -> None:
    cts = {
        "resourceType": "Observation", "status": "final",
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"]},
        "code": {"coding": [{"system": MDC, "code": "67975"}]},
        "subject": {"reference": PHD_URL}, "device": {"reference": PHD_URL},
        "effectiveDateTime": "2026-11-27T09:00:00Z", "valueDateTime": "2026-11-27T09:00:02Z",
    }  # fmt: skip
    bundle = phd_bundle()
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:c-1",
            "resource": cts,
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    response = await post(hub, bundle, world["admin"])
    assert statuses(response)[-1] == "200 OK"
    assert (
        "not stored"
        in response.json()["entry"][-1]["response"]["outcome"]["issue"][0]["diagnostics"]
    )
    assert len(await readings(hub, world["admin"])) == 4


# -- all or nothing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "status", "names"),
    [
        (lambda o: o["valueQuantity"].update(value="ninety"), 400, "entry[4]"),
        (lambda o: o["valueQuantity"].update(code="[in_i]"), 422, "entry[4]"),
        (lambda o: o.update(subject={"reference": "Patient/nobody"}), 404, "entry[4]"),
        (lambda o: o.update(device={"reference": "Device/someone-elses"}), 422, "entry[4]"),
    ],
    ids=["invalid-fhir", "unsupported-unit", "unknown-patient", "foreign-device"],
)
async def test_one_bad_entry_writes_nothing(
    hub: Any, world: dict[str, str], edit: Any, status: int, names: str
) -> None:
    bundle = phd_bundle()
    edit(bundle["entry"][4]["resource"])
    response = await post(hub, bundle, world["admin"])
    assert response.status_code == status
    assert names in outcome_of(response)
    assert await readings(hub, world["admin"]) == []
    assert statuses(await post(hub, phd_bundle(), world["admin"]))[3:] == ["201 Created"] * 3


async def test_operation_outcome_statuses(hub: Any, world: dict[str, str]) -> None:
    admin = world["admin"]
    not_bundle = await post(hub, {"resourceType": "Patient"}, admin)
    collection = await post(hub, {**phd_bundle(), "type": "collection"}, admin)
    bad_condition = phd_bundle()
    bad_condition["entry"][3]["request"]["ifNoneExist"] = "code=8867-4"
    unknown_patient = phd_bundle(patient="p-nobody")
    created_patient = phd_bundle()
    created_patient["entry"][0]["request"].pop("ifNoneExist")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        not_json = await client.post(
            "/fhir", content=b"{", headers={"Authorization": f"Bearer {admin}"}
        )
    assert (not_bundle.status_code, collection.status_code, not_json.status_code) == (400, 400, 400)
    bad = await post(hub, bad_condition, admin)
    assert bad.status_code == 400 and "identifier" in outcome_of(bad)
    unknown = await post(hub, unknown_patient, admin)
    assert unknown.status_code == 422 and "does not create patients" in outcome_of(unknown)
    create = await post(hub, created_patient, admin)
    assert create.status_code == 422 and "enrolment" in outcome_of(create)
    assert await readings(hub, admin) == []


async def test_an_identifier_of_another_patients_observation_is_a_conflict(
    hub: Any, world: dict[str, str]
) -> None:
    obs = observation("shared-id", ("150456", "2708-6"), 97, "%", "2026-11-27T09:00:00Z")
    assert (await post(hub, phd_bundle("p1", [obs]), world["admin"])).status_code == 200
    response = await post(hub, phd_bundle("p2", [copy.deepcopy(obs)]), world["admin"])
    assert response.status_code == 409
    assert await readings(hub, world["admin"], "p2") == []


async def test_a_value_only_condition_matching_two_observations_is_412(
    hub: Any, world: dict[str, str]
) -> None:
    one = observation("v-1", ("150456", "2708-6"), 97, "%", "2026-11-27T09:00:00Z")
    two = observation("v-1", ("150456", "2708-6"), 96, "%", "2026-11-27T09:05:00Z")
    two["identifier"][0]["system"] = "urn:example:other"
    bundle = phd_bundle(observations=[one, two])
    assert statuses(await post(hub, bundle, world["admin"]))[3:] == ["201 Created"] * 2
    three = observation("v-1", ("150456", "2708-6"), 95, "%", "2026-11-27T09:10:00Z")
    bundle = phd_bundle(observations=[three])
    bundle["entry"][3]["request"]["ifNoneExist"] = "identifier=v-1"
    response = await post(hub, bundle, world["admin"])
    assert response.status_code == 412 and "several" in outcome_of(response)


# -- who may post ------------------------------------------------------------------------------


def basic(bridge: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{bridge}:{token}".encode()).decode()


async def test_who_may_post(hub: Any, world: dict[str, str]) -> None:
    for username in ("pat1", "cardio", "resp"):
        response = await post(hub, phd_bundle(), await token_for(hub, username))
        assert response.status_code == 403, username
        assert response.json()["issue"][0]["code"] == "forbidden"
    assert (await post(hub, phd_bundle())).status_code == 401
    nurse = await token_for(hub, "nurse-a")
    assert (await post(hub, phd_bundle("p1"), nurse)).status_code == 200
    assert (await post(hub, phd_bundle("p3"), nurse)).status_code == 422  # not her patient
    own = await post(hub, phd_bundle("p2"), Authorization=basic("bridge-p2", world["bridge-p2"]))
    assert own.status_code == 200
    other = await post(hub, phd_bundle("p1", [observation("gw-1", ("150456", "2708-6"), 90, "%",
                                                          "2026-11-27T11:00:00Z")]),
                       Authorization=basic("bridge-p2", world["bridge-p2"]))  # fmt: skip
    assert other.status_code == 422
    wrong = await post(hub, phd_bundle("p2"), Authorization=basic("bridge-p2", "x" * 43))
    assert wrong.status_code == 401
    stored = await readings(hub, world["admin"], "p2")
    assert {r["bridge_id"] for r in stored} == {"fhir:gw:bridge-p2"}


async def test_literal_patient_reference_the_uploader_may_not_see_is_404(
    hub: Any, world: dict[str, str]
) -> None:
    obs = observation("lit-1", ("150456", "2708-6"), 97, "%", "2026-11-27T09:00:00Z")
    obs["subject"] = {"reference": "Patient/p3"}
    bundle = phd_bundle(observations=[obs])
    bundle["entry"].pop(0)
    response = await post(hub, bundle, await token_for(hub, "nurse-a"))
    assert response.status_code == 404 and "p3" in outcome_of(response)


# -- same processing as bridge readings ------------------------------------------------------------


async def test_stored_readings_reach_the_monitor_like_bridge_readings(
    hub: Any, world: dict[str, str]
) -> None:
    nurse = await token_for(hub, "nurse-a")
    async with websockets.connect(f"{hub.ws_url}/ws/monitor?access_token={nurse}") as monitor:
        assert json.loads(await asyncio.wait_for(monitor.recv(), 5))["type"] == "hello"
        assert (await post(hub, phd_bundle(), world["admin"])).status_code == 200
        frame = json.loads(await asyncio.wait_for(monitor.recv(), 5))
    assert frame["type"] == "readings"
    pushed = {(r["patient_id"], r["kind"], r["value"]) for r in frame["readings"]}
    assert pushed == {("p1", "spo2", 95), ("p1", "pulse_rate", 61), ("p1", "bp_systolic", 141),
                      ("p1", "bp_diastolic", 88)}  # fmt: skip


async def test_batch_answers_each_entry_on_its_own(hub: Any, world: dict[str, str]) -> None:
    good = observation("b-1", ("150456", "2708-6"), 94, "%", "2026-11-27T09:00:00Z")
    bad = observation("b-2", ("150456", "2708-6"), 94, "kg", "2026-11-27T09:01:00Z")
    for o in (good, bad):
        o["subject"], o["device"] = {"reference": "Patient/p1"}, {"reference": "Device/phd-ox-7"}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [obs_entry(0, good), obs_entry(1, bad)],
    }
    response = await post(hub, bundle, world["admin"])
    assert response.json()["type"] == "batch-response"
    assert statuses(response) == ["201 Created", "422"]
    assert [(r["value"], r["device_id"]) for r in await readings(hub, world["admin"])] == [
        (94, "ox-7")
    ]


async def test_fhirpy_posts_a_transaction(hub: Any, world: dict[str, str]) -> None:
    fhirpy = pytest.importorskip("fhirpy", reason="fhirpy (stock FHIR client) is not installed")
    client = fhirpy.AsyncFHIRClient(f"{hub.url}/fhir", authorization=f"Bearer {world['admin']}")
    response = await asyncio.wait_for(client.execute("/", method="post", data=phd_bundle()), 10)
    assert response["resourceType"] == "Bundle" and response["type"] == "transaction-response"
    assert [e["response"]["status"] for e in response["entry"]][3:] == ["201 Created"] * 3
    again = await asyncio.wait_for(client.execute("/", method="post", data=phd_bundle()), 10)
    assert [e["response"]["status"] for e in again["entry"]][3:] == ["200 OK"] * 3


async def test_unknown_fhir_paths_are_operation_outcomes(hub: Any) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        response = await client.get("/fhir/NoSuchResource/1")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"
