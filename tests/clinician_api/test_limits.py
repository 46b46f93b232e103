"""Limits with clear answers, over a real socket: 413, 429 with Retry-After, websocket frame size,
connections per bridge and per user (clinician_api/limits.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import RunningHub, start_hub, token_for


async def _hub(tmp_path: Path, **overrides: Any) -> RunningHub:
    return await start_hub(f"sqlite:///{tmp_path / 'hub.db'}", **overrides)


@pytest.fixture
async def small_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = await _hub(
        tmp_path,
        max_body_bytes=4096,
        max_ws_frame_bytes=2048,
        max_connections_per_bridge=1,
        max_connections_per_user=1,
    )
    yield running
    await running.stop()


async def _hello(url: str, bridge: str, token: str) -> Any:
    ws = await websockets.connect(url + "/ws/bridge")
    await ws.send(json.dumps({"type": "hello", "v": 1, "bridge_id": bridge, "token": token}))
    return ws


async def test_body_over_the_limit_with_content_length_is_413_problem(
    small_hub: RunningHub,
) -> None:
    async with httpx.AsyncClient(base_url=small_hub.url) as client:
        response = await client.post("/api/patients", content=b"{" + b" " * 5000 + b"}")
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


async def test_streamed_body_over_the_limit_is_413(small_hub: RunningHub) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async with httpx.AsyncClient(base_url=small_hub.url) as client:
        response = await client.post(
            "/api/patients", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_fhir_body_over_the_limit_is_413_operation_outcome(small_hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=small_hub.url) as client:
        response = await client.post("/fhir", content=b"{" + b" " * 5000 + b"}")
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_requests_over_the_ip_rate_get_429_with_retry_after(tmp_path: Path) -> None:
    running = await _hub(tmp_path, rate_limit_ip_per_min=3)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            answers = [await client.get("/api/me") for _ in range(4)]
    finally:
        await running.stop()
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["retry-after"]) == 20  # 3 per minute: one every 20 s
    assert answers[-1].json()["title"] == "throttled"


async def test_a_signed_in_user_has_a_bucket_of_their_own(tmp_path: Path, seed: Any) -> None:
    running = await _hub(tmp_path, rate_limit_ip_per_min=2, rate_limit_user_per_min=5)
    try:
        await seed(running.settings.database_url)
        token = await token_for(running, "admin")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=running.url, headers=headers) as client:
            codes = [(await client.get("/api/me")).status_code for _ in range(6)]
    finally:
        await running.stop()
    assert codes == [200] * 5 + [429]


async def test_static_files_are_not_rate_limited(tmp_path: Path) -> None:
    running = await _hub(tmp_path, rate_limit_ip_per_min=1)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            codes = [(await client.get("/static/style.css")).status_code for _ in range(3)]
    finally:
        await running.stop()
    assert codes == [200, 200, 200]


async def test_oversized_bridge_frame_gets_a_protocol_error_and_close_1009(
    small_hub: RunningHub, seed: Any
) -> None:
    tokens = await seed(small_hub.settings.database_url)
    ws = await _hello(small_hub.ws_url, "bridge-p1", tokens["bridge-p1"])
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(json.dumps({"type": "heartbeat", "v": 1, "pad": "x" * 3000}))
    error = json.loads(await ws.recv())
    assert (error["type"], error["code"]) == ("error", "frame_too_large")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_second_connection_of_the_same_bridge_is_refused(
    small_hub: RunningHub, seed: Any
) -> None:
    tokens = await seed(small_hub.settings.database_url)
    first = await _hello(small_hub.ws_url, "bridge-p1", tokens["bridge-p1"])
    assert json.loads(await first.recv())["type"] == "welcome"
    second = await _hello(small_hub.ws_url, "bridge-p1", tokens["bridge-p1"])
    refusal = json.loads(await second.recv())
    assert (refusal["type"], refusal["code"]) == ("error", "too_many_connections")
    await first.send(json.dumps({"type": "heartbeat", "v": 1, "sent_at": "2026-12-07T10:00:00Z"}))
    assert json.loads(await first.recv())["type"] == "heartbeat"
    await first.close()


async def test_a_bridge_may_reconnect_after_its_connection_closed(
    small_hub: RunningHub, seed: Any
) -> None:
    tokens = await seed(small_hub.settings.database_url)
    first = await _hello(small_hub.ws_url, "bridge-p1", tokens["bridge-p1"])
    assert json.loads(await first.recv())["type"] == "welcome"
    await first.close()
    await first.wait_closed()
    again = await _hello(small_hub.ws_url, "bridge-p1", tokens["bridge-p1"])
    assert json.loads(await again.recv())["type"] == "welcome"
    await again.close()


async def test_a_second_monitor_socket_of_the_same_user_is_refused(
    small_hub: RunningHub, seed: Any
) -> None:
    await seed(small_hub.settings.database_url)
    token = await token_for(small_hub, "admin")
    url = f"{small_hub.ws_url}/ws/monitor?access_token={token}"
    first = await websockets.connect(url)
    assert json.loads(await first.recv())["type"] == "hello"
    second = await websockets.connect(url)
    refusal = json.loads(await second.recv())
    assert (refusal["type"], refusal["code"]) == ("error", "too_many_connections")
    await first.close()
