"""The alert worker: turns findings and readings into episodes, fires due timers, and
publishes every visible change on the ``alerts`` topic.

Findings (bus group ``alerts``, shared by the workers) need no memory: each is applied on its
own. Readings do (the reading rules' persistence and hysteresis), so they are consumed from the
patient partitions this worker holds a lease on (``partitions.py``): one patient's readings
never split between workers, and a takeover rebuilds their state from stored readings.

At-least-once: a batch is acked after its episodes are committed; reprocessing it is harmless
because evidence is recorded by key. Alert events are published after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.adherence import service as adherence
from alerts.adherence import technical
from alerts.engine.conditions import ReadingConditions, Trigger, arrest_first, finding_trigger
from alerts.engine.partitions import DEFAULT_TIMING, GROUP, RECLAIM_IDLE_S, ReadingPartitions
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEpisode
from alerts.episodes.views import TOPIC_ALERTS, alert_json
from alerts.escalation import repository as escalation_repo
from alerts.escalation import service as escalation
from alerts.notify import repository as notify_repo
from alerts.notify import service as notify
from alerts.notify.port import Notifier
from alerts.policy import service as policy
from patient_hub.bus.base import TOPIC_FINDINGS, Delivery
from patient_hub.bus.leases import Leases, MemoryLeases
from patient_hub.bus.partitions import PARTITIONS, split_work_topic
from patient_hub.db import unit_of_work
from patient_hub.processing.worker import LeaseTiming
from patient_hub.runtime import HubContext
from patient_hub.writer_lock import urgent_writer

log = logging.getLogger(__name__)
__all__ = ["GROUP", "AlertEngine", "AlertWorker", "Plan"]
#: Messages handled per commit.
BATCH = 50


@dataclass
class Plan:
    """The writes one or more bus messages need."""

    triggers: list[Trigger] = field(default_factory=list)
    heard: list[tuple[str, str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.triggers or self.heard)

    def add(self, other: Plan) -> None:
        self.triggers += other.triggers
        self.heard += other.heard


class AlertEngine:
    """Evaluates a bus payload and applies it inside the caller's transaction."""

    def __init__(self) -> None:
        self.policies = policy.PolicyCache()
        self.limits = technical.LIMITS
        self.heard = technical.HeardCache()

    async def plan_readings(
        self,
        sessions: async_sessionmaker[AsyncSession],
        payload: dict[str, Any],
        now: datetime,
        conditions: ReadingConditions,
    ) -> Plan:
        """What a readings batch changes, decided without the write lock: the triggers (from
        ``conditions``, the state of the batch's partition), and the devices whose liveness or
        battery is due to be written. Usually nothing."""
        by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in payload.get("readings", []):
            if "derived" not in r.get("flags", []):
                by_patient[r["patient_id"]].append(r)
        plan = Plan()
        missing = [p for p in by_patient if not self.policies.cached(p)]
        if missing:  # a read-only look-up of new patients' policies (WAL: no writer blocked)
            async with sessions() as session:
                self.policies.put(await policy.reading_rules_of(session, missing, now))
        bridge = payload.get("bridge_id", "")
        for patient_id, rows in by_patient.items():
            rules = self.policies.peek(patient_id)
            plan.triggers += conditions.take(patient_id, rules, rows, bridge)
        plan.heard = technical.heard_devices(payload, self.heard)
        return plan

    def plan_findings(self, payload: dict[str, Any]) -> Plan:
        return Plan([t for f in payload.get("findings", []) if (t := finding_trigger(f))])

    async def apply(self, session: AsyncSession, plan: Plan, now: datetime) -> list[AlertEpisode]:
        changed = await technical.record_heard(session, plan.heard, self.limits)
        return changed + await self._apply(session, plan.triggers, now)

    async def _apply(
        self, session: AsyncSession, triggers: list[Trigger], now: datetime
    ) -> list[AlertEpisode]:
        changed: list[AlertEpisode] = []
        for t in arrest_first(triggers):
            changed += await episodes.apply(session, t, now)
        return changed


