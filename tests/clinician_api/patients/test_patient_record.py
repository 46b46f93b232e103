"""The patient record through the API: validation, duplicates, FHIR Patient and its search,
test data marked and removable."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import token_for

ANNA = {
    "id": "anna-1",
    "given_name": "Anna",
    "family_name": "Nováková",
    "national_id": "565314/1010",  # valid: 14 March 1956, a woman
    "sex": "female",
    "address_line": "Náves 12",
    "city": "Horní Lhota",
    "postal_code": "569 01",
    "country": "CZ",
    "home_latitude": 49.7589,
    "home_longitude": 16.4689,
    "phone": "+420 601 234 567",
    "treating_doctor": "MUDr. Petr Dvořák",
    "insurer": "111",
}


async def _admin(hub: Any, seed: Any) -> dict[str, str]:
    await seed(hub.settings.database_url)
    return {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}


async def test_enrolment_stores_the_whole_record(hub: Any, seed: Any) -> None:
    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        made = await client.post("/api/patients", json=ANNA)
        read = (await client.get("/api/patients/anna-1")).json()
    assert made.status_code == 201, made.text
    assert made.json()["possible_duplicates"] == []
    assert read["display_name"] == "Anna Nováková"
    assert read["national_id"] == "5653141010"
    assert read["birth_date"] == "1956-03-14"  # from the birth number
    assert read["phone"] == "+420601234567"
    assert (read["home_latitude"], read["home_longitude"]) == (49.7589, 16.4689)
    assert read["is_test"] is False


BAD_INPUT = [
    ({"national_id": "565314/1011"}, "modulo-11"),
    ({"national_id": "561314/1010"}, "not a month"),
    ({"national_id": "12345"}, "9 or 10 digits"),
    ({"birth_date": "1956-03-15"}, "differs from the birth number"),
    ({"sex": "male"}, "differs from the birth number"),
    ({"birth_date": "2999-01-01", "national_id": None}, "between"),
    ({"birth_date": "1956-02-30", "national_id": None}, "date"),
    ({"phone": "601 234 567"}, "international form"),
    ({"phone": "+420 60x 234 567"}, "international form"),
    ({"home_latitude": 91.0}, "less than or equal to 90"),
    ({"home_longitude": -181.0}, "greater than or equal to -180"),
    ({"home_longitude": None}, "go together"),
    ({"country": "Czechia"}, "pattern"),
    ({"timezone": "Europe/Nowhere"}, "IANA"),
]


async def test_bad_input_on_a_new_field_is_a_clear_4xx_and_stores_nothing(
    hub: Any, seed: Any
) -> None:
    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        for change, reason in BAD_INPUT:
            refused = await client.post("/api/patients", json={**ANNA, **change})
            assert refused.status_code == 422, change
            assert refused.headers["content-type"] == "application/problem+json"
            assert reason in refused.json()["detail"], (change, refused.json())
            assert (await client.get("/api/patients/anna-1")).status_code == 404


async def test_a_birth_number_belongs_to_one_patient(hub: Any, seed: Any) -> None:
    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        await client.post("/api/patients", json=ANNA)
        second = await client.post("/api/patients", json={**ANNA, "id": "anna-2"})
        missing = await client.get("/api/patients/anna-2")
    assert second.status_code == 409
    assert "anna-1" in second.json()["detail"]
    assert missing.status_code == 404


async def test_enrolment_warns_of_a_likely_duplicate(hub: Any, seed: Any) -> None:
    headers = await _admin(hub, seed)
    twin = {k: v for k, v in ANNA.items() if k != "national_id"} | {
        "id": "anna-2",
        "birth_date": "1956-03-14",
    }
    other = twin | {"id": "anna-3", "birth_date": "1960-01-01"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        await client.post("/api/patients", json=ANNA)
        warned = await client.post("/api/patients", json=twin)
        unrelated = await client.post("/api/patients", json=other)
    assert warned.status_code == 201
    assert warned.json()["possible_duplicates"] == ["anna-1"]
    assert unrelated.json()["possible_duplicates"] == []


async def _fhir(client: httpx.AsyncClient, query: str) -> list[str]:
    bundle = await client.get(f"/fhir/Patient?{query}")
    assert bundle.status_code == 200, bundle.text
    return sorted(e["resource"]["id"] for e in bundle.json().get("entry", []))


async def test_fhir_patient_search_by_name_birthdate_identifier_and_gender(
    hub: Any, seed: Any
) -> None:
    headers = await _admin(hub, seed)
    jan = {"id": "jan-1", "given_name": "Jan", "family_name": "Dvořák", "sex": "male",
           "birth_date": "1949-11-02"}  # fmt: skip
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        await client.post("/api/patients", json=ANNA)
        await client.post("/api/patients", json=jan)
        assert await _fhir(client, "name=Anna") == ["anna-1"]
        assert await _fhir(client, "name=nová") == ["anna-1"]
        assert await _fhir(client, "family=dvořák") == ["jan-1"]
        assert await _fhir(client, "given=jan,anna") == ["anna-1", "jan-1"]
        assert await _fhir(client, "birthdate=1956-03-14") == ["anna-1"]
        assert await _fhir(client, "birthdate=1956") == ["anna-1"]
        assert await _fhir(client, "birthdate=lt1950-01-01") == ["jan-1"]
        assert await _fhir(client, "birthdate=ge1950&gender=female") == ["anna-1"]
        rcis = "https://ncez.mzcr.cz/fhir/sid/rcis"
        assert await _fhir(client, f"identifier={rcis}|5653141010") == ["anna-1"]
        assert await _fhir(client, "identifier=565314/1010") == ["anna-1"]
        assert await _fhir(client, "identifier=https://fhir.telemed.example/sid/patient|jan-1") == [
            "jan-1"
        ]
        assert await _fhir(client, "gender=male") == ["jan-1"]
        bad = await client.get("/fhir/Patient?birthdate=14.3.1956")
    assert bad.status_code == 400
    assert bad.json()["resourceType"] == "OperationOutcome"


async def test_fhir_patient_carries_identifiers_telecom_and_a_geolocated_address(
    hub: Any, seed: Any
) -> None:
    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        await client.post("/api/patients", json=ANNA)
        patient = (await client.get("/fhir/Patient/anna-1")).json()
    systems = {i["system"]: i["value"] for i in patient["identifier"]}
    assert systems["https://ncez.mzcr.cz/fhir/sid/rcis"] == "5653141010"
    assert patient["telecom"] == [{"system": "phone", "value": "+420601234567", "use": "home"}]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1956-03-14")
    geo = patient["address"][0]["extension"][0]
    assert geo["url"] == "http://hl7.org/fhir/StructureDefinition/geolocation"
    assert [e["valueDecimal"] for e in geo["extension"]] == [49.7589, 16.4689]
    assert "security" not in patient["meta"]


async def test_test_patients_carry_htest_and_a_cohort_is_removed_with_its_data(
    hub: Any, seed: Any
) -> None:
    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        await client.post("/api/patients", json=ANNA)
        for i in (1, 2):
            await client.post(
                "/api/patients",
                json={"id": f"sim-{i}", "display_name": f"Sim {i}", "is_test": True},
            )
            await client.post(
                "/api/bridges", json={"bridge_id": f"sim-b{i}", "patient_id": f"sim-{i}"}
            )
        patient = (await client.get("/fhir/Patient/sim-1")).json()
        assert patient["meta"]["security"][0]["code"] == "HTEST"
        assert (await client.get("/api/patients/sim-1")).json()["is_test"] is True
        removed = await client.delete("/api/test-data", params={"prefix": "sim-"})
        left = sorted(p["id"] for p in (await client.get("/api/patients")).json())
    assert removed.status_code == 200, removed.text
    assert removed.json()["patients"] == 2
    assert removed.json()["rows"]["bridges"] == 2
    assert left == ["anna-1", "p1", "p2", "p3"]


async def test_removal_never_touches_real_patients(hub: Any, seed: Any) -> None:
    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        removed = await client.delete("/api/test-data", params={"prefix": "p"})
        left = sorted(p["id"] for p in (await client.get("/api/patients")).json())
    assert removed.json()["patients"] == 0
    assert left == ["p1", "p2", "p3"]


async def test_readings_of_a_test_patient_carry_htest(hub: Any, seed: Any, tmp_path: Any) -> None:
    import asyncio

    from device_bridge.outbox import Outbox
    from device_bridge.uplink import Uplink
    from tests.device_bridge.test_uplink import fill

    headers = await _admin(hub, seed)
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as client:
        sim = {"id": "sim-9", "display_name": "Sim 9", "is_test": True}
        await client.post("/api/patients", json=sim)
        token = (
            await client.post("/api/bridges", json={"bridge_id": "sim-b9", "patient_id": "sim-9"})
        ).json()["token"]
        box = Outbox(tmp_path / "sim.db")
        fill(box, 2, patient="sim-9")
        stop = asyncio.Event()
        link = asyncio.create_task(
            Uplink(hub.ws_url + "/ws/bridge", "sim-b9", token, box).run(stop)
        )
        while box.depth():
            await asyncio.sleep(0.05)
        stop.set()
        await link
        box.close()
        readings = (await client.get("/api/patients/sim-9/readings")).json()
        bundle = (await client.get("/fhir/Observation?patient=sim-9")).json()
    assert len(readings) == 2 and all("simulated" in r["flags"] for r in readings)
    codes = [s["code"] for e in bundle["entry"] for s in e["resource"]["meta"]["security"]]
    assert codes == ["HTEST", "HTEST"]
