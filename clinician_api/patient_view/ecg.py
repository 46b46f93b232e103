"""``/ws/patients/{id}/ecg``: the patient's ECG chunks as they arrive, for the live strip.

Each socket tails the ``samples`` topic (best-effort broadcast) and forwards the ECG chunks of
its one patient; the page draws them at 25 mm/s. Opening the strip is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from clinician_api.deps import refuse_websocket, websocket_principal
from patient_hub.access import require_patient
from patient_hub.audit import service as audit
from patient_hub.bus.base import TOPIC_SAMPLES
from patient_hub.db import unit_of_work
from patient_hub.runtime import HubContext
from telemed_core.errors import TelemedError

router = APIRouter()


def ecg_frames(message: dict[str, Any], patient_id: str) -> list[dict[str, Any]]:
    """The ECG chunks of one patient in a ``samples`` bus message, as strip frames."""
    return [
        {
            "type": "ecg",
            "device_id": c["device_id"],
            "lead": c.get("lead", "I"),
            "fs_hz": c["fs_hz"],
            "start": c["start"],
            "factor": c.get("factor", 1.0),
            "unit": c.get("unit", "uV"),
            "samples": c["samples"],
        }  # fmt: skip
        for c in message.get("chunks", [])
        if c.get("patient_id") == patient_id and c.get("kind", "ecg") == "ecg"
    ]


async def _forward(ws: WebSocket, hub: HubContext, patient_id: str, ready: asyncio.Event) -> None:
    async with hub.bus.listen(TOPIC_SAMPLES) as messages:
        ready.set()
        async for message in messages:
            for frame in ecg_frames(message, patient_id):
                await ws.send_json(frame)


@router.websocket("/ws/patients/{patient_id}/ecg")
async def ecg_socket(ws: WebSocket, patient_id: str) -> None:
    hub: HubContext = ws.app.state.hub
    try:
        async with unit_of_work(hub.sessions) as session:
            who = await websocket_principal(ws, session)
            await require_patient(session, who, patient_id)
            await audit.record(
                session, actor=who, action="read", entity_type="EcgStream",
                entity_id=patient_id, patient_id=patient_id,
            )  # fmt: skip
    except TelemedError as exc:
        await refuse_websocket(ws, exc)
        return
    await ws.accept()
    ready = asyncio.Event()
    pump = asyncio.create_task(_forward(ws, hub, patient_id, ready))
    await ready.wait()
    await ws.send_json({"type": "hello", "patient_id": patient_id})
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
