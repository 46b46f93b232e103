"""The signal worker analyses off the event loop: ingest and the screens of an embedded hub
share its loop, and one message of ECG analysis must not hold them up. Findings and their
order are those of the analysis run directly."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from device_bridge.simulator import synthetic_ecg_uv
from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_SAMPLES, Delivery
from patient_hub.bus.leases import MemoryLeases
from patient_hub.bus.partitions import partition_of, work_topic
from patient_hub.db import make_engine
from patient_hub.findings.repository import finding_json
from patient_hub.processing.worker import SignalProcessor, SignalWorker
from patient_hub.runtime import HubContext
from tests.patient_hub.processing.test_worker import T0


class FakeBus:
    """What the worker publishes and acks, kept in order."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.acked: list[str] = []

    async def publish(self, topic: str, payload: dict[str, Any]) -> str:
        self.published.append((topic, payload))
        return str(len(self.published))

    async def ack(self, topic: str, group: str, ids: list[str]) -> None:
        self.acked += ids


class Slow(SignalProcessor):
    """A message costs 0.2 s of analysis; it notes the thread it ran on."""

    threads: set[int]

    def samples(self, payload: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
        self.threads.add(threading.get_ident())
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:  # CPU work, the GIL given up only by switching
            pass
        return [], []


async def test_the_event_loop_keeps_running_while_a_batch_is_analysed() -> None:
    bus = FakeBus()
    hub: Any = HubContext(engine=None, sessions=None, bus=bus)  # type: ignore[arg-type]
    worker = SignalWorker(hub, "w1", ZoneInfo("UTC"), MemoryLeases())
    slow = Slow(ZoneInfo("UTC"))
    slow.threads = set()
    worker.held[0] = slow
    batch = [Delivery(str(i), {"chunks": []}) for i in range(4)]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.perf_counter()
    await worker._handle(work_topic(TOPIC_SAMPLES, 0), batch)
    took_s = time.perf_counter() - started
    beat.cancel()
    assert took_s >= 0.8 and bus.acked == ["0", "1", "2", "3"]
    assert threading.get_ident() not in slow.threads  # off the loop's thread
    # The loop ran throughout: about 80 ticks on a quiet machine, 19 seen with two test runs
    # on two cores; on the loop's own thread, one tick per message at most (4).
    assert ticks >= 10


def pause_stream() -> list[dict[str, Any]]:
    """40 s of a strap's ECG with a 6 s pause on good signal: pause findings as it grows."""
    rng = random.Random(1)
    chunks = []
    for second in range(40):
        if 30 <= second < 36:
            samples = [rng.randint(-20, 20) for _ in range(130)]
        else:
            samples = synthetic_ecg_uv(70.0, 130.0, 130, float(second))
        chunks.append({"patient_id": "p1", "device_id": "strap-1", "fs_hz": 130.0,
                       "start": (T0 + timedelta(seconds=second)).isoformat(),
                       "samples": samples})  # fmt: skip
    return chunks


async def test_findings_off_the_loop_equal_the_analysis_run_directly(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    chunks = pause_stream()
    direct = SignalProcessor(ZoneInfo("UTC"))
    expected = [finding_json(f) for c in chunks for f in direct.samples({"chunks": [c]})[1]]
    assert any(f["kind"] == "pause" for f in expected)

    engine = make_engine(hub.settings.database_url)
    bus = FakeBus()
    try:
        worker = SignalWorker(HubContext.build(engine, bus), "w1", ZoneInfo("UTC"), MemoryLeases())  # type: ignore[arg-type]
        partition = partition_of("p1", worker.partitions)
        worker.held[partition] = SignalProcessor(ZoneInfo("UTC"))
        name = work_topic(TOPIC_SAMPLES, partition)
        for i in range(0, len(chunks), 7):  # batches of several messages
            batch = [Delivery(str(i + k), {"chunks": [c]}) for k, c in enumerate(chunks[i : i + 7])]
            await worker._handle(name, batch)
    finally:
        await engine.dispose()
    published = [f for topic, p in bus.published if topic == TOPIC_FINDINGS for f in p["findings"]]
    assert published == expected
