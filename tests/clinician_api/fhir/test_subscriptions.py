"""Topic-based subscriptions: websocket binding, handshake, heartbeats, notifications within 1 s
of a bridge reading, replay of missed events with $events, access, idempotent numbering."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from clinician_api.migrate import upgrade_async
from patient_hub.accounts.models import User
from patient_hub.accounts.service import principal_of
from patient_hub.bus.base import TOPIC_READINGS, Delivery
from patient_hub.bus.memory import MemoryBus
from patient_hub.db import make_engine, unit_of_work
from patient_hub.fhir.subscriptions import store as subs
from patient_hub.fhir.subscriptions.models import SubscriptionRow
from patient_hub.fhir.subscriptions.parse import parse_subscription
from patient_hub.fhir.subscriptions.worker import SubscriptionEventWorker
from patient_hub.ingest import repository
from patient_hub.runtime import HubContext
from telemed_core.values import Reading
from tests.conftest import token_for

OBS_TOPIC = "https://fhir.telemed.example/SubscriptionTopic/patient-observation-new"
FINDING_TOPIC = "https://fhir.telemed.example/SubscriptionTopic/patient-finding-new"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
WAIT_S = 5.0


UNITS = {"spo2": "%", "pulse_rate": "/min"}


def spo2(seq: int, value: float, patient: str, second: int, kind: str = "spo2") -> dict[str, Any]:
    at = (T0 + timedelta(seconds=second)).isoformat().replace("+00:00", "Z")
    return {"seq": seq, "patient_id": patient, "device_id": "ox-1", "kind": kind,
            "value": value, "unit": UNITS[kind], "measured_at": at}  # fmt: skip


class Bridge:
    """A bridge on the real ingest websocket, sending one batch at a time."""

    def __init__(self, hub: Any, bridge_id: str, token: str) -> None:
        self.hub, self.bridge_id, self.token = hub, bridge_id, token
        self.seq = 0
        self.batch = 0

    async def send(self, patient: str, values: list[float], kind: str = "spo2") -> float:
        """Send one batch of readings; return the monotonic time the batch left."""
        async with websockets.connect(self.hub.ws_url + "/ws/bridge") as ws:
            hello = {"type": "hello", "v": 1, "bridge_id": self.bridge_id, "token": self.token}
            await ws.send(json.dumps(hello))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            self.seq = max(self.seq, welcome["last_seq"])
            readings = []
            for v in values:
                self.seq += 1
                readings.append(spo2(self.seq, v, patient, self.seq, kind))
            self.batch += 1
            sent = time.monotonic()
            frame = {"type": "batch", "v": 1, "batch_id": self.batch, "readings": readings}
            await ws.send(json.dumps(frame))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] == "ack"
        return sent


def subscription(
    patient: str,
    *,
    topic: str = OBS_TOPIC,
    content: str = "full-resource",
    heartbeat_s: int | None = None,
    payload: str = "application/fhir+json",
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "websocket",
        "payload": payload,
        "_payload": {"extension": [{"url": BACKPORT + "backport-payload-content", "valueCode": content}]},
    }  # fmt: skip
    if heartbeat_s:
        url = BACKPORT + "backport-heartbeat-period"
        channel["extension"] = [{"url": url, "valueUnsignedInt": heartbeat_s}]
    criteria = {"url": BACKPORT + "backport-filter-criteria", "valueString": f"Observation?patient=Patient/{patient}"}  # fmt: skip
    return {
        "resourceType": "Subscription",
        "meta": {"profile": [BACKPORT + "backport-subscription"]},
        "status": "requested",
        "reason": "watch the patient's new data",
        "criteria": topic,
        "_criteria": {"extension": [criteria]},
        "channel": channel,
    }


class Client:
    """A FHIR client of one user."""

    def __init__(self, hub: Any, token: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=hub.url + "/fhir", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    async def subscribe(self, resource: dict[str, Any]) -> str:
        response = await self.http.post("/Subscription", json=resource)
        assert response.status_code == 201, response.text
        assert response.headers["location"].endswith(f"/Subscription/{response.json()['id']}")
        return str(response.json()["id"])

    async def binding(self, sub_id: str) -> tuple[str, str]:
        response = await self.http.get(f"/Subscription/{sub_id}/$get-ws-binding-token")
        assert response.status_code == 200, response.text
        params = {p["name"]: next(v for k, v in p.items() if k.startswith("value"))
                  for p in response.json()["parameter"]}  # fmt: skip
        assert params["subscription"] == sub_id
        return str(params["token"]), str(params["websocket-url"])

    async def status(self, sub_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/Subscription/{sub_id}/$status")
        assert response.status_code == 200, response.text
        return dict(response.json()["entry"][0]["resource"])

    async def events(self, sub_id: str, since: int, until: int) -> dict[str, Any]:
        response = await self.http.get(
            f"/Subscription/{sub_id}/$events",
            params={"eventsSinceNumber": since, "eventsUntilNumber": until},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_for_count(self, sub_id: str, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while int((await self.status(sub_id))["eventsSinceSubscriptionStart"]) < count:
                await asyncio.sleep(0.05)


async def recv_bundle(ws: Any, within_s: float = WAIT_S) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), within_s))
    assert message["resourceType"] == "Bundle", message
    Bundle.model_validate(message)
    return dict(message)


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return dict(bundle["entry"][0]["resource"])


async def bind(client: Client, sub_id: str) -> Any:
    token, url = await client.binding(sub_id)
    ws = await websockets.connect(url)
    await ws.send(f"bind-with-token {token}")
    return ws


class Clients:
    """Signed-in clients, one per user, signed in when first asked for."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.signed_in: dict[str, Client] = {}

    async def __call__(self, username: str) -> Client:
        if username not in self.signed_in:
            self.signed_in[username] = Client(self.hub, await token_for(self.hub, username))
        return self.signed_in[username]


