"""A stock FHIR client (fhirpy's AsyncFHIRClient, unmodified) against a real hub.

Readings arrive the way a bridge sends them (protocol v1 over the bridge websocket); the
client then searches, pages by following the server's next links, counts and reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, OperationOutcome, ResourceNotFound

LOINC_HR = "http://loinc.org|8867-4"
START = datetime(2026, 11, 26, tzinfo=UTC)


async def send_heart_rates(hub: Any, bridge: str, token: str, patient: str, n: int) -> None:
    """``n`` heart rates of ``patient``, one every 30 minutes from START, in one batch."""
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "bridge_id": bridge, "token": token}))
        welcome = json.loads(await ws.recv())
        readings = [
            {
                "seq": welcome["last_seq"] + i + 1,
                "patient_id": patient,
                "device_id": f"hr-{patient}",
                "kind": "heart_rate",
                "value": 60 + i % 30,
                "unit": "/min",
                "measured_at": (START + timedelta(minutes=30 * i)).isoformat(),
            }
            for i in range(n)
        ]
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": readings}))
        assert json.loads(await ws.recv())["type"] == "ack"


async def client_for(hub: Any, username: str) -> AsyncFHIRClient:
    async with httpx.AsyncClient(base_url=hub.url) as c:
        r = await c.post("/auth/token", data={"username": username, "password": f"pw-{username}"})
    return AsyncFHIRClient(f"{hub.url}/fhir", authorization=f"Bearer {r.json()['access_token']}")


@pytest.fixture
async def world(hub: Any, seed: Any) -> Any:
    tokens = await seed(hub.settings.database_url)
    await send_heart_rates(hub, "bridge-p1", tokens["bridge-p1"], "p1", 96)  # two days
    await send_heart_rates(hub, "bridge-p2", tokens["bridge-p2"], "p2", 4)
    return hub


async def test_fhirpy_searches_a_date_range_pages_through_it_and_reads(world: Any) -> None:
    client = await client_for(world, "nurse-a")
    day_one = (
        client.resources("Observation")
        .search(patient="Patient/p1", code=LOINC_HR)
        .search(date__ge="2026-11-26", date__lt="2026-11-27")
        .sort("date")
        .limit(10)  # 48 results: five pages, the client follows the server's next links
    )
    everything = await day_one.fetch_all()
    iterated = [obs async for obs in day_one]
    first = await day_one.first()
    assert await day_one.count() == 48
    assert len(everything) == 48 and len({o.id for o in everything}) == 48
    assert [o.id for o in iterated] == [o.id for o in everything]
    assert everything[0].effectiveDateTime == "2026-11-26T00:00:00Z"
    assert everything[-1].effectiveDateTime == "2026-11-26T23:30:00Z"
    assert first is not None and first.id == everything[0].id
    read = await client.reference("Observation", everything[5].id).to_resource()
    patient = await client.reference("Patient", "p1").to_resource()
    assert read.valueQuantity.value == everything[5].valueQuantity.value
    assert read.subject.reference == "Patient/p1" and patient.name[0].text == "Patient p1"


async def test_fhirpy_gets_the_servers_errors_as_its_exceptions(world: Any) -> None:
    patient = await client_for(world, "pat1")
    anonymous = AsyncFHIRClient(f"{world.url}/fhir")
    with pytest.raises(ResourceNotFound):
        await patient.reference("Patient", "p2").to_resource()
    with pytest.raises(AuthorizationError):
        await anonymous.resources("Observation").fetch()
    with pytest.raises(OperationOutcome, match="colour"):
        await patient.resources("Observation").search(colour="red").fetch()
    others = await patient.resources("Observation").search(patient="Patient/p2").fetch()
    assert others == []
