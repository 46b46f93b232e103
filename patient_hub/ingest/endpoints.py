"""The bridge websocket: protocol v1 (telemed_core.protocol) over ``/ws/bridge``."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter

from patient_hub import metrics
from patient_hub.bus.base import TOPIC_READINGS, TOPIC_SAMPLES
from patient_hub.bus.partitions import publish_for_analysis
from patient_hub.db import unit_of_work
from patient_hub.ingest import service
from patient_hub.ingest.wire import ReadingsBatch, decode_readings_batch
from patient_hub.kiosk import repository as kiosk_repository
from patient_hub.kiosk import service as kiosk
from patient_hub.logs import BRIDGE_ID
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
    claimed = None  # the bridge id a hello names, before it is authenticated
    try:
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            first = await _receive(ws)
        frame = parse_bridge_frame(first)
        if not isinstance(frame, Hello):
            raise Forbidden("the first frame must be hello")
        claimed = frame.bridge_id
        # The write lock: reserving a block writes, and SQLite has one writer.
        async with hub.write_lock, unit_of_work(hub.sessions) as session:
            bridge = await service.authenticate(session, frame, hub.clock())
            last_seq, seq_base = await service.welcome_numbers(session, bridge, frame.new_outbox)
    except TimeoutError:
        log.warning("bridge refused: no hello within 10 s")
        await ws.send_text(dump(Error(code="timeout", message="no hello within 10 s")))
        await ws.close(POLICY_VIOLATION)
        return None
    except TelemedError as exc:
        log.warning("bridge refused: %s", exc.message, extra={"code": exc.code, "claimed": claimed})
        await ws.send_text(dump(Error(code=exc.code, message=exc.message)))
        await ws.close(POLICY_VIOLATION)
        return None
    patients = sorted(bridge.allowed_patients)
    welcome = Welcome(
        bridge_id=bridge.bridge_id, last_seq=last_seq, seq_base=seq_base, patients=patients
    )
    await ws.send_text(dump(welcome))
    return bridge


async def _store_and_publish(hub: HubContext, bridge: service.BridgeSession, batch: Batch) -> Ack:
    if batch.patients or batch.consults:
        # Registrations first (committed on their own: merging is idempotent), so the readings
        # of a patient registered offline find their patient; then the kiosk's ids are mapped.
        async with hub.write_lock, unit_of_work(hub.sessions) as session:
            batch = await kiosk.accept_kiosk_items(session, bridge, batch, hub.clock())
    elif bridge.telemedpoint_id is not None:  # a kiosk's ids, mapped without the writer
        async with hub.sessions() as session:
            batch = await kiosk.map_local_ids(session, bridge, batch)
    try:
        service.check_patients(bridge, batch)
    except Forbidden:
        async with unit_of_work(hub.sessions) as session:
            await service.refresh_allowed(session, bridge)
        service.check_patients(bridge, batch)
    # A kiosk's last contact ("kiosk offline") is written with its readings, in one transaction.
    touch = bridge.telemedpoint_id is not None
    if hub.ingest_store is not None:  # SQLite: group commit on a thread (sqlite_store.py)
        inserted = await hub.ingest_store.store(
            bridge.bridge_id, batch.readings, batch.chunks, hub.clock(), touch_bridge=touch
        )
        result = service.store_result(bridge, batch, *inserted)
    else:
        async with hub.write_lock, unit_of_work(hub.sessions) as session:
            result = await service.store_batch(session, bridge, batch, hub.clock())
            if touch:
                await kiosk_repository.touch_bridge(session, bridge.bridge_id, hub.clock())
    # Published after commit, and before the ack: a crash in between makes the bridge resend,
    # and consumers are idempotent by (bridge_id, seq). Nothing durable is ever unpublished.
    if batch.readings:
        readings = _readings_json.dump_python(batch.readings, mode="json")
        await publish_for_analysis(hub.bus, TOPIC_READINGS, bridge.bridge_id, readings)
    if batch.chunks:
        chunks = _chunks_json.dump_python(batch.chunks, mode="json")
        await publish_for_analysis(hub.bus, TOPIC_SAMPLES, bridge.bridge_id, chunks)
    return Ack(
        batch_id=batch.batch_id,
        up_to_seq=batch.max_seq,
        stored=result.stored,
        duplicates=result.duplicates,
    )


async def _store_and_publish_readings(
    hub: HubContext, bridge: service.BridgeSession, batch: ReadingsBatch
) -> Ack:
    """``_store_and_publish`` of the fast path's batch of readings (SQLite: ``wire.py``)."""
    assert hub.ingest_store is not None
    if bridge.telemedpoint_id is not None:  # a kiosk's ids, mapped without the writer
        async with hub.sessions() as session:
            batch = batch.with_patients(await kiosk.local_links(session, bridge))
    try:
        service.check_patient_ids(bridge, batch.patient_ids)
    except Forbidden:
        async with unit_of_work(hub.sessions) as session:
            await service.refresh_allowed(session, bridge)
        service.check_patient_ids(bridge, batch.patient_ids)
    touch = bridge.telemedpoint_id is not None
    inserted = await hub.ingest_store.store(
        bridge.bridge_id, batch, (), hub.clock(), touch_bridge=touch
    )
    result = service.result_of(bridge, len(batch), *inserted)
    # After commit, before the ack (see _store_and_publish); the wire dicts are what the
    # models would have dumped, so consumers see the same messages.
    await publish_for_analysis(hub.bus, TOPIC_READINGS, bridge.bridge_id, batch.items)
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
            # SQLite: a batch of readings takes the fast path; anything else (and anything it
            # is unsure of) the protocol's models, which also word every refusal.
            fast = decode_readings_batch(raw) if hub.ingest_store is not None else None
            if fast is not None:
                batch_id = fast.batch_id
                started = time.perf_counter()
                ack = await _store_and_publish_readings(hub, bridge, fast)
                _count(ack, started)
                await ws.send_text(dump(ack))
                continue
            frame = parse_bridge_frame(raw)
            if isinstance(frame, Heartbeat):
                if bridge.telemedpoint_id is not None:  # "kiosk offline" needs its last contact
                    async with unit_of_work(hub.sessions) as session:
                        await kiosk_repository.touch_bridge(session, bridge.bridge_id, hub.clock())
                await ws.send_text(dump(Heartbeat(sent_at=hub.clock())))
                continue
            if isinstance(frame, Hello):
                raise Forbidden("already authenticated: hello is only the first frame")
            batch_id = frame.batch_id
            started = time.perf_counter()
            ack = await _store_and_publish(hub, bridge, frame)
        except TelemedError as exc:
            if batch_id is not None:
                metrics.INGEST_BATCHES.labels("refused").inc()
            log.warning(
                "frame refused: %s", exc.message, extra={"code": exc.code, "batch_id": batch_id}
            )
            await ws.send_text(dump(Error(code=exc.code, message=exc.message, batch_id=batch_id)))
            continue
        _count(ack, started)
        await ws.send_text(dump(ack))


def _count(ack: Ack, started: float) -> None:
    metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
    metrics.INGEST_BATCHES.labels("acked").inc()
    metrics.INGEST_ITEMS.labels("stored").inc(ack.stored)
    metrics.INGEST_ITEMS.labels("duplicate").inc(ack.duplicates)


@router.websocket("/ws/bridge")
async def bridge_socket(ws: WebSocket) -> None:
    """A device bridge's uplink: hello, then batches acked after commit."""
    hub: HubContext = ws.app.state.hub
    await ws.accept()
    try:
        bridge = await _handshake(ws, hub)
        if bridge is not None:
            BRIDGE_ID.set(bridge.bridge_id)  # on every line logged for this socket from now on
            log.info("bridge connected", extra={"patients": len(bridge.allowed_patients)})
            metrics.BRIDGES_CONNECTED.inc()
            try:
                await _serve(ws, hub, bridge)
            finally:
                metrics.BRIDGES_CONNECTED.dec()
    except WebSocketDisconnect as exc:
        log.info("bridge disconnected", extra={"close_code": exc.code})