@pytest.fixture
async def world(hub: Any, seed: Any) -> AsyncIterator[dict[str, Any]]:
    tokens: dict[str, str] = await seed(hub.settings.database_url)
    clients = Clients(hub)
    bridge = Bridge(hub, "bridge-p1", tokens["bridge-p1"])
    yield {"tokens": tokens, "client": clients, "bridge": bridge}
    for c in clients.signed_in.values():
        await c.http.aclose()


# -- the websocket channel ---------------------------------------------------------------------


async def test_bound_socket_gets_a_handshake_then_a_notification_within_1_s(
    hub: Any, world: dict[str, Any]
) -> None:
    pat1: Client = await world["client"]("pat1")
    sub_id = await pat1.subscribe(subscription("p1"))
    async with await bind(pat1, sub_id) as ws:
        handshake = await recv_bundle(ws)
        assert handshake["type"] == "subscription-notification"
        status = status_of(handshake)
        assert (status["resourceType"], status["type"], status["eventsSinceSubscriptionStart"]) == (
            "SubscriptionStatus", "handshake", "0",
        )  # fmt: skip
        assert status["subscription"]["reference"].endswith(f"/Subscription/{sub_id}")
        await Bridge(hub, "bridge-p2", world["tokens"]["bridge-p2"]).send("p2", [88])  # not p1
        sent = await world["bridge"].send("p1", [93])
        note = await recv_bundle(ws, within_s=1.0)
        latency_s = time.monotonic() - sent
    status = status_of(note)
    assert status["type"] == "event-notification" and status["eventsSinceSubscriptionStart"] == "1"
    assert [e["eventNumber"] for e in status["notificationEvent"]] == ["1"]
    focus = note["entry"][1]["resource"]
    assert status["notificationEvent"][0]["focus"]["reference"] == note["entry"][1]["fullUrl"]
    assert (focus["resourceType"], focus["valueQuantity"]["value"]) == ("Observation", 93)
    assert focus["subject"] == {"reference": "Patient/p1"}
    assert latency_s < 1.0


async def test_heartbeats_arrive_at_the_requested_period(hub: Any, world: dict[str, Any]) -> None:
    pat1: Client = await world["client"]("pat1")
    sub_id = await pat1.subscribe(subscription("p1", heartbeat_s=1))
    async with await bind(pat1, sub_id) as ws:
        assert status_of(await recv_bundle(ws))["type"] == "handshake"
        started = time.monotonic()
        beats = [status_of(await recv_bundle(ws, within_s=2.5)) for _ in range(2)]
        elapsed = time.monotonic() - started
    assert [b["type"] for b in beats] == ["heartbeat", "heartbeat"]
    assert all(b["eventsSinceSubscriptionStart"] == "0" for b in beats)
    assert 1.5 <= elapsed < 4.0


