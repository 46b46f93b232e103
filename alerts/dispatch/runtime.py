"""What the dispatch endpoints share in one API process: policy, live fan-out, phase timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch.live import LiveDispatch
from alerts.dispatch.notices import Notices
from alerts.dispatch.policy import DispatchPolicy
from alerts.dispatch.repository import any_due
from alerts.dispatch.service import advance_due
from patient_hub.db import unit_of_work
from patient_hub.runtime import HubContext

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class DispatchRuntime:
    """Built in create_app. Phase deadlines live in the database (``next_phase_at``), so any
    process's timer can end a phase and a restart loses none; on PostgreSQL the due rows are
    claimed with ``FOR UPDATE SKIP LOCKED``, so two processes never end one phase twice."""

    hub: HubContext
    policy: DispatchPolicy
    live: LiveDispatch
    tick_s: float = 1.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _timer: asyncio.Task[None] | None = None

    async def start(self, *, timer: bool = True) -> None:
        await self.live.start()
        if timer:
            self._timer = asyncio.create_task(self._tick(), name="dispatch-timer")

    async def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            await asyncio.gather(self._timer, return_exceptions=True)
        await self.live.stop()

    async def write(self, work: Callable[[AsyncSession], Awaitable[tuple[T, Notices]]]) -> T:
        """Run ``work`` in one transaction (queued behind SQLite's single writer), commit, then
        publish its notices. An error rolls everything back and publishes nothing."""
        async with self.hub.write_lock, unit_of_work(self.hub.sessions) as session:
            result, notices = await work(session)
        await self.live.publish(notices)
        return result

    async def tick(self) -> None:
        """End the phases that are due now (a read first: most ticks find nothing due and so
        never queue behind SQLite's single writer)."""
        now = self.hub.clock()
        async with self.hub.sessions() as session:
            if not await any_due(session, now):
                return

        async def work(session: AsyncSession) -> tuple[None, Notices]:
            return None, await advance_due(session, self.policy, self.hub.clock())

        await self.write(work)

    async def _tick(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception:  # a failed tick is retried on the next one; the deadline stays
                log.exception("dispatch timer tick failed")
            try:
                async with asyncio.timeout(self.tick_s):
                    await self._stop.wait()
            except TimeoutError:
                pass
