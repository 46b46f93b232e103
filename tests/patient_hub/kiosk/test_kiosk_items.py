"""Kiosk items over the bridge socket: registrations merge without duplicates, readings of a
kiosk's own patient id land on the merged patient, teleconsultation requests become tasks."""

from __future__ import annotations

import json
from typing import Any

import httpx
import websockets
from sqlalchemy import select, update

from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.ingest.models import Bridge, ReadingRow
from patient_hub.kiosk.models import KioskRegistration
from patient_hub.patients.models import Patient

NOW = "2026-12-07T09:00:00Z"


def registration(seq: int, local_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "patient_id": local_id,
        "family_name": "Nováková",
        "given_name": "Jana",
        "birth_date": "1955-03-12",
        "sex": "female",
        "national_id": "555312/0012",
        "consent_at": NOW,
        "id_checked": True,
        "registered_at": NOW,
        "registered_by": "nurse-a",
        **fields,
    }


def reading(seq: int, patient: str, value: float = 97) -> dict[str, Any]:
    return {
        "seq": seq,
        "patient_id": patient,
        "device_id": "ox-1",
        "kind": "spo2",
        "value": value,
        "unit": "%",
        "measured_at": NOW,
    }


async def send(hub: Any, token: str, batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    replies = []
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "kiosk-a", "token": token}
        await ws.send(json.dumps(hello))
        assert json.loads(await ws.recv())["type"] == "welcome"
        for i, body in enumerate(batches, 1):
            await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": i, **body}))
            replies.append(json.loads(await ws.recv()))
    return replies


async def rows(database_url: str, model: Any) -> list[Any]:
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            return list(await s.scalars(select(model)))
    finally:
        await engine.dispose()


