"""Reading rules on patient partitions: several alert workers never split one patient's
persistence state, and a worker that takes a dead one's partitions continues its breaches
from the stored readings, with the dead worker's pending messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from alerts.engine.consumer import GROUP, AlertWorker
from clinician_api.migrate import upgrade_async
from patient_hub.bus.base import Delivery
from patient_hub.bus.leases import owner
from patient_hub.bus.memory import MemoryBus
from patient_hub.bus.partitions import partition_of, publish_for_analysis, work_topic
from patient_hub.bus.redis_leases import RedisLeases
from patient_hub.bus.redis_streams import RedisBus
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.ingest.repository import insert_readings
from patient_hub.patients import service as patients
from patient_hub.processing.worker import LeaseTiming
from patient_hub.runtime import HubContext
from telemed_core.values import Reading, utc_now
from tests.alerts.helpers import episodes

FAST = LeaseTiming(ttl_s=1.0, renew_s=0.2)
PATIENTS = [f"pa{i}" for i in range(12)]
_readings: TypeAdapter[list[Reading]] = TypeAdapter(list[Reading])


class Recording(AlertWorker):
    """An alert worker that remembers whose readings it evaluated."""

    seen: set[str]

    async def handle_many(self, batches: list[tuple[str, list[Delivery]]]) -> None:
        self.seen = getattr(self, "seen", set())
        for topic, batch in batches:
            if topic.startswith("readings.p") and int(topic[-2:]) in self.readings.held:
                for d in batch:
                    self.seen |= {r["patient_id"] for r in d.payload.get("readings", [])}
        await super().handle_many(batches)


async def enrol(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for pid in PATIENTS:
                await patients.upsert_patient(s, pid, pid, utc_now(), programme="heart_failure")
    finally:
        await engine.dispose()


@pytest.fixture
async def cluster(
    tmp_path: Path, redis_url: str
) -> AsyncIterator[Callable[[str], Awaitable[tuple[Recording, HubContext]]]]:
    """Alert workers as separate processes would have them: own bus and lease connections."""
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    await enrol(database_url)
    engine = make_engine(database_url)
    prefix = f"test:{uuid.uuid4().hex}:"
    closing: list[Any] = []

    async def worker(name: str) -> tuple[Recording, HubContext]:
        bus, leases = RedisBus(redis_url, prefix=prefix), RedisLeases(redis_url, prefix=prefix)
        closing.extend([bus, leases])
        hub = HubContext.build(engine, bus)
        w = Recording(hub, name, leases=leases, timing=FAST, timer_poll_s=0.2)
        return w, hub

    yield worker
    for c in closing:
        await c.close()
    await engine.dispose()


def spo2(patient: str, start: datetime, values: list[float], seq: int) -> list[dict[str, Any]]:
    """One SpO2 reading per second from ``start``."""
    return [
        {"seq": seq + i, "patient_id": patient, "device_id": "ox-1", "kind": "spo2",
         "value": v, "unit": "%", "measured_at": start + timedelta(seconds=i)}
        for i, v in enumerate(values)
    ]  # fmt: skip


async def store(hub: HubContext, rows: list[dict[str, Any]], publish: bool = True) -> None:
    """What ingest does: commit, then publish on the plain and the partition topics."""
    readings = _readings.validate_python(rows)
    async with hub.write_lock, unit_of_work(hub.sessions) as session:
        await insert_readings(session, "bridge-x", readings, utc_now())
    if publish:
        payload = _readings.dump_python(readings, mode="json")
        await publish_for_analysis(hub.bus, "readings", "bridge-x", payload)


async def until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_two_alert_workers_never_split_a_patients_readings(cluster: Any) -> None:
    (a, hub), (b, _) = await cluster("alert-a"), await cluster("alert-b")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in (a, b)]
    share_a = {p for p in range(32) if owner(p, ["alert-a", "alert-b"]) == "alert-a"}
    await until(
        lambda: set(a.readings.held) == share_a and len(b.readings.held) == 32 - len(share_a)
    )
    assert not set(a.readings.held) & set(b.readings.held)
    start = utc_now() - timedelta(minutes=5)
    # 70 s below 90 % per patient, sent in 10-s batches that interleave the patients.
    for k in range(7):
        for n, patient in enumerate(PATIENTS):
            at = start + timedelta(seconds=10 * k)
            await store(hub, spo2(patient, at, [88] * 10, 1000 * n + 10 * k + 1))
    await until(lambda: a.processed + b.processed >= 7 * len(PATIENTS))
    held_by_a = set(a.readings.held)
    stop.set()
    await asyncio.gather(*tasks)
    seen_a, seen_b = getattr(a, "seen", set()), getattr(b, "seen", set())
    assert seen_a and seen_b, "both workers had patients"
    assert not seen_a & seen_b  # no patient's persistence state split
    assert seen_a | seen_b == set(PATIENTS)
    for patient in PATIENTS:
        holder = a if partition_of(patient) in held_by_a else b
        assert patient in getattr(holder, "seen", set())
    eps = await episodes(hub)
    assert sorted(e.patient_id for e in eps) == sorted(PATIENTS)  # one each, none doubled
    assert {e.explanation["persistence"]["breach_since"] for e in eps} == {start.isoformat()}


async def test_a_takeover_continues_a_breach_from_stored_readings_and_pending_messages(
    cluster: Any,
) -> None:
    first, hub = await cluster("alert-first")
    stop_first = asyncio.Event()
    task = asyncio.create_task(first.run(stop_first))
    await until(lambda: len(first.readings.held) == 32)
    start = utc_now() - timedelta(minutes=5)
    await store(hub, spo2("pa1", start, [88] * 40, 1))  # 40 s low: not yet an alert
    await until(lambda: first.processed >= 1)
    # The first worker dies (kill -9: no leave); 25 s more arrive, one message of them read
    # by the dead worker but never acked, the other never delivered.
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.3)  # the dead worker's blocking read (0.1 s) has lapsed on Redis
    await store(hub, spo2("pa1", start + timedelta(seconds=40), [88] * 10, 41))
    topic = work_topic("readings", partition_of("pa1"))
    assert len(await hub.bus.consume(topic, GROUP, "alert-first", count=10, block_s=1)) == 1
    await store(hub, spo2("pa1", start + timedelta(seconds=50), [88] * 15, 51))
    assert await episodes(hub) == []
    second, _ = await cluster("alert-second")
    stop = asyncio.Event()
    run = asyncio.create_task(second.run(stop))
    await until(lambda: partition_of("pa1") in second.readings.held and second.processed >= 2)
    stop.set()
    await run
    # 65 s of breach in all: raised only if the first 40 s were rebuilt and nothing was lost.
    [ep] = await episodes(hub)
    assert (ep.patient_id, ep.rule) == ("pa1", "desaturation")
    assert ep.explanation["persistence"]["breach_since"] == start.isoformat()
    assert ep.explanation["first_evidence_at"] == (start + timedelta(seconds=60)).isoformat()


async def test_a_reading_published_after_the_takeover_read_its_backlog_still_raises(
    tmp_path: Path,
) -> None:
    """The replay saw the reading (stored before the history was read) but its message came
    later: the trigger the replay found is applied when the message arrives."""
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    await enrol(database_url)
    hub = HubContext.build(make_engine(database_url), MemoryBus())
    try:
        start = utc_now() - timedelta(minutes=5)
        rows = spo2("pa2", start, [88] * 70, 1)
        await store(hub, rows, publish=False)  # committed; ingest has not published yet
        worker = AlertWorker(hub, "late")
        await worker.rebalance()
        assert await episodes(hub) == []  # the replay's own triggers are not applied
        payload = _readings.dump_python(_readings.validate_python(rows), mode="json")
        await publish_for_analysis(hub.bus, "readings", "bridge-x", payload)
        topic = work_topic("readings", partition_of("pa2"))
        await worker.handle(topic, await hub.bus.consume(topic, GROUP, "late", block_s=0))
        [ep] = await episodes(hub)
        assert ep.explanation["persistence"]["breach_since"] == start.isoformat()
    finally:
        await hub.bus.close()
        await hub.engine.dispose()
