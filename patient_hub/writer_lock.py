"""The SQLite writer's queue: FIFO, with an urgent lane for writes that page someone.

SQLite has one writer, so the hub queues its writers on one asyncio lock (fair, unlike SQLite's
own busy-wait). Under load the queue is mostly ingest batches (each holding the writer for a
bulk insert); an alert that must reach a screen is one short transaction, and waiting behind
every queued batch would make a page seconds late. ``urgent()`` therefore queues ahead of the
ordinary waiters (behind other urgent ones, and never pre-empting the holder). Urgent writes
are few (only those that open or change an episode), so ordinary writers are not starved.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType


class WriterLock:
    """An asyncio mutex; ``async with lock`` queues FIFO, ``async with lock.urgent()`` first."""

    def __init__(self) -> None:
        self._held = False
        self._ordinary: deque[asyncio.Future[None]] = deque()
        self._urgent: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held and not self._ordinary and not self._urgent:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._ordinary
        queue.append(waiter)
        try:
            await waiter  # release() hands the lock over by resolving it (``_held`` stays True)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            elif waiter in queue:  # a release may already have skipped it (it was cancelled)
                queue.remove(waiter)
            raise

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("WriterLock released while not held")
        for queue in (self._urgent, self._ordinary):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the lock passes straight to it
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @contextlib.asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """Hold the lock, queued ahead of ordinary writers."""
        await self.acquire(urgent=True)
        try:
            yield
        finally:
            self.release()


def urgent_writer(
    lock: contextlib.AbstractAsyncContextManager[object],
) -> contextlib.AbstractAsyncContextManager[object]:
    """``lock.urgent()`` for a WriterLock; the lock itself otherwise (PostgreSQL: no lock)."""
    if isinstance(lock, WriterLock):
        return lock.urgent()
    return lock