async def test_a_client_that_missed_ten_events_gets_exactly_those_with_events(
    hub: Any, world: dict[str, Any]
) -> None:
    pat1: Client = await world["client"]("pat1")
    bridge: Bridge = world["bridge"]
    sub_id = await pat1.subscribe(subscription("p1"))
    async with await bind(pat1, sub_id) as ws:
        await recv_bundle(ws)
        await bridge.send("p1", [97])
        last_seen = int(status_of(await recv_bundle(ws))["notificationEvent"][-1]["eventNumber"])
    missed = [90.0 + i for i in range(10)]
    for value in missed:  # ten batches while no socket is bound
        await bridge.send("p1", [value])
    await pat1.wait_for_count(sub_id, last_seen + 10)
    async with await bind(pat1, sub_id) as ws:
        handshake = status_of(await recv_bundle(ws))
    total = int(handshake["eventsSinceSubscriptionStart"])
    assert total == last_seen + 10
    replay = await pat1.events(sub_id, last_seen + 1, total)
    status = status_of(replay)
    assert status["type"] == "query-event"
    numbers = [int(e["eventNumber"]) for e in status["notificationEvent"]]
    assert numbers == list(range(last_seen + 1, last_seen + 11))
    assert [e["resource"]["valueQuantity"]["value"] for e in replay["entry"][1:]] == missed


async def test_findings_topic_notifies_a_new_finding(hub: Any, world: dict[str, Any]) -> None:
    nurse: Client = await world["client"]("nurse-a")
    sub_id = await nurse.subscribe(subscription("p1", topic=FINDING_TOPIC))
    stream = [97.0] * 180 + [86.0] * 90  # a sustained desaturation at 1 Hz
    async with await bind(nurse, sub_id) as ws:
        await recv_bundle(ws)
        await world["bridge"].send("p1", stream)
        note = await recv_bundle(ws, within_s=15)
    focus = note["entry"][1]["resource"]
    assert status_of(note)["type"] == "event-notification"
    assert focus["id"].startswith("f-") and focus["code"]["coding"][0]["code"].startswith("spo2")
    assert focus["category"][0]["coding"][0]["code"] == "finding"


async def test_r4_clients_get_history_bundles_with_parameters(
    hub: Any, world: dict[str, Any]
) -> None:
    pat1: Client = await world["client"]("pat1")
    sub = subscription("p1", content="id-only", payload="application/fhir+json; fhirVersion=4.0")
    sub_id = await pat1.subscribe(sub)
    async with await bind(pat1, sub_id) as ws:
        handshake = await recv_bundle(ws)
        await world["bridge"].send("p1", [95])
        note = await recv_bundle(ws)
    assert handshake["type"] == "history"
    params = {p["name"]: p for p in status_of(note)["parameter"]}
    assert status_of(note)["resourceType"] == "Parameters"
    assert params["type"]["valueCode"] == "event-notification"
    parts = {p["name"]: p for p in params["notification-event"]["part"]}
    assert parts["event-number"]["valueString"] == "1"
    assert parts["focus"]["valueReference"]["reference"].split("/")[-2] == "Observation"
    assert len(note["entry"]) == 1  # id-only: no resources


# -- access ------------------------------------------------------------------------------------------


async def test_a_patient_cannot_subscribe_to_another_patient(
    hub: Any, world: dict[str, Any]
) -> None:
    client = world["client"]
    other = await (await client("pat1")).http.post("/Subscription", json=subscription("p2"))
    assert other.status_code == 404 and other.json()["resourceType"] == "OperationOutcome"
    responder = await (await client("resp")).http.post("/Subscription", json=subscription("p1"))
    assert responder.status_code == 404
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert (
            await anonymous.post("/fhir/Subscription", json=subscription("p1"))
        ).status_code == 401
    assert await (await client("cardio")).subscribe(subscription("p3"))


async def test_only_the_owner_reads_or_binds_a_subscription(
    hub: Any, world: dict[str, Any]
) -> None:
    nurse, pat1 = await world["client"]("nurse-a"), await world["client"]("pat1")
    sub_id = await nurse.subscribe(subscription("p1"))
    for path in ("", "/$status", "/$events", "/$get-ws-binding-token"):
        response = await pat1.http.get(f"/Subscription/{sub_id}{path}")
        assert response.status_code == 404, path
    token, url = await nurse.binding(sub_id)
    async with httpx.AsyncClient(base_url=hub.url) as c:  # a binding token is no access token
        misuse = await c.get("/api/patients", headers={"Authorization": f"Bearer {token}"})
    assert misuse.status_code == 401
    async with websockets.connect(url) as ws:
        await ws.send("bind-with-token not-a-token")
        error = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert error["resourceType"] == "OperationOutcome" and error["issue"][0]["code"] == "login"


