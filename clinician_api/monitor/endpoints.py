"""``/ws/monitor``: live readings of the patients the signed-in user may see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from alerts.episodes.actions import receipt, screen_subjects
from alerts.episodes.views import TOPIC_ALERTS, alert_json
from clinician_api.deps import refuse_websocket, websocket_principal
from clinician_api.monitor.fanout import MonitorFanout, Screen
from patient_hub.db import unit_of_work
from patient_hub.runtime import HubContext
from telemed_core.errors import TelemedError

router = APIRouter()
log = logging.getLogger(__name__)
HEARTBEAT_S = 15.0


#: The frames' JSON: msgspec writes the same document as ``send_json``'s ``json.dumps`` several
#: times faster, and a busy screen's readings frame is thousands of readings a second.
def _plain(value: Any) -> Any:
    """What ``json.dumps`` writes for a float or int subclass msgspec does not know (numpy's
    float64 in a finding's values)."""
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_json = msgspec.json.Encoder(enc_hook=_plain)


async def _receipts(hub: HubContext, screen: Screen, action: str, ids: list[int]) -> None:
    """Record delivery (the screen got it) or read (its user opened it) receipts; publish the
    alerts whose state moved (first delivery), after commit."""
    changed: list[dict[str, Any]] = []
    try:
        async with hub.write_lock, unit_of_work(hub.sessions) as session:
            for alert_id in ids:
                ep = await receipt(
                    session, alert_id, screen.username, action, hub.clock(), screen.visible
                )
                if ep is not None:
                    changed.append(alert_json(ep))
        if changed:
            await hub.bus.publish(TOPIC_ALERTS, {"alerts": changed})
    except Exception:  # a receipt is evidence, not a reason to drop the screen
        log.exception("alert %s receipts of %s not recorded", action, screen.username)


async def _pump(ws: WebSocket, screen: Screen, hub: HubContext) -> None:
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
        for kind in ("alerts", "notices", "readings", "findings"):
            items = [item for frame in frames for item in frame.get(kind, ())]
            if items:
                await ws.send_text(_json.encode({"type": kind, kind: items}).decode())
                if kind == "alerts":
                    ids = [a["id"] for a in items if a["state"] == "active"]
                    if ids:
                        screen.tasks.add(task := asyncio.create_task(
                            _receipts(hub, screen, "delivered", ids)
                        ))  # fmt: skip
                        task.add_done_callback(screen.tasks.discard)


def _read_receipt(text: str) -> list[int]:
    """``{"type": "read", "alert_ids": [..]}`` from the screen; anything else is ignored."""
    try:
        message = json.loads(text)
    except ValueError:
        return []
    if not isinstance(message, dict) or message.get("type") != "read":
        return []
    ids = message.get("alert_ids")
    return [i for i in ids if isinstance(i, int)][:100] if isinstance(ids, list) else []


@router.websocket("/ws/monitor")
async def monitor_socket(ws: WebSocket) -> None:
    """Authenticates by the sign-in cookie or ``?access_token=``; pushes readings frames."""
    hub: HubContext = ws.app.state.hub
    fanout: MonitorFanout = ws.app.state.fanout
    try:
        async with unit_of_work(hub.sessions) as session:
            who = await websocket_principal(ws, session)
            visible = await screen_subjects(session, who)
    except TelemedError as exc:
        await refuse_websocket(ws, exc)
        return
    await ws.accept()
    screen = Screen(visible=visible, role=who.role.value, username=who.username)
    fanout.add(screen)
    await ws.send_json({"type": "hello", "user": who.username, "role": who.role.value})
    pump = asyncio.create_task(_pump(ws, screen, hub))
    try:
        while True:  # the client talks to keep alive, to close, or to say it read alerts
            ids = _read_receipt(await ws.receive_text())
            if ids:
                await _receipts(hub, screen, "read", ids)
    except WebSocketDisconnect:
        pass
    finally:
        fanout.remove(screen)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
