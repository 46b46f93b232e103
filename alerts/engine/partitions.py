"""The patient partitions an alert worker evaluates reading rules for, held under leases.

The reading rules keep per-patient state (when a breach began, whether it raised), so all of one
patient's readings must reach one worker, as for the signal worker: the alert workers consume
the patient-partitioned work topics (``patient_hub/bus/partitions.py``) of the partitions whose
lease they hold in their own group (``alerts``), and a worker that gains a partition rebuilds its
state from stored readings (``rebuild.py``) and takes over its unprocessed messages before any
new one. A partition lost (lease expired, rebalanced) drops exactly its patients' state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.engine.conditions import ReadingConditions, Trigger
from alerts.engine.rebuild import load_partitions, replay
from alerts.policy.service import PolicyCache
from patient_hub.bus.base import TOPIC_READINGS, Delivery
from patient_hub.bus.leases import Leases
from patient_hub.bus.partitions import PARTITIONS, work_topic
from patient_hub.processing.rebuild import Key, carried
from patient_hub.processing.worker import LeaseTiming
from patient_hub.runtime import HubContext

log = logging.getLogger(__name__)
GROUP = "alerts"
RECLAIM_IDLE_S = 30.0
#: How long the replay's triggers wait for a late message of the readings that made them
#: (ingest publishes right after its commit: milliseconds, unless its process stalls).
REPLAYED_KEEP_S = 60.0
DEFAULT_TIMING = LeaseTiming()


@dataclass
class Held:
    """The state of one held partition."""

    conditions: ReadingConditions = field(default_factory=ReadingConditions)
    replayed: dict[Key, list[Trigger]] = field(default_factory=dict)
    replayed_until: float = 0.0

    def late_triggers(self, payload: dict[str, Any], now_s: float) -> list[Trigger]:
        """Triggers of the takeover's replay made by readings of this message (see
        ``rebuild.py``): applied now, in case their message had not been processed."""
        if not self.replayed:
            return []
        if now_s > self.replayed_until:
            self.replayed.clear()
            return []
        bridge = payload.get("bridge_id", "")
        out: list[Trigger] = []
        for r in payload.get("readings", ()):
            out += self.replayed.pop((r.get("bridge_id") or bridge, r.get("seq")), [])
        return out


class ReadingPartitions:
    """Leases, state and takeover of the readings partitions of one alert worker."""

    def __init__(
        self,
        hub: HubContext,
        consumer: str,
        leases: Leases,
        *,
        partitions: int = PARTITIONS,
        timing: LeaseTiming = DEFAULT_TIMING,
    ) -> None:
        self.hub = hub
        self.consumer = consumer
        self.leases = leases
        self.partitions = partitions
        self.timing = timing
        self.held: dict[int, Held] = {}
        self.balanced = False  # has joined its group and knows its partitions
        self._renew_at = 0.0

    def topics(self) -> list[str]:
        return [work_topic(TOPIC_READINGS, p) for p in sorted(self.held)]

    async def rebalance(
        self, policies: PolicyCache, now: datetime
    ) -> list[tuple[str, list[Delivery]]]:
        """Heartbeat, take this worker's share of the partitions, drop the others; return the
        messages to handle now: gained partitions' backlog, own messages whose handling failed."""
        held = await self.leases.balance(GROUP, self.consumer, self.partitions, self.timing.ttl_s)
        self._renew_at = _loop_s() + self.timing.renew_s
        for partition in set(self.held) - held:
            del self.held[partition]  # another worker holds it now: its state goes with it
            log.info("alert worker %s: partition %d handed over", self.consumer, partition)
        work: list[tuple[str, list[Delivery]]] = []
        for partition in held & set(self.held):
            name = work_topic(TOPIC_READINGS, partition)
            mine = await self.hub.bus.reclaim(name, GROUP, self.consumer, min_idle_s=RECLAIM_IDLE_S)
            if mine:
                work.append((name, mine))
        gained = held - set(self.held)
        if gained:
            work += await self._take_over(gained, policies, now)
        self.balanced = True
        return work

    async def _take_over(
        self, gained: set[int], policies: PolicyCache, now: datetime
    ) -> list[tuple[str, list[Delivery]]]:
        """Read the stored history, then the partitions' unprocessed messages, then rebuild the
        state from the history minus what those messages carry."""
        async with self.hub.sessions() as session:
            rules, history = await load_partitions(session, gained, now, self.partitions)
        policies.put(rules)
        backlog = [
            (name, await self._unprocessed(name))
            for name in (work_topic(TOPIC_READINGS, p) for p in sorted(gained))
        ]
        skip = carried([d for _, batch in backlog for d in batch])
        state, made = replay(rules, history, skip, self.partitions)
        until = _loop_s() + REPLAYED_KEEP_S
        for p in gained:
            self.held[p] = Held(state.get(p) or ReadingConditions(), made.get(p, {}), until)
        log.info("alert worker %s: took over partitions %s", self.consumer, sorted(gained))
        return [(name, batch) for name, batch in backlog if batch]

    async def _unprocessed(self, name: str) -> list[Delivery]:
        """Every message of a partition not yet acked: the previous owner's pending ones
        (claimed at once: the lease says that owner is gone), then those never delivered."""
        bus = self.hub.bus
        batch = await bus.reclaim(name, GROUP, self.consumer, min_idle_s=0, count=100_000)
        while more := await bus.consume(name, GROUP, self.consumer, count=1000, block_s=0):
            batch += more
        return batch

    async def renew_if_due(self) -> None:
        """Extend the leases during a long backlog; drop partitions whose lease lapsed."""
        if _loop_s() < self._renew_at:
            return
        self._renew_at = _loop_s() + self.timing.renew_s
        still = await self.leases.renew(GROUP, self.consumer, set(self.held), self.timing.ttl_s)
        for partition in set(self.held) - still:
            del self.held[partition]
            log.warning("alert worker %s: lease of partition %d lapsed", self.consumer, partition)

    async def leave(self) -> None:
        """A clean stop hands the partitions over at once."""
        self.held.clear()
        await self.leases.leave(GROUP, self.consumer, self.partitions)


def _loop_s() -> float:
    return asyncio.get_running_loop().time()
