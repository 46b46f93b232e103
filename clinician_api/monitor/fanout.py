"""Live push: one bus listener per API process fans readings out to its monitor sockets.

Every API node listens to the whole readings topic (Redis Streams tail in scale-out), so any
node can serve any screen. Each socket gets only the readings of patients its user may see.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from patient_hub.bus.base import TOPIC_READINGS, Bus

log = logging.getLogger(__name__)
QUEUE_FRAMES = 10_000


@dataclass(eq=False)
class Screen:
    """One connected monitor socket: the patients it may see and its outgoing frames."""

    visible: set[str] | None  # None: every patient
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_FRAMES)
    )
    dropped: int = 0

    def offer(self, frame: dict[str, Any]) -> None:
        if self.queue.full():  # a stalled screen loses old frames, never the hub's pace
            self.dropped += len(self.queue.get_nowait()["readings"])
        self.queue.put_nowait(frame)


class MonitorFanout:
    """Owns the listener task; screens register and unregister."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._screens: set[Screen] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="monitor-fanout")
        await self._ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def add(self, screen: Screen) -> None:
        self._screens.add(screen)

    def remove(self, screen: Screen) -> None:
        self._screens.discard(screen)

    async def _run(self) -> None:
        while True:
            try:
                async with self._bus.listen(TOPIC_READINGS) as messages:
                    self._ready.set()
                    async for message in messages:
                        self._dispatch(message.get("readings", []))
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus hiccuped: screens keep their sockets, we re-listen
                log.exception("monitor fan-out lost the bus; retrying in 1 s")
                self._ready.set()
                await asyncio.sleep(1)

    def _dispatch(self, readings: list[dict[str, Any]]) -> None:
        for screen in list(self._screens):
            mine = [
                r for r in readings if screen.visible is None or r["patient_id"] in screen.visible
            ]
            if mine:
                screen.offer({"type": "readings", "readings": mine})
