"""Live delivery: one bus listener per API process hands dispatch notices to its sockets.

Any API process can serve any responder: every process tails the ``dispatch`` topic (Redis
Streams in scale-out) and forwards each notice to the sockets of the users it names, or to
every dispatcher's console.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from alerts.dispatch.notices import TOPIC_DISPATCH, Notices
from patient_hub.bus.base import Bus

log = logging.getLogger(__name__)
QUEUE_FRAMES = 1_000


@dataclass(eq=False)
class Phone:
    """One connected page: a responder's phone or a dispatcher's console."""

    user_id: str
    dispatcher: bool
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_FRAMES)
    )

    def offer(self, frame: dict[str, Any]) -> None:
        if self.queue.full():  # a stalled page drops its oldest frame; it refetches on reconnect
            self.queue.get_nowait()
        self.queue.put_nowait(frame)


class LiveDispatch:
    """Owns the listener task; pages register and unregister."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._phones: set[Phone] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatch-live")
        await self._ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def add(self, phone: Phone) -> None:
        self._phones.add(phone)

    def remove(self, phone: Phone) -> None:
        self._phones.discard(phone)

    async def publish(self, notices: Notices) -> None:
        """Send after the commit: a page that refetches then sees what the notice says."""
        for notice in notices.items:
            await self._bus.publish(TOPIC_DISPATCH, notice.message())

    async def _run(self) -> None:
        while True:
            try:
                async with self._bus.listen(TOPIC_DISPATCH) as messages:
                    self._ready.set()
                    async for message in messages:
                        self._route(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus hiccuped: pages keep their sockets, we re-listen
                log.exception("dispatch fan-out lost the bus; retrying in 1 s")
                self._ready.set()
                await asyncio.sleep(1)

    def _route(self, message: dict[str, Any]) -> None:
        to = set(message.get("to", ()))
        everyone = bool(message.get("dispatchers"))
        for phone in list(self._phones):
            if phone.user_id in to or (everyone and phone.dispatcher):
                phone.offer(message["frame"])
