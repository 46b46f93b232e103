"""The per-process push of FHIR Subscription events: the bound sockets and the
:class:`SubscriptionHub` (numbering consumer + tail of the numbered-events topic)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from patient_hub.bus.base import Bus
from patient_hub.db import unit_of_work
from patient_hub.fhir.subscriptions.events import Numbered
from patient_hub.fhir.subscriptions.models import SubscriptionRow
from patient_hub.fhir.subscriptions.notifications import Event, notification_bundle
from patient_hub.fhir.subscriptions.worker import TOPIC_SUBSCRIPTION_EVENTS, SubscriptionEventWorker
from patient_hub.runtime import HubContext

log = logging.getLogger(__name__)


QUEUE_BUNDLES = 10_000


@dataclass(eq=False)
class _Bound:
    sub: SubscriptionRow
    heartbeat_due: float | None


@dataclass(eq=False)
class Connection:
    """One bound websocket: its subscriptions and its outgoing Bundles (bounded; a socket that
    falls behind loses the oldest, and the client finds them with ``$events``)."""

    ws: WebSocket
    hub: HubContext
    base_url: str
    bound: dict[str, _Bound] = field(default_factory=dict)
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_BUNDLES)
    )
    dropped: int = 0

    def put(self, bundle: dict[str, Any]) -> None:
        """Queue a message for the socket (only the pump sends, so frames never interleave)."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(bundle)

    def _rearm(self, bound: _Bound) -> None:
        period = bound.sub.heartbeat_s
        bound.heartbeat_due = asyncio.get_running_loop().time() + period if period else None

    def bind(self, sub: SubscriptionRow) -> None:
        bound = self.bound[sub.id] = _Bound(sub, None)
        self._rearm(bound)
        self.put(notification_bundle(sub, "handshake", [], self.base_url, self.hub.clock()))

    def offer(self, sub_id: str, events: list[Numbered]) -> None:
        bound = self.bound.get(sub_id)
        if bound is None:
            return
        size = bound.sub.max_count
        for i in range(0, len(events), size):
            chunk = [Event(e.number, e.at, e.focus) for e in events[i : i + size]]
            count = max(e.number for e in chunk)
            now = self.hub.clock()
            bundle = notification_bundle(
                bound.sub, "event-notification", chunk, self.base_url, now, count=count
            )
            self.put(bundle)
        self._rearm(bound)

    async def pump(self) -> None:
        """Send queued Bundles; heartbeat each subscription that has been quiet for its period.
        If pushing fails for any reason but a closed socket, the socket is closed so the client
        reconnects (and catches up with ``$events``) instead of waiting on a silent channel."""
        try:
            await self._pump()
        except (asyncio.CancelledError, WebSocketDisconnect):
            raise
        except Exception:
            log.exception("subscription socket push failed; closing it")
            with contextlib.suppress(Exception):
                await self.ws.close(1011)

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            dues = [b.heartbeat_due for b in self.bound.values() if b.heartbeat_due is not None]
            wait = max(0.0, min(dues) - loop.time()) if dues else None
            try:
                async with asyncio.timeout(wait):
                    bundle = await self.queue.get()
            except TimeoutError:
                await self._heartbeats(loop.time())
                continue
            await self.ws.send_text(json.dumps(bundle))

    async def _heartbeats(self, now: float) -> None:
        due = [
            b for b in self.bound.values() if b.heartbeat_due is not None and b.heartbeat_due <= now
        ]
        async with unit_of_work(self.hub.sessions) as session:
            for bound in due:
                current = await session.get(SubscriptionRow, bound.sub.id)
                if current is None:  # deleted meanwhile
                    self.bound.pop(bound.sub.id, None)
                    continue
                bundle = notification_bundle(
                    current, "heartbeat", [], self.base_url, self.hub.clock()
                )
                await self.ws.send_text(json.dumps(bundle))
                self._rearm(bound)


class SubscriptionHub:
    """Per API process: the numbering consumer (optional) and the push to bound sockets."""

    def __init__(self, hub: HubContext, consumer: str, *, number_events: bool = True) -> None:
        self.hub = hub
        self.worker = SubscriptionEventWorker(hub, consumer) if number_events else None
        self._by_sub: dict[str, set[Connection]] = defaultdict(set)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(self.hub.bus, ready), name="fhir-subs-push")
        ]
        if self.worker is not None:
            self._tasks.append(
                asyncio.create_task(self.worker.run(self._stop), name="fhir-subs-numbering")
            )
        await ready.wait()

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def attach(self, conn: Connection, sub_id: str) -> None:
        self._by_sub[sub_id].add(conn)

    def detach(self, conn: Connection, sub_ids: list[str] | None = None) -> None:
        for sub_id in sub_ids if sub_ids is not None else list(conn.bound):
            self._by_sub.get(sub_id, set()).discard(conn)
            if not self._by_sub.get(sub_id):
                self._by_sub.pop(sub_id, None)

    async def _listen(self, bus: Bus, ready: asyncio.Event) -> None:
        while True:
            try:
                async with bus.listen(TOPIC_SUBSCRIPTION_EVENTS) as messages:
                    ready.set()
                    async for message in messages:
                        self._dispatch([Numbered.from_json(e) for e in message.get("events", [])])
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus hiccuped: sockets stay, clients recover with $events
                log.exception("subscription push lost the bus; retrying in 1 s")
                ready.set()
                await asyncio.sleep(1)

    def _dispatch(self, events: list[Numbered]) -> None:
        by_sub: dict[str, list[Numbered]] = defaultdict(list)
        for e in events:
            by_sub[e.subscription_id].append(e)
        for sub_id, mine in by_sub.items():
            for conn in list(self._by_sub.get(sub_id, ())):
                conn.offer(sub_id, mine)
