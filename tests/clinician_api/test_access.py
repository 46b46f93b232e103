"""Who sees what, through the REST API and the monitor websocket, over a real socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import token_for


async def send_readings(
    hub: Any, bridge: str, token: str, patient: str, values: list[float]
) -> None:
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "bridge_id": bridge, "token": token}))
        welcome = json.loads(await ws.recv())
        readings = [
            {
                "seq": welcome["last_seq"] + i + 1,
                "patient_id": patient,
                "device_id": "ox-1",
                "kind": "spo2",
                "value": v,
                "unit": "%",
                "measured_at": f"2026-11-27T10:00:{i:02d}Z",
            }
            for i, v in enumerate(values)
        ]
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": readings}))
        assert json.loads(await ws.recv())["type"] == "ack"


@pytest.fixture
async def world(hub: Any, seed: Any) -> dict[str, str]:
    tokens: dict[str, str] = await seed(hub.settings.database_url)
    await send_readings(hub, "bridge-p1", tokens["bridge-p1"], "p1", [97, 96])
    await send_readings(hub, "bridge-p2", tokens["bridge-p2"], "p2", [91])
    await send_readings(hub, "bridge-p3", tokens["bridge-p3"], "p3", [99])
    return tokens


@pytest.mark.parametrize(
    ("username", "visible"),
    [
        ("pat1", {"p1"}),
        ("nurse-a", {"p1", "p2"}),
        ("cardio", {"p3"}),
        ("resp", set()),
        ("admin", {"p1", "p2", "p3"}),
    ],
)
async def test_patient_list_follows_role_and_relation(
    hub: Any, world: dict[str, str], username: str, visible: set[str]
) -> None:
    token = await token_for(hub, username)
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        response = await c.get("/api/patients")
    assert response.status_code == 200
    assert {p["id"] for p in response.json()} == visible


async def test_a_patient_never_sees_another_patients_readings(
    hub: Any, world: dict[str, str]
) -> None:
    token = await token_for(hub, "pat1")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        own = await c.get("/api/patients/p1/readings")
        other = await c.get("/api/patients/p2/readings")
        missing = await c.get("/api/patients/nope/readings")
    assert own.status_code == 200 and sorted(r["value"] for r in own.json()) == [96, 97]
    assert other.status_code == 404 and missing.status_code == 404
    assert other.json()["detail"] == "no patient 'p2'"


async def test_readings_filter_by_kind_and_since(hub: Any, world: dict[str, str]) -> None:
    token = await token_for(hub, "admin")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        later = await c.get(
            "/api/patients/p1/readings", params={"kind": "spo2", "since": "2026-11-27T10:00:01Z"}
        )
        none = await c.get("/api/patients/p1/readings", params={"kind": "heart_rate"})
        naive = await c.get("/api/patients/p1/readings", params={"since": "2026-11-27T10:00:01"})
        bad_kind = await c.get("/api/patients/p1/readings", params={"kind": "mood"})
    assert [r["value"] for r in later.json()] == [96]
    assert none.json() == []
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    assert bad_kind.status_code == 422


async def test_api_refuses_missing_and_forged_tokens(hub: Any, world: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as c:
        anonymous = await c.get("/api/patients")
        forged = await c.get("/api/patients", headers={"Authorization": "Bearer abc.def.ghi"})
        wrong_pw = await c.post("/auth/token", data={"username": "admin", "password": "nope"})
    assert anonymous.status_code == forged.status_code == wrong_pw.status_code == 401


async def test_only_admins_enrol_bridges(hub: Any, world: dict[str, str]) -> None:
    token = await token_for(hub, "nurse-a")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        response = await c.post("/api/bridges", json={"bridge_id": "x", "patient_id": "p1"})
    assert response.status_code == 403


async def test_monitor_socket_pushes_only_visible_patients(hub: Any, world: dict[str, str]) -> None:
    token = await token_for(hub, "pat1")
    async with websockets.connect(f"{hub.ws_url}/ws/monitor?access_token={token}") as monitor:
        assert json.loads(await monitor.recv())["type"] == "hello"
        await send_readings(hub, "bridge-p2", world["bridge-p2"], "p2", [88])
        await send_readings(hub, "bridge-p1", world["bridge-p1"], "p1", [95, 94])
        frame = json.loads(await asyncio.wait_for(monitor.recv(), 5))
    assert frame["type"] == "readings"
    assert [(r["patient_id"], r["value"]) for r in frame["readings"]] == [("p1", 95), ("p1", 94)]


async def test_monitor_socket_refuses_without_a_token(hub: Any, world: dict[str, str]) -> None:
    async with websockets.connect(f"{hub.ws_url}/ws/monitor") as monitor:
        frame = json.loads(await monitor.recv())
        await monitor.wait_closed()
    assert frame["type"] == "error" and monitor.close_code == 1008