@pytest.mark.parametrize(
    ("edit", "status"),
    [
        (lambda s: s["channel"].update(type="rest-hook", endpoint="https://x.example/hook"), 422),
        (lambda s: s.update(criteria="https://x.example/SubscriptionTopic/other"), 422),
        (lambda s: s.pop("reason"), 400),
        (
            lambda s: s["_criteria"]["extension"][0].update(valueString="Observation?code=8867-4"),
            422,
        ),
        (
            lambda s: s["_criteria"]["extension"][0].update(
                valueString="Observation?patient=p1&x=1"
            ),
            400,
        ),
    ],
    ids=["rest-hook", "unknown-topic", "no-reason", "no-patient", "unknown-filter"],
)
async def test_subscriptions_the_hub_cannot_serve_are_refused(
    hub: Any, world: dict[str, Any], edit: Any, status: int
) -> None:
    sub = subscription("p1")
    edit(sub)
    pat1: Client = await world["client"]("pat1")
    response = await pat1.http.post("/Subscription", json=sub)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_a_code_filter_narrows_the_stream(hub: Any, world: dict[str, Any]) -> None:
    pat1: Client = await world["client"]("pat1")
    everything = await pat1.subscribe(subscription("p1"))
    pulse_only = subscription("p1")
    pulse_only["_criteria"]["extension"][0]["valueString"] += "&code=http://loinc.org|8867-4"
    pulse = await pat1.subscribe(pulse_only)
    await world["bridge"].send("p1", [96])  # SpO2
    await world["bridge"].send("p1", [64], kind="pulse_rate")
    await pat1.wait_for_count(everything, 2)  # both batches are numbered by now
    replay = await pat1.events(pulse, 1, 10)
    assert [e["resource"]["code"]["coding"][0]["code"] for e in replay["entry"][1:]] == ["8867-4"]
    assert status_of(replay)["eventsSinceSubscriptionStart"] == "1"


async def test_deleted_subscription_is_gone(hub: Any, world: dict[str, Any]) -> None:
    pat1: Client = await world["client"]("pat1")
    sub_id = await pat1.subscribe(subscription("p1"))
    assert (await pat1.http.delete(f"/Subscription/{sub_id}")).status_code == 204
    assert (await pat1.http.get(f"/Subscription/{sub_id}")).status_code == 404


# -- numbering ---------------------------------------------------------------------------------------


async def test_a_redelivered_bus_message_is_numbered_once(tmp_path: Path, seed: Any) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    await upgrade_async(url)
    await seed(url)
    engine = make_engine(url)
    hub = HubContext.build(engine, MemoryBus())
    readings = [Reading.model_validate(spo2(i, 90 + i, "p1", i)) for i in (1, 2, 3)]
    async with unit_of_work(hub.sessions) as s:
        await repository.insert_readings(s, "bridge-p1", readings, T0)
        admin = await s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        body = subscription("p1")
        sub = await subs.create_subscription(
            s, body, parse_subscription(body), principal_of(admin), T0
        )
    payload = {"bridge_id": "bridge-p1", "readings": [r.model_dump(mode="json") for r in readings]}
    worker = SubscriptionEventWorker(hub, "c1")
    await worker.handle(TOPIC_READINGS, [Delivery("1", payload)])
    await worker.handle(TOPIC_READINGS, [Delivery("1", payload)])  # at-least-once: again
    async with unit_of_work(hub.sessions) as s:
        logged = await subs.events_between(s, sub.id, 1, None)
        row = await s.get(SubscriptionRow, sub.id)
    await engine.dispose()
    assert [e.event_number for e in logged] == [1, 2, 3]
    assert row is not None and row.events_count == 3 and worker.recorded == 3
    assert [e.focus["valueQuantity"]["value"] for e in logged] == [91, 92, 93]


# -- PostgreSQL + Redis ------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
async def test_subscription_path_on_postgres_and_redis(
    run_hub: Any, postgres_url: str, redis_url: str, seed: Any
) -> None:
    running = await run_hub(postgres_url, redis_url)
    try:
        tokens = await seed(postgres_url)
        pat1 = Client(running, await token_for(running, "pat1"))
        bridge = Bridge(running, "bridge-p1", tokens["bridge-p1"])
        sub_id = await pat1.subscribe(subscription("p1"))
        async with await bind(pat1, sub_id) as ws:
            await recv_bundle(ws)
            sent = await bridge.send("p1", [94])
            note = await recv_bundle(ws, within_s=1.0)
            latency_s = time.monotonic() - sent
        for value in (91.0, 92.0, 93.0):
            await bridge.send("p1", [value])
        await pat1.wait_for_count(sub_id, 4)
        replay = await pat1.events(sub_id, 2, 4)
        await pat1.http.aclose()
    finally:
        await running.stop()
    assert status_of(note)["notificationEvent"][0]["eventNumber"] == "1" and latency_s < 1.0
    assert [e["resource"]["valueQuantity"]["value"] for e in replay["entry"][1:]] == [91, 92, 93]
