"""In-process bus: the embedded default (one process, nothing else installed)."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from patient_hub.bus.base import Delivery, Payload

#: History kept per topic beyond what every group has consumed (a group created later still
#: sees recent history, as with Redis XADD MAXLEN ~): at most ``_RETAIN`` messages and at most
#: ``_RETAIN_S`` seconds of them; unconsumed messages are never dropped. The age bound matters:
#: one kiosk message carries up to 5,000 readings, so 10,000 messages of history were millions
#: of retained readings, a heap that grew for the first hours of a busy hub and made each full
#: garbage collection pause the event loop for longer (half a second after a minute at 5,000
#: patients, growing on: docs/architecture.md, "Garbage collection and memory bus retention").
_RETAIN = 10_000
_RETAIN_S = 10.0
_LISTENER_QUEUE = 10_000


@dataclass
class _Group:
    cursor: int  # index (absolute) of the next undelivered message
    pending: dict[str, tuple[str, float, Payload]] = field(default_factory=dict)


@dataclass
class _Topic:
    base: int = 0  # absolute index of log[0]
    log: list[tuple[str, Payload]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each message of ``log`` came
    groups: dict[str, _Group] = field(default_factory=dict)
    listeners: set[asyncio.Queue[Payload | None]] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryBus:
    """Bus held in this process's memory; same contract as RedisBus."""

    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._closed = False

    def _topic(self, name: str) -> _Topic:
        # Not ``setdefault(name, _Topic())``: that builds a topic (and its Event) on every call,
        # and a worker polling its 64 partition topics made that a third of its CPU.
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    async def publish(self, topic: str, payload: Payload) -> str:
        t = self._topic(topic)
        msg_id = str(t.base + len(t.log))
        now = time.monotonic()
        t.log.append((msg_id, payload))
        t.times.append(now)
        if len(t.log) > 2 * _RETAIN or now - t.times[0] > 2 * _RETAIN_S:
            _trim(t, now)
        for queue in t.listeners:
            if queue.full():
                queue.get_nowait()  # a slow screen skips, it does not stall ingest
            queue.put_nowait(payload)
        t.changed.set()
        t.changed = asyncio.Event()
        return msg_id

    async def consume(
        self, topic: str, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        t = self._topic(topic)
        g = t.groups.setdefault(group, _Group(cursor=t.base))
        if g.cursor >= t.base + len(t.log) and block_s > 0 and not self._closed:
            try:
                async with asyncio.timeout(block_s):
                    await t.changed.wait()
            except TimeoutError:
                return []
        g.cursor = max(g.cursor, t.base)
        start = g.cursor - t.base
        batch = t.log[start : start + count]
        g.cursor += len(batch)
        now = time.monotonic()
        for msg_id, payload in batch:
            g.pending[msg_id] = (consumer, now, payload)
        return [Delivery(msg_id, payload) for msg_id, payload in batch]

    async def consume_many(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        *,
        count: int = 100,
        block_s: float = 1.0,
    ) -> list[tuple[str, Delivery]]:
        got = await self._take_many(topics, group, consumer, count)
        if got or block_s <= 0 or self._closed or not topics:
            return got
        waiters = [asyncio.ensure_future(self._topic(t).changed.wait()) for t in topics]
        try:
            await asyncio.wait(waiters, timeout=block_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return await self._take_many(topics, group, consumer, count)

    async def _take_many(
        self, topics: Sequence[str], group: str, consumer: str, count: int
    ) -> list[tuple[str, Delivery]]:
        got: list[tuple[str, Delivery]] = []
        for topic in topics:
            got += [
                (topic, d)
                for d in await self.consume(topic, group, consumer, count=count, block_s=0)
            ]
        return got

    async def ack(self, topic: str, group: str, ids: list[str]) -> None:
        g = self._topic(topic).groups.get(group)
        if g is not None:
            for msg_id in ids:
                g.pending.pop(msg_id, None)

    async def reclaim(
        self, topic: str, group: str, consumer: str, *, min_idle_s: float, count: int = 100
    ) -> list[Delivery]:
        g = self._topic(topic).groups.get(group)
        if g is None:
            return []
        now = time.monotonic()
        taken: list[Delivery] = []
        for msg_id, (_owner, since, payload) in list(g.pending.items()):
            if len(taken) >= count:
                break
            if now - since >= min_idle_s:
                g.pending[msg_id] = (consumer, now, payload)
                taken.append(Delivery(msg_id, payload))
        return taken

    @asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[AsyncIterator[Payload]]:
        queue: asyncio.Queue[Payload | None] = asyncio.Queue(_LISTENER_QUEUE)
        t = self._topic(topic)
        t.listeners.add(queue)
        try:
            yield _drain(queue)
        finally:
            t.listeners.discard(queue)

    async def ping(self) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")

    async def close(self) -> None:
        self._closed = True
        for t in self._topics.values():
            for queue in t.listeners:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)
            t.changed.set()


def _trim(t: _Topic, now: float) -> None:
    """Drop the history every group has consumed beyond ``_RETAIN`` messages or
    ``_RETAIN_S`` seconds."""
    end = t.base + len(t.log)
    floor = min((g.cursor for g in t.groups.values()), default=end)
    young = t.base + bisect.bisect_left(t.times, now - _RETAIN_S)
    drop = min(floor, max(end - _RETAIN, young)) - t.base
    if drop > 0:
        del t.log[:drop]
        del t.times[:drop]
        t.base += drop


async def _drain(queue: asyncio.Queue[Payload | None]) -> AsyncIterator[Payload]:
    while (item := await queue.get()) is not None:
        yield item
