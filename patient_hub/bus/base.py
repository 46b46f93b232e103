"""The bus port: durable topics with consumer groups, plus a broadcast tail for live push.

Two implementations pass the same contract tests (tests/patient_hub/bus): in-process
(``MemoryBus``, the embedded default) and Redis Streams (``RedisBus``, when a Redis URL is set).

Semantics, the same in both:

* ``publish`` appends a JSON-able payload to a topic and returns its id.
* A *group* sees every message of the topic once, shared among its consumers: each message goes
  to one consumer of the group and stays *pending* until acked. A consumer that dies leaves its
  pending messages to be taken over by another with ``reclaim`` (at-least-once delivery).
* ``listen`` is a broadcast tail: every listener sees every message published after it started
  (any API node can serve any websocket). It may skip messages when a listener falls behind;
  it is for live screens, not for processing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message delivered to a group consumer; ack it by ``id`` when its effects are durable."""

    id: str
    payload: Payload


class Bus(Protocol):
    """Port for the readings/findings/alerts bus."""

    async def publish(self, topic: str, payload: Payload) -> str:
        """Append ``payload`` to ``topic``; return the message id."""
        ...

    async def consume(
        self, topic: str, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        """Up to ``count`` new messages for ``consumer`` of ``group`` (waits up to ``block_s``)."""
        ...

    async def consume_many(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        *,
        count: int = 100,
        block_s: float = 1.0,
    ) -> list[tuple[str, Delivery]]:
        """``consume`` on several topics at once: (topic, delivery) pairs, up to ``count`` per
        topic, waiting up to ``block_s`` for the first message on any of them."""
        ...

    async def ack(self, topic: str, group: str, ids: list[str]) -> None:
        """Mark messages as processed by ``group``."""
        ...

    async def reclaim(
        self, topic: str, group: str, consumer: str, *, min_idle_s: float, count: int = 100
    ) -> list[Delivery]:
        """Take over messages pending in ``group`` for longer than ``min_idle_s``."""
        ...

    def listen(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[Payload]]:
        """Every message published on ``topic`` after entering the context (broadcast, best
        effort): ``async with bus.listen(t) as messages: async for m in messages: ...``."""
        ...

    async def ping(self) -> None:
        """Raise if the bus does not answer (readiness)."""
        ...

    async def close(self) -> None:
        """Release connections and wake listeners."""
        ...


TOPIC_READINGS = "readings"
TOPIC_SAMPLES = "samples"
TOPIC_FINDINGS = "findings"
