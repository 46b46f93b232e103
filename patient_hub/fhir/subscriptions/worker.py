"""The bus consumer group that numbers subscription events and publishes them after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS, Delivery
from patient_hub.db import unit_of_work
from patient_hub.fhir.subscriptions.events import (
    Numbered,
    active_subscriptions,
    finding_candidates,
    reading_candidates,
    record_events,
)
from patient_hub.fhir.subscriptions.topics import topic_for
from patient_hub.runtime import HubContext

log = logging.getLogger(__name__)

#: Bus topic of numbered events, tailed by every API process (broadcast, best effort).
TOPIC_SUBSCRIPTION_EVENTS = "fhir-subscription-events"
GROUP = "subscriptions"
RECLAIM_IDLE_S = 30.0


class SubscriptionEventWorker:
    """Consumer ``consumer`` of group ``subscriptions``: numbers events, then publishes them."""

    def __init__(self, hub: HubContext, consumer: str) -> None:
        self.hub = hub
        self.consumer = consumer
        self.recorded = 0

    async def run(self, stop: asyncio.Event) -> None:
        """One loop per source topic, so a quiet topic never delays the other."""
        await asyncio.gather(*(self._loop(t, stop) for t in (TOPIC_READINGS, TOPIC_FINDINGS)))

    async def _loop(self, topic: str, stop: asyncio.Event) -> None:
        bus = self.hub.bus
        while not stop.is_set():
            try:
                batch = await bus.reclaim(topic, GROUP, self.consumer, min_idle_s=RECLAIM_IDLE_S)
                batch += await bus.consume(topic, GROUP, self.consumer, count=100, block_s=0.5)
                if batch:
                    await self.handle(topic, batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # the batch stays pending and is reclaimed; keep the loop alive
                log.exception("subscription events: batch on %s failed, will be retried", topic)
                await asyncio.sleep(1)

    async def handle(self, topic: str, batch: Sequence[Delivery]) -> None:
        payloads = [d.payload for d in batch]
        field = "readings" if topic == TOPIC_READINGS else "findings"
        patients = {i.get("patient_id") for p in payloads for i in p.get(field, [])}
        now = self.hub.clock()
        async with unit_of_work(self.hub.sessions) as session:
            subs = await active_subscriptions(
                session, topic_for(topic), {str(p) for p in patients}, now
            )
            watched = {s.patient_id for s in subs}
            make = reading_candidates if topic == TOPIC_READINGS else finding_candidates
            candidates = await make(session, payloads, watched) if watched else []
        numbered: list[Numbered] = []
        if candidates:
            async with self.hub.write_lock, unit_of_work(self.hub.sessions) as session:
                subs = await active_subscriptions(session, topic_for(topic), watched, now)
                numbered = await record_events(session, subs, candidates, now)
        if numbered:  # after commit: the log is durable before anyone is told
            await self.hub.bus.publish(
                TOPIC_SUBSCRIPTION_EVENTS, {"events": [n.to_json() for n in numbered]}
            )
        await self.hub.bus.ack(topic, GROUP, [d.id for d in batch])
        self.recorded += len(numbered)
