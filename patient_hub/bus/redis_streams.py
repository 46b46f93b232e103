"""Redis Streams bus: consumer groups share the work; XAUTOCLAIM takes over a dead worker's
pending entries. One stream entry per published payload (publishers batch readings into one
payload, which is what makes Redis cheap here: see ARCHITECTURE.md's budget)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from patient_hub.bus.base import Delivery, Payload
from patient_hub.bus.redis_client import connect

_RETAIN = 100_000
#: A tail that lost Redis asks again this often, from the last entry it delivered.
_TAIL_RETRY_S = 0.5
log = logging.getLogger(__name__)


def _decode(fields: dict[bytes, bytes]) -> Payload:
    payload: Payload = json.loads(fields[b"p"])
    return payload


class RedisBus:
    """Bus on Redis Streams; ``prefix`` namespaces the keys (tests use a random one)."""

    def __init__(self, url: str, *, prefix: str = "telemed:") -> None:
        self._redis: Any = connect(url)
        self._prefix = prefix
        self._groups: set[tuple[str, str]] = set()

    def _key(self, topic: str) -> str:
        return self._prefix + topic

    async def ping(self) -> None:
        """Raise if the server does not answer."""
        await self._redis.ping()

    async def publish(self, topic: str, payload: Payload) -> str:
        msg_id = await self._redis.xadd(
            self._key(topic), {"p": json.dumps(payload)}, maxlen=_RETAIN, approximate=True
        )
        return str(msg_id.decode())

    async def _ensure_group(self, topic: str, group: str) -> None:
        if (topic, group) in self._groups:
            return
        try:
            await self._redis.xgroup_create(self._key(topic), group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((topic, group))

    async def consume(
        self, topic: str, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        await self._ensure_group(topic, group)
        block_ms = max(1, int(block_s * 1000)) if block_s > 0 else None
        reply = await self._redis.xreadgroup(
            group, consumer, {self._key(topic): ">"}, count=count, block=block_ms
        )
        return [
            Delivery(msg_id.decode(), _decode(fields))
            for _stream, entries in reply or []
            for msg_id, fields in entries
            if fields
        ]

    async def consume_many(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        *,
        count: int = 100,
        block_s: float = 1.0,
    ) -> list[tuple[str, Delivery]]:
        if not topics:
            return []
        for topic in topics:
            await self._ensure_group(topic, group)
        block_ms = max(1, int(block_s * 1000)) if block_s > 0 else None
        reply = await self._redis.xreadgroup(
            group, consumer, {self._key(t): ">" for t in topics}, count=count, block=block_ms
        )
        n = len(self._prefix)
        return [
            (stream.decode()[n:], Delivery(msg_id.decode(), _decode(fields)))
            for stream, entries in reply or []
            for msg_id, fields in entries
            if fields
        ]

    async def ack(self, topic: str, group: str, ids: list[str]) -> None:
        if ids:
            await self._redis.xack(self._key(topic), group, *ids)

    async def reclaim(
        self, topic: str, group: str, consumer: str, *, min_idle_s: float, count: int = 100
    ) -> list[Delivery]:
        await self._ensure_group(topic, group)
        reply = await self._redis.xautoclaim(
            self._key(topic), group, consumer, int(min_idle_s * 1000), "0-0", count=count
        )
        entries = reply[1]
        return [Delivery(msg_id.decode(), _decode(fields)) for msg_id, fields in entries if fields]

    @asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[AsyncIterator[Payload]]:
        last = await self._redis.xrevrange(self._key(topic), count=1)
        start = last[0][0].decode() if last else "0-0"
        yield self._tail(topic, start)

    async def _tail(self, topic: str, last_id: str) -> AsyncIterator[Payload]:
        key = self._key(topic)
        while True:
            try:
                reply = await self._redis.xread({key: last_id}, count=500, block=1000)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                # Resume from the last entry delivered, not from the end the stream has when
                # Redis answers again: what ingest published meanwhile still reaches the screens.
                log.warning(
                    "bus tail of %s lost Redis (%s); resuming after %s", topic, exc, last_id
                )
                await asyncio.sleep(_TAIL_RETRY_S)
                continue
            for _stream, entries in reply or []:
                for msg_id, fields in entries:
                    last_id = msg_id.decode()
                    yield _decode(fields)

    async def close(self) -> None:
        await self._redis.aclose()
