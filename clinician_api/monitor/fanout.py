"""Live push: one bus listener per API process fans readings out to its monitor sockets.

Every API node listens to the whole readings topic (Redis Streams tail in scale-out), so any
node can serve any screen. Each socket gets only the readings of patients its user may see.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from alerts.episodes.views import TOPIC_ALERTS
from alerts.notify.port import TOPIC_NOTICES
from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS, Bus

log = logging.getLogger(__name__)
QUEUE_FRAMES = 10_000


@dataclass(eq=False)
class Screen:
    """One connected monitor socket: the patients it may see and its outgoing frames."""

    visible: set[str] | None  # None: every patient
    role: str = "admin"
    username: str = ""
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_FRAMES)
    )
    dropped: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def offer(self, frame: dict[str, Any]) -> None:
        if self.queue.full():  # a stalled screen loses old frames, never the hub's pace
            self.dropped += len(self.queue.get_nowait().get("readings", ()))
        self.queue.put_nowait(frame)


class MonitorFanout:
    """Owns the listener task; screens register and unregister."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._screens: set[Screen] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        readings = MonitorFanout._Listener(self, TOPIC_READINGS, "readings")
        findings = MonitorFanout._Listener(self, TOPIC_FINDINGS, "findings")
        alerts = MonitorFanout._Listener(self, TOPIC_ALERTS, "alerts")
        notices = MonitorFanout._Listener(self, TOPIC_NOTICES, "notices")
        listeners = (readings, findings, alerts, notices)
        self._tasks = [asyncio.create_task(x.run(), name=f"fanout-{x.topic}") for x in listeners]
        await asyncio.gather(*(x.ready.wait() for x in listeners))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def add(self, screen: Screen) -> None:
        self._screens.add(screen)

    def remove(self, screen: Screen) -> None:
        self._screens.discard(screen)

    class _Listener:
        """Tails one topic and hands each message's items (``field``) to the screens."""

        def __init__(self, fanout: MonitorFanout, topic: str, field: str) -> None:
            self.fanout, self.topic, self.field = fanout, topic, field
            self.ready = asyncio.Event()

        async def run(self) -> None:
            while True:
                try:
                    async with self.fanout._bus.listen(self.topic) as messages:
                        self.ready.set()
                        async for message in messages:
                            self.fanout._dispatch(self.field, message.get(self.field, []))
                except asyncio.CancelledError:
                    raise
                except Exception:  # the bus hiccuped: screens keep their sockets, we re-listen
                    log.exception("monitor fan-out lost the bus; retrying in 1 s")
                    self.ready.set()
                    await asyncio.sleep(1)

    def _dispatch(self, field: str, items: list[dict[str, Any]]) -> None:
        for screen in list(self._screens):
            mine = [i for i in items if screen.visible is None or i["patient_id"] in screen.visible]
            if field == "alerts":
                mine = [a for a in mine if alert_for(screen, a)]
            elif field == "notices" and screen.role != "patient":
                continue  # reminders are for the patient's own screen
            if mine:
                screen.offer({field: mine})


def alert_for(screen: Screen, alert: dict[str, Any]) -> bool:
    """An alert goes to the roles its escalation has reached (an admin supervises all);
    technical and adherence alarms never to cardiologists."""
    if screen.role == "admin":
        return True
    if screen.role == "cardiologist" and alert.get("category") != "clinical":
        return False
    return screen.role in alert.get("target_roles", ())