def visible_changes(changed: list[AlertEpisode]) -> list[dict[str, Any]]:
    """The changed episodes screens may show (a pending one is not paged yet), once each."""
    seen: dict[int, dict[str, Any]] = {}
    for ep in changed:
        if ep.state != "pending":
            seen[ep.id] = alert_json(ep)
    return list(seen.values())


class AlertWorker:
    """Runs the engine against the bus, and the timers, until stopped."""

    def __init__(
        self,
        hub: HubContext,
        consumer: str,
        *,
        timer_poll_s: float = 1.0,
        consume: bool = True,
        clock: Callable[[], datetime] | None = None,
        notifiers: dict[str, Notifier] | None = None,
        sweep_s: float = 60.0,
        limits: technical.TechnicalLimits = technical.LIMITS,
        leases: Leases | None = None,
        partitions: int = PARTITIONS,
        timing: LeaseTiming = DEFAULT_TIMING,
    ) -> None:
        self.hub = hub
        self.consumer = consumer
        self.engine = AlertEngine()
        self.timer_poll_s = timer_poll_s
        self.consume = consume
        self.clock = clock or hub.clock
        self.notifiers = notifiers or {}
        self.sweep_s = sweep_s
        self.engine.limits = limits
        self.readings = ReadingPartitions(
            hub, consumer, leases or MemoryLeases(), partitions=partitions, timing=timing
        )
        self.processed = 0
        self._heard: list[tuple[str, str, Any]] = []
        self._last_sweep: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._timers(stop), name="alert-timers")]
        if self.consume:
            tasks.append(asyncio.create_task(self._bus(stop), name="alert-consumer"))
        await asyncio.gather(*tasks)
        with contextlib.suppress(Exception):  # a clean stop writes what it heard last
            await self.flush_heard()

    async def rebalance(self) -> None:
        """Hold this worker's share of the readings partitions (taking over the gained ones'
        state and backlog) and retry its own messages whose handling failed."""
        work = await self.readings.rebalance(self.engine.policies, self.clock())
        work.append(
            (
                TOPIC_FINDINGS,
                await self.hub.bus.reclaim(
                    TOPIC_FINDINGS, GROUP, self.consumer, min_idle_s=RECLAIM_IDLE_S
                ),
            )
        )
        for name, batch in work:
            for i in range(0, len(batch), BATCH):
                await self.readings.renew_if_due()  # a long backlog must not lapse the leases
                await self.handle(name, batch[i : i + BATCH])

    async def _bus(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_balance = 0.0
        try:
            while not stop.is_set():
                try:
                    if loop.time() >= next_balance:
                        await self.rebalance()
                        next_balance = loop.time() + self.readings.timing.renew_s
                    await self._step()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the batch stays pending and is retried
                    log.exception("alert worker: batch failed, will be retried")
                    await _wait(stop, 1.0)
        finally:
            if stop.is_set():
                await self.readings.leave()

    async def _step(self) -> None:
        """Wait briefly for findings or readings of the held partitions; handle them."""
        topics = [TOPIC_FINDINGS, *self.readings.topics()]
        got = await self.hub.bus.consume_many(
            topics, GROUP, self.consumer, count=BATCH, block_s=0.1
        )
        by_topic: dict[str, list[Delivery]] = defaultdict(list)
        for topic, delivery in got:
            by_topic[topic].append(delivery)
        if by_topic:
            await self.handle_many(list(by_topic.items()))

    async def handle(self, topic: str, batch: list[Delivery]) -> None:
        """Evaluate a batch of ``findings`` or of one readings partition (``handle_many``)."""
        await self.handle_many([(topic, batch)])

    async def handle_many(self, batches: list[tuple[str, list[Delivery]]]) -> None:
        """Evaluate batches of ``findings`` and of readings partitions, and apply them in one
        transaction; write (under SQLite's writer lock) only when they change something: most
        readings batches change nothing, and the hot path stays off the writer. A partition
        handed over meanwhile is left to its new holder (not acked)."""
        now = self.clock()
        plan, done = Plan(), []
        for topic, batch in batches:
            if batch and await self._plan(topic, batch, now, plan):
                done.append((topic, batch))
        # Liveness and battery wait for the timer loop's next flush (``flush_heard``): the
        # readings path takes the writer only for what pages.
        self._heard += plan.heard
        plan.heard = []
        changed: list[AlertEpisode] = []
        if plan:  # it pages someone: ahead of queued ingest batches (``writer_lock.py``)
            async with urgent_writer(self.hub.write_lock), unit_of_work(self.hub.sessions) as s:
                changed = await self.engine.apply(s, plan, now)
        await self.publish(changed)
        for topic, batch in done:
            await self.hub.bus.ack(topic, GROUP, [d.id for d in batch])
            self.processed += len(batch)

    async def _plan(self, topic: str, batch: list[Delivery], now: datetime, plan: Plan) -> bool:
        """Add what ``batch`` changes to ``plan``; False for a partition no longer held."""
        if topic == TOPIC_FINDINGS:
            for d in batch:
                plan.add(self.engine.plan_findings(d.payload))
            return True
        held = self.readings.held.get(split_work_topic(topic)[1])
        if held is None:
            return False
        loop_s = asyncio.get_running_loop().time()
        for d in batch:
            plan.add(
                await self.engine.plan_readings(self.hub.sessions, d.payload, now, held.conditions)
            )
            plan.triggers += held.late_triggers(d.payload, loop_s)
        return True

    async def publish(self, changed: list[AlertEpisode]) -> None:
        items = visible_changes(changed)
        if items:
            await self.hub.bus.publish(TOPIC_ALERTS, {"alerts": items})

    async def fire_timers(self) -> int:
        """Fire what is due now (one transaction), then send the notifications it queued;
        return how many episodes changed.

        Asked first with a read, so the writer is taken only when a timer is due or a message
        waits: on SQLite every writer queues on one lock, and a timer loop that took it twice a
        second for nothing made ingest and the pages wait behind it (issue 13's latency)."""
        now = self.clock()
        async with self.hub.sessions() as session:
            due = await escalation_repo.any_due(session, now)
            queued = due or await notify_repo.any_queued(session, now, notify.STALE_CLAIM)
        changed: list[AlertEpisode] = []
        if due:
            async with self.hub.write_lock, unit_of_work(self.hub.sessions) as session:
                changed = await escalation.run_due(session, now, self.consumer)
            await self.publish(changed)
        if queued:  # sent outside the writer: a slow mail server must not stall ingest
            await notify.dispatch(
                self.hub.sessions, self.notifiers, now, write_lock=self.hub.write_lock
            )
        return len(changed)

    async def sweep(self) -> int:
        """Silence alarms (device, kiosk, no data) and default schedules of new patients."""
        now = self.clock()
        async with self.hub.write_lock, unit_of_work(self.hub.sessions) as session:
            await adherence.ensure_default_schedules(session, now)
            changed = await technical.sweep(session, now, self.engine.limits)
        await self.publish(changed)
        return len(changed)

    async def flush_heard(self) -> int:
        """Write the liveness and battery levels heard since the last flush (one transaction);
        raise or clear battery-low and the silence alarms they decide. Return how many devices.

        Deferred from the readings path (a second at most, the timer loop's period): a crash
        loses at most that second of liveness, which the next readings restore (the offline
        limits are minutes)."""
        heard, self._heard = self._heard, []
        if not heard:
            return 0
        now = self.clock()
        try:
            async with self.hub.write_lock, unit_of_work(self.hub.sessions) as session:
                changed = await self.engine.apply(session, Plan(heard=heard), now)
        except BaseException:  # not written: kept for the next flush, one entry per device
            self._heard = technical.merge_heard(heard + self._heard)
            raise
        await self.publish(changed)
        return len(heard)

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        if self.consume:
            async with self.hub.sessions() as session:  # read only: no writer lock
                await self.engine.policies.refresh_if_due(session, self.clock())
        await self.flush_heard()
        await self.fire_timers()
        if self.consume and (
            self._last_sweep is None or loop.time() - self._last_sweep >= self.sweep_s
        ):
            self._last_sweep = loop.time()
            await self.sweep()

    async def _timers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._maintain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert timers: run failed, will be retried")
            await _wait(stop, self.timer_poll_s)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
