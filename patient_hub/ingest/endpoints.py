"""The bridge websocket: protocol v1 (telemed_core.protocol) over ``/ws/bridge``."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter

from patient_hub.bus.base import TOPIC_READINGS, TOPIC_SAMPLES
from patient_hub.db import unit_of_work
from patient_hub.ingest import repository, service
from patient_hub.runtime import HubContext
from telemed_core.errors import Forbidden, TelemedError
from telemed_core.protocol import (
    Ack,
    Batch,
    Error,
    Heartbeat,
    Hello,
    Welcome,
    dump,
    parse_bridge_frame,
)
from telemed_core.values import Reading, SampleChunk

log = logging.getLogger(__name__)
# One serializer call per batch, not one per reading (see the ingest benchmark).
_readings_json: TypeAdapter[list[Reading]] = TypeAdapter(list[Reading])
_chunks_json: TypeAdapter[list[SampleChunk]] = TypeAdapter(list[SampleChunk])
router = APIRouter()

HELLO_TIMEOUT_S = 10.0
POLICY_VIOLATION = 1008


async def _receive(ws: WebSocket) -> str | bytes:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message.get("text") or message.get("bytes") or b""


async def _handshake(ws: WebSocket, hub: HubContext) -> service.BridgeSession | None:
    try:
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            first = await _receive(ws)
        frame = parse_bridge_frame(first)
        if not isinstance(frame, Hello):
            raise Forbidden("the first frame must be hello")
        async with unit_of_work(hub.sessions) as session:
            bridge = await service.authenticate(session, frame, hub.clock())
            last_seq = await repository.last_seq(session, bridge.bridge_id)
    except TimeoutError:
        await ws.send_text(dump(Error(code="timeout", message="no hello within 10 s")))
        await ws.close(POLICY_VIOLATION)
        return None
    except TelemedError as exc:
        await ws.send_text(dump(Error(code=exc.code, message=exc.message)))
        await ws.close(POLICY_VIOLATION)
        return None
    patients = sorted(bridge.allowed_patients)
    await ws.send_text(
        dump(Welcome(bridge_id=bridge.bridge_id, last_seq=last_seq, patients=patients))
    )
    return bridge


async def _store_and_publish(hub: HubContext, bridge: service.BridgeSession, batch: Batch) -> Ack:
    try:
        service.check_patients(bridge, batch)
    except Forbidden:
        async with unit_of_work(hub.sessions) as session:
            await service.refresh_allowed(session, bridge)
        service.check_patients(bridge, batch)
    async with hub.write_lock, unit_of_work(hub.sessions) as session:
        result = await service.store_batch(session, bridge, batch, hub.clock())
    # Published after commit, and before the ack: a crash in between makes the bridge resend,
    # and consumers are idempotent by (bridge_id, seq). Nothing durable is ever unpublished.
    if batch.readings:
        await hub.bus.publish(
            TOPIC_READINGS,
            {
                "bridge_id": bridge.bridge_id,
                "readings": _readings_json.dump_python(batch.readings, mode="json"),
            },
        )
    if batch.chunks:
        await hub.bus.publish(
            TOPIC_SAMPLES,
            {
                "bridge_id": bridge.bridge_id,
                "chunks": _chunks_json.dump_python(batch.chunks, mode="json"),
            },
        )
    return Ack(
        batch_id=batch.batch_id,
        up_to_seq=batch.max_seq,
        stored=result.stored,
        duplicates=result.duplicates,
    )


async def _serve(ws: WebSocket, hub: HubContext, bridge: service.BridgeSession) -> None:
    while True:
        raw = await _receive(ws)
        batch_id: int | None = None
        try:
            frame = parse_bridge_frame(raw)
            if isinstance(frame, Heartbeat):
                await ws.send_text(dump(Heartbeat(sent_at=hub.clock())))
                continue
            if isinstance(frame, Hello):
                raise Forbidden("already authenticated: hello is only the first frame")
            batch_id = frame.batch_id
            ack = await _store_and_publish(hub, bridge, frame)
        except TelemedError as exc:
            await ws.send_text(dump(Error(code=exc.code, message=exc.message, batch_id=batch_id)))
            continue
        await ws.send_text(dump(ack))


@router.websocket("/ws/bridge")
async def bridge_socket(ws: WebSocket) -> None:
    """A device bridge's uplink: hello, then batches acked after commit."""
    hub: HubContext = ws.app.state.hub
    await ws.accept()
    try:
        bridge = await _handshake(ws, hub)
        if bridge is not None:
            await _serve(ws, hub, bridge)
    except WebSocketDisconnect:
        pass