async def test_offline_registration_creates_the_patient_at_the_kiosks_telemedpoint(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    body = {"patients": [registration(1, "kp-new1")], "readings": [reading(2, "kp-new1")]}
    [ack] = await send(hub, tokens["kiosk-a"], [body])
    assert ack["type"] == "ack" and ack["stored"] == 1
    patient = next(p for p in await rows(hub.settings.database_url, Patient) if p.id == "kp-new1")
    assert (patient.national_id, patient.telemedpoint_id) == ("5553120012", "tmp-a")
    [stored] = await rows(hub.settings.database_url, ReadingRow)
    assert stored.patient_id == "kp-new1"


async def test_registration_of_a_known_birth_number_is_merged_and_readings_follow_it(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    engine = make_engine(hub.settings.database_url)
    async with unit_of_work(make_sessionmaker(engine)) as s:
        await s.execute(update(Patient).where(Patient.id == "p3").values(national_id="5553120012"))
    await engine.dispose()
    body = {"patients": [registration(1, "kp-x")], "readings": [reading(2, "kp-x")]}
    [ack] = await send(hub, tokens["kiosk-a"], [body])
    assert ack["type"] == "ack"
    patients = await rows(hub.settings.database_url, Patient)
    assert "kp-x" not in {p.id for p in patients}
    [stored] = await rows(hub.settings.database_url, ReadingRow)
    assert stored.patient_id == "p3"


async def test_registration_merges_by_name_and_birth_date_when_no_birth_number(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    engine = make_engine(hub.settings.database_url)
    async with unit_of_work(make_sessionmaker(engine)) as s:
        await s.execute(
            update(Patient)
            .where(Patient.id == "p2")
            .values(family_name="Nováková", given_name="Jana", birth_date=_date("1955-03-12"))
        )
    await engine.dispose()
    [ack] = await send(
        hub, tokens["kiosk-a"], [{"patients": [registration(1, "kp-y", national_id=None)]}]
    )
    assert ack["type"] == "ack"
    [link] = await rows(hub.settings.database_url, KioskRegistration)
    assert (link.patient_id, link.merged) == ("p2", True)


async def test_a_replayed_registration_and_reading_are_stored_once(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    body = {"patients": [registration(1, "kp-z")], "readings": [reading(2, "kp-z")]}
    first, again = await send(hub, tokens["kiosk-a"], [body, body])
    assert (first["stored"], again["stored"], again["duplicates"]) == (1, 0, 1)
    assert len([p for p in await rows(hub.settings.database_url, Patient) if p.id == "kp-z"]) == 1
    assert len(await rows(hub.settings.database_url, KioskRegistration)) == 1


async def test_an_invalid_birth_number_refuses_the_whole_batch(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    bad = registration(1, "kp-bad", national_id="555312/0013")  # fails modulo 11
    [reply] = await send(
        hub, tokens["kiosk-a"], [{"patients": [bad], "readings": [reading(2, "kp-bad")]}]
    )
    assert reply["type"] == "error" and "11" in reply["message"]
    assert await rows(hub.settings.database_url, ReadingRow) == []


async def test_a_home_bridge_cannot_register_patients(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        await ws.recv()
        batch = {"type": "batch", "v": 1, "batch_id": 1, "patients": [registration(1, "kp-q")]}
        await ws.send(json.dumps(batch))
        reply = json.loads(await ws.recv())
    assert reply["type"] == "error" and reply["code"] == "forbidden"


async def test_a_consult_request_becomes_a_task_with_the_visit_readings(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    consult = {
        "seq": 3,
        "request_id": "c-1",
        "patient_id": "kp-c",
        "addressee": "treating_doctor",
        "reason": "BP 185/112 twice",
        "visit_id": "v-1",
        "visit_started_at": "2026-12-07T08:59:00Z",
        "visit_ended_at": "2026-12-07T09:10:00Z",
        "requested_by": "nurse-a",
        "requested_at": NOW,
    }
    body = {
        "patients": [registration(1, "kp-c")],
        "readings": [reading(2, "kp-c")],
        "consults": [consult],
    }
    [ack] = await send(hub, tokens["kiosk-a"], [body])
    assert ack["type"] == "ack"
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post(
            "/auth/token", data={"username": "nurse-a", "password": "pw-nurse-a"}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        tasks = (await client.get("/api/teleconsults", headers=headers)).json()
        detail = (await client.get("/api/teleconsults/c-1", headers=headers)).json()
        done = await client.post(
            "/api/teleconsults/c-1",
            json={"status": "accepted", "video_url": "https://meet.example/abc"},
            headers=headers,
        )
    assert [t["id"] for t in tasks] == ["c-1"]
    assert [r["value"] for r in detail["readings"]] == [97]
    assert done.json()["video_url"] == "https://meet.example/abc"


async def test_kiosk_enrolment_token_is_spent_once(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post("/auth/token", data={"username": "admin", "password": "pw-admin"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = await client.post(
            "/api/kiosks/enrolment-tokens", json={"telemedpoint_id": "tmp-b"}, headers=headers
        )
        token = made.json()["enrolment_token"]
        first = await client.post("/api/kiosks/enrol", json={"enrolment_token": token})
        second = await client.post("/api/kiosks/enrol", json={"enrolment_token": token})
    assert first.status_code == 201 and first.json()["telemedpoint_id"] == "tmp-b"
    assert second.status_code == 401


async def test_the_hub_records_when_a_kiosk_was_last_heard_from(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    await send(hub, tokens["kiosk-a"], [{"readings": [reading(1, "p1")]}])
    kiosk = next(b for b in await rows(hub.settings.database_url, Bridge) if b.id == "kiosk-a")
    assert kiosk.last_seen_at is not None


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


async def test_readings_of_a_patient_registered_on_another_connection_follow_the_merge(
    hub: Any, seed: Any
) -> None:
    """The kiosk's id mapping is cached per connection: a registration made meanwhile (here on
    the bridge's second connection) must still map the next readings of that id."""
    tokens = await seed(hub.settings.database_url)
    engine = make_engine(hub.settings.database_url)
    async with unit_of_work(make_sessionmaker(engine)) as s:
        await s.execute(update(Patient).where(Patient.id == "p3").values(national_id="5553120012"))
    await engine.dispose()
    hello = {"type": "hello", "v": 1, "bridge_id": "kiosk-a", "token": tokens["kiosk-a"]}
    async with websockets.connect(hub.ws_url + "/ws/bridge") as first:
        await first.send(json.dumps(hello))
        assert json.loads(await first.recv())["type"] == "welcome"
        await first.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1,
                                     "readings": [reading(1, "p1")]}))  # fmt: skip
        assert json.loads(await first.recv())["stored"] == 1  # the mapping is cached now
        [ack] = await send(hub, tokens["kiosk-a"], [{"patients": [registration(2, "kp-m")]}])
        assert ack["type"] == "ack"
        await first.send(json.dumps({"type": "batch", "v": 1, "batch_id": 2,
                                     "readings": [reading(3, "kp-m", 93)]}))  # fmt: skip
        reply = json.loads(await first.recv())
    assert (reply["type"], reply["stored"]) == ("ack", 1)
    stored = {r.seq: r.patient_id for r in await rows(hub.settings.database_url, ReadingRow)}
    assert stored == {1: "p1", 3: "p3"}
