"""Structured JSON logs of the server: request and bridge ids on every line, no secrets."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from patient_hub import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's JSON lines, as ``telemed serve`` configures them, in a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("all", "node-test", "INFO", stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_json_with_its_context_and_no_secret(captured: io.StringIO) -> None:
    token = logs.REQUEST_ID.set("req-1")
    try:
        logging.getLogger("telemed.test").warning(
            "cannot reach postgresql://hub:s3cret-pw@db/telemed with Bearer abc.def.ghi",
            extra={"password": "hunter22", "bridge_token": "tok-xyz", "attempt": 3},
        )
    finally:
        logs.REQUEST_ID.reset(token)
    (line,) = lines(captured)
    assert line["level"] == "warning" and line["logger"] == "telemed.test"
    assert (line["role"], line["node"], line["request_id"]) == ("all", "node-test", "req-1")
    assert line["attempt"] == 3 and line["password"] == "***" and line["bridge_token"] == "***"
    text = captured.getvalue()
    for secret in ("s3cret-pw", "abc.def.ghi", "hunter22", "tok-xyz"):
        assert secret not in text
    assert "postgresql://hub:***@db/telemed" in line["msg"]


async def test_requests_carry_their_id_and_are_logged_without_query_or_password(
    hub: Any, seed: Any, captured: io.StringIO
) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        reply = await client.post(
            "/auth/token",
            data={"username": "nurse", "password": "Wrong-Password-77"},
            headers={"X-Request-ID": "req-abc"},
        )
        fresh = await client.get("/healthz")
    assert reply.status_code == 401 and reply.headers["x-request-id"] == "req-abc"
    assert len(fresh.headers["x-request-id"]) == 32  # none given: a new one
    async with websockets.connect(hub.ws_url + "/ws/monitor?access_token=leaked-token-1") as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.recv()  # refused: the token is not valid
    access = [x for x in lines(captured) if x["logger"] == "telemed.access"]
    signin = next(x for x in access if x.get("request_id") == "req-abc")
    assert (signin["method"], signin["path"], signin["status"]) == ("POST", "/auth/token", 401)
    assert any(x["path"] == "/ws/monitor" and x["method"] == "WEBSOCKET" for x in access)
    text = captured.getvalue()
    assert "Wrong-Password-77" not in text and "leaked-token-1" not in text


async def test_bridge_lines_carry_the_bridge_id_and_never_its_token(
    hub: Any, seed: Any, captured: io.StringIO
) -> None:
    tokens = await seed(hub.settings.database_url)
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        await ws.recv()
        foreign = {"seq": 1, "patient_id": "p2", "device_id": "ox-1", "kind": "spo2",
                   "value": 97, "unit": "%", "measured_at": "2026-12-07T08:00:00Z"}  # fmt: skip
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 7, "readings": [foreign]}))
        error = json.loads(await ws.recv())
    assert error["type"] == "error"
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        await ws.send(json.dumps({**hello, "token": "not-the-token-42"}))
        await ws.recv()
    got = lines(captured)
    refused = next(x for x in got if x["msg"].startswith("frame refused"))
    assert (refused["bridge_id"], refused["batch_id"], refused["code"]) == (
        "bridge-p1",
        7,
        "forbidden",
    )
    assert refused["request_id"]  # the socket's request id
    assert any(x["msg"] == "bridge connected" and x["bridge_id"] == "bridge-p1" for x in got)
    wrong = next(x for x in got if x["msg"].startswith("bridge refused"))
    assert wrong["claimed"] == "bridge-p1" and "bridge_id" not in wrong  # not authenticated
    text = captured.getvalue()
    assert tokens["bridge-p1"] not in text and "not-the-token-42" not in text
