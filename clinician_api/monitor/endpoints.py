"""``/ws/monitor``: live readings of the patients the signed-in user may see."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from clinician_api.deps import COOKIE_NAME, principal_from_token
from clinician_api.monitor.fanout import MonitorFanout, Screen
from clinician_api.settings import ServerSettings
from patient_hub.access import visible_patient_ids
from patient_hub.db import unit_of_work
from patient_hub.runtime import HubContext
from telemed_core.errors import TelemedError

router = APIRouter()
HEARTBEAT_S = 15.0


async def _pump(ws: WebSocket, screen: Screen) -> None:
    """Send what is queued, coalesced into one frame per wake-up, or a heartbeat when idle.

    Coalescing keeps a screen current under load: one send per turn of the event loop, however
    many bus messages arrived meanwhile. A screen that still fell behind is told how many
    readings it missed, so it can repaint from the snapshot.
    """
    while True:
        try:
            async with asyncio.timeout(HEARTBEAT_S):
                first = await screen.queue.get()
        except TimeoutError:
            await ws.send_json({"type": "heartbeat"})
            continue
        frames = [first]
        while not screen.queue.empty():
            frames.append(screen.queue.get_nowait())
        if screen.dropped:
            await ws.send_json({"type": "gap", "dropped_readings": screen.dropped})
            screen.dropped = 0
        for kind in ("readings", "findings"):
            items = [item for frame in frames for item in frame.get(kind, ())]
            if items:
                await ws.send_json({"type": kind, kind: items})


@router.websocket("/ws/monitor")
async def monitor_socket(ws: WebSocket) -> None:
    """Authenticates by the sign-in cookie or ``?access_token=``; pushes readings frames."""
    hub: HubContext = ws.app.state.hub
    settings: ServerSettings = ws.app.state.settings
    fanout: MonitorFanout = ws.app.state.fanout
    token = ws.query_params.get("access_token") or ws.cookies.get(COOKIE_NAME)
    try:
        async with unit_of_work(hub.sessions) as session:
            who = await principal_from_token(
                session, settings.secret_key, token, idle_timeout_s=settings.idle_timeout_s
            )
            visible = await visible_patient_ids(session, who)
    except TelemedError as exc:
        await ws.accept()
        await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
        await ws.close(1008)
        return
    await ws.accept()
    screen = Screen(visible=visible)
    fanout.add(screen)
    await ws.send_json({"type": "hello", "user": who.username, "role": who.role.value})
    pump = asyncio.create_task(_pump(ws, screen))
    try:
        while True:  # the client only talks to keep alive or to close
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        fanout.remove(screen)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
