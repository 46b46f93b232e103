"""Live delivery over /ws/dispatch on a real hub: offers pushed, a reconnecting page gets its
state back, the bus carries it between API processes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.alerts.dispatch.test_endpoints import login, new_incident, on_duty_at, world


async def socket_of(hub: Any, headers: dict[str, str]) -> Any:
    token = headers["Authorization"].split()[1]
    ws = await websockets.connect(f"{hub.ws_url}/ws/dispatch?access_token={token}")
    return ws


async def next_frame(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == kind:
            return dict(frame)


async def test_an_offer_is_pushed_to_the_responders_socket(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        async with await socket_of(hub, me) as ws:
            hello = await next_frame(ws, "hello")
            assert hello["current"]["offers"] == [] and hello["current"]["on_duty"] is True
            inc = await new_incident(client)
            frame = await next_frame(ws, "offer")
    assert frame["offer"]["incident_id"] == inc["id"]


async def test_a_reconnecting_page_gets_its_offer_and_then_its_incident_back(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        inc = await new_incident(client)
        async with await socket_of(hub, me) as ws:
            hello = await next_frame(ws, "hello")
        assert [o["incident_id"] for o in hello["current"]["offers"]] == [inc["id"]]
        await client.post(f"/api/incidents/{inc['id']}/accept", headers=me)
        async with await socket_of(hub, me) as ws:
            hello = await next_frame(ws, "hello")
    assert hello["current"]["incident"]["id"] == inc["id"]
    assert hello["current"]["incident"]["address"] == inc["address"]


async def test_the_dispatcher_console_sees_answers_live(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        async with await socket_of(hub, await login(client, "disp")) as ws:
            await next_frame(ws, "hello")
            inc = await new_incident(client)
            await client.post(f"/api/incidents/{inc['id']}/decline", headers=me)
            kinds = [(await next_frame(ws, "incident"))["kind"] for _ in range(4)]
    assert kinds == ["created", "offered", "declined", "exhausted"]


async def test_a_socket_without_a_valid_token_is_refused(hub: Any) -> None:
    async with websockets.connect(f"{hub.ws_url}/ws/dispatch?access_token=nope") as ws:
        frame = json.loads(await ws.recv())
        assert frame["type"] == "error" and frame["code"] == "unauthenticated"
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()


@pytest.mark.redis
@pytest.mark.postgres
async def test_an_offer_made_through_one_api_process_reaches_a_phone_on_another(
    postgres_url: str, redis_url: str, run_hub: Any
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    one = await run_hub(postgres_url, redis_url, bus_prefix=prefix)
    other = await run_hub(postgres_url, redis_url, bus_prefix=prefix)
    try:
        await world(postgres_url, 1)
        async with httpx.AsyncClient(base_url=one.url, timeout=30) as client:
            me = await on_duty_at(client, "fr0", 100)
            async with await socket_of(other, me) as ws:
                await next_frame(ws, "hello")
                inc = await new_incident(client)
                frame = await next_frame(ws, "offer")
        assert frame["offer"]["incident_id"] == inc["id"]
    finally:
        await one.stop()
        await other.stop()


async def test_an_unanswered_offer_expires_and_the_next_ring_is_offered_by_the_timer(
    tmp_path: Any, run_hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEMED_DISPATCH_PHASE_S", "1")
    monkeypatch.setenv("TELEMED_DISPATCH_TICK_S", "0.2")
    hub = await run_hub(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        await world(hub.settings.database_url, 2)
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
            near = await on_duty_at(client, "fr0", 100)
            far = await on_duty_at(client, "fr1", 1200)  # outside 800 m, inside the next ring
            async with await socket_of(hub, near) as a, await socket_of(hub, far) as b:
                await next_frame(a, "hello")
                await next_frame(b, "hello")
                inc = await new_incident(client)
                assert [o["username"] for o in inc["offers"]] == ["fr0"]
                closed = await next_frame(a, "offer_closed")
                offer = await next_frame(b, "offer")
        assert closed == {"type": "offer_closed", "incident_id": inc["id"], "reason": "expired"}
        assert offer["offer"]["incident_id"] == inc["id"]
    finally:
        await hub.stop()
