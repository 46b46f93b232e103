"""The signal worker: consumes readings and samples of the patient partitions it holds a lease
on (group ``signal``, ``bus/partitions.py`` and ``bus/leases.py``), runs the signal library per
patient, stores findings, publishes findings and derived readings.

At-least-once: a batch is acked only after its findings are committed; a worker that dies
leaves its partitions' pending batches to the worker that takes the partitions over, which
claims them before anything new. Findings are upserted by (patient, kind, start), so
reprocessing never doubles one. Any number of workers may run: one patient's messages only
ever reach the holder of that patient's partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from patient_hub import metrics
from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS, Delivery
from patient_hub.bus.leases import Leases
from patient_hub.bus.partitions import (
    ANALYSED,
    PARTITIONS,
    partition_of,
    split_work_topic,
    work_topic,
)
from patient_hub.db import unit_of_work
from patient_hub.findings.repository import finding_json, upsert_findings
from patient_hub.processing.bedside import BedsideProcessor
from patient_hub.processing.ecg import EcgProcessor
from patient_hub.processing.rebuild import carried, replay_batches, stored_history
from patient_hub.processing.rr import RrProcessor
from patient_hub.processing.strips import strip_finding
from patient_hub.processing.vitals import PatientVitals
from patient_hub.runtime import HubContext
from telemed_signal.ecg import RPeakDetector
from telemed_signal.findings import Finding

log = logging.getLogger(__name__)
GROUP = "signal"
RECLAIM_IDLE_S = 30.0
#: Messages handled per findings commit.
BATCH = 50
#: A device whose ECG arrived this recently has its AF found from its R peaks, not its RR.
ECG_LIVE = timedelta(seconds=60)


class SignalProcessor:
    """Pure in-memory processing of bus payloads (no I/O), one per worker."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.vitals: dict[str, PatientVitals] = {}
        self.ecg = EcgProcessor()
        self.bedside = BedsideProcessor()
        self.rr = RrProcessor()

    def readings(self, payload: dict[str, Any]) -> list[Finding]:
        by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
        rr: list[dict[str, Any]] = []
        for r in payload.get("readings", []):
            if "derived" not in r.get("flags", []):
                by_patient[r["patient_id"]].append(r)
                if r.get("kind") == "rr_interval":
                    rr.append(r)
        findings: list[Finding] = []
        if rr:
            try:
                findings += self.rr.take(rr, self._ecg_devices(rr))
            except (ValueError, KeyError) as exc:
                log.warning("RR intervals skipped by the signal worker: %s", exc)
        for patient_id, rows in by_patient.items():
            state = self.vitals.get(patient_id)
            if state is None:
                state = self.vitals[patient_id] = PatientVitals(patient_id, self.tz)
            try:
                findings += state.take(rows)
            except ValueError as exc:  # implausible input: logged and skipped, never a crash
                log.warning("readings of %s skipped by the signal worker: %s", patient_id, exc)
        return findings

    def _ecg_devices(self, rows: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
        """The (patient, device) pairs whose ECG was being analysed up to these readings."""
        latest = max(datetime.fromisoformat(r["measured_at"]) for r in rows)
        devices = {(r["patient_id"], r["device_id"]) for r in rows}
        ecg_until = self.ecg.received_until
        return frozenset(d for d in devices if d in ecg_until and ecg_until[d] >= latest - ECG_LIVE)

    def samples(self, payload: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Finding]]:
        """Derived readings and findings of a batch of waveform chunks: per ECG lead, heart
        rate and rhythm (pauses, brady/tachycardia, AF); per device, the life-threatening
        arrhythmias judged on all its leads and pulse waveforms; per ECG strip, its class."""
        derived: list[dict[str, Any]] = []
        findings: list[Finding] = []
        for chunk in payload.get("chunks", []):
            patient = chunk.get("patient_id")
            if "strip" in chunk.get("flags", []):  # a spot recording, judged as a whole
                try:
                    findings.append(strip_finding(chunk))
                except ValueError as exc:
                    log.warning("ECG strip of %s skipped: %s", patient, exc)
                continue
            try:
                if chunk.get("kind", "ecg") == "ecg":
                    more, found = self.ecg.take(chunk)
                    derived += more
                    findings += found
            except ValueError as exc:  # bad chunk (e.g. wrong fs): skipped, never a crash
                log.warning("ECG chunk of %s skipped: %s", patient, exc)
            try:
                findings += self.bedside.take(chunk)
            except ValueError as exc:
                log.warning("bedside chunk of %s skipped: %s", patient, exc)
        return derived, findings


def analyse(
    processor: SignalProcessor, topic: str, name: str, batch: list[Delivery]
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Findings and derived readings of a batch of one partition's messages, in their order."""
    findings: list[Finding] = []
    derived: list[dict[str, Any]] = []
    for delivery in batch:
        try:
            if topic == TOPIC_READINGS:
                findings += processor.readings(delivery.payload)
            else:
                more, found = processor.samples(delivery.payload)
                derived += more
                findings += found
        except Exception:
            # A message the processing cannot handle would fail the same way on every
            # retry: log it and go on (its readings are stored; only analysis is skipped).
            # Storage and bus errors (in the worker) are transient and leave the batch pending.
            log.exception("signal worker: message %s on %s skipped", delivery.id, name)
    return findings, derived


def warm_up() -> None:
    """Run the ECG detectors once over a few seconds of synthetic signal."""
    t = np.arange(1300) / 130.0
    ecg = np.exp(-0.5 * ((t % 0.8 - 0.4) / 0.012) ** 2)
    detector = RPeakDetector(130.0)
    for i in range(0, t.size, 73):
        detector.process(ecg[i : i + 73])


@dataclass(frozen=True)
class LeaseTiming:
    """How long a partition lease lasts without renewal, and how often the worker renews."""

    ttl_s: float = 10.0
    renew_s: float = 2.0


class SignalWorker:
    """Runs the signal analysis of the patient partitions this worker holds a lease on.

    One SignalProcessor per held partition: losing a partition drops exactly its patients'
    state, gaining one rebuilds it (``rebuild.py``) and takes over the partition's pending
    messages before any new one."""

    def __init__(
        self,
        hub: HubContext,
        consumer: str,
        tz: ZoneInfo,
        leases: Leases,
        *,
        partitions: int = PARTITIONS,
        timing: LeaseTiming = LeaseTiming(),
    ) -> None:
        self.hub = hub
        self.consumer = consumer
        self.tz = tz
        self.leases = leases
        self.partitions = partitions
        self.timing = timing
        self.held: dict[int, SignalProcessor] = {}
        self.processed = 0
        self.balanced = False  # has joined its group and knows its partitions
        self._renew_at = 0.0
        # The analysis is CPU work (numpy/scipy, which release the GIL, and Python around
        # them): on the event loop it held up ingest, the screens and the lease renewals for
        # a whole message (the embedded hub runs ingest and this worker in one process). It
        # runs on one thread of its own, each batch awaited before the next is taken, so every
        # patient's messages are still analysed one at a time and in their order.
        self._analysis = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signal-analysis")

    async def run(self, stop: asyncio.Event) -> None:
        # The R-peak detector's compiled kernel loads (or compiles, on a fresh install) on
        # first use: do it now, off the event loop, not on the first patient's ECG.
        await asyncio.to_thread(warm_up)
        loop = asyncio.get_running_loop()
        next_balance = 0.0
        try:
            while not stop.is_set():
                try:
                    if loop.time() >= next_balance:
                        await self._rebalance()
                        next_balance = loop.time() + self.timing.renew_s
                    await self._step(stop)
                except asyncio.CancelledError:
                    raise
                except Exception:  # keep the worker alive; the batch stays pending, is retried
                    log.exception("signal worker: batch failed, will be retried")
                    await _wait(stop, 1.0)
        finally:
            self._analysis.shutdown(wait=False)
            if stop.is_set():  # a clean stop hands the partitions over at once
                await self.leases.leave(GROUP, self.consumer, self.partitions)

    async def _step(self, stop: asyncio.Event) -> None:
        topics = [work_topic(t, p) for p in sorted(self.held) for t in ANALYSED]
        if not topics:
            await _wait(stop, self.timing.renew_s)
            return
        got = await self.hub.bus.consume_many(
            topics, GROUP, self.consumer, count=BATCH, block_s=0.1
        )
        by_topic: dict[str, list[Delivery]] = defaultdict(list)
        for topic, delivery in got:
            by_topic[topic].append(delivery)
        for topic, batch in by_topic.items():
            await self._handle(topic, batch)

    async def _rebalance(self) -> None:
        held = await self.leases.balance(GROUP, self.consumer, self.partitions, self.timing.ttl_s)
        self._renew_at = asyncio.get_running_loop().time() + self.timing.renew_s
        for partition in set(self.held) - held:
            del self.held[partition]  # another worker holds it now: its state goes with it
            log.info("signal worker %s: partition %d handed over", self.consumer, partition)
        gained = held - set(self.held)
        if gained:
            await self._take_over(gained)
        self.balanced = True  # only now does ``held`` say what this worker analyses (readiness)
        metrics.WORKER_PARTITIONS.set(len(self.held))
        for partition in held & set(self.held):  # own messages whose handling failed
            for topic in ANALYSED:
                name = work_topic(topic, partition)
                batch = await self.hub.bus.reclaim(
                    name, GROUP, self.consumer, min_idle_s=RECLAIM_IDLE_S
                )
                if batch:
                    await self._handle(name, batch)

    async def _take_over(self, partitions: set[int]) -> None:
        """Rebuild the partitions' state, then process everything they have not processed."""
        async with self.hub.sessions() as session:
            history = await stored_history(session, partitions, self.hub.clock())
        backlog: list[tuple[str, list[Delivery]]] = []
        for partition in sorted(partitions):
            for topic in ANALYSED:
                backlog.append(
                    (work_topic(topic, partition), await self._unprocessed(topic, partition))
                )
        skip = carried(
            [d for name, batch in backlog if name.startswith(TOPIC_READINGS) for d in batch]
        )
        for partition in partitions:
            self.held[partition] = SignalProcessor(self.tz)
        metrics.WORKER_TAKEOVERS.inc(len(partitions))
        for payload in replay_batches(history, skip):
            patient = payload["readings"][0]["patient_id"]
            self.held[partition_of(patient, self.partitions)].readings(
                payload
            )  # findings: the old owner's
        for name, batch in backlog:
            for i in range(0, len(batch), BATCH):
                await self._renew_if_due()  # a long backlog must not let the leases lapse
                await self._handle(name, batch[i : i + BATCH])
        log.info("signal worker %s: took over partitions %s", self.consumer, sorted(partitions))

    async def _renew_if_due(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._renew_at:
            return
        self._renew_at = loop.time() + self.timing.renew_s
        still = await self.leases.renew(GROUP, self.consumer, set(self.held), self.timing.ttl_s)
        for partition in set(self.held) - still:
            del self.held[partition]
            log.warning("signal worker %s: lease of partition %d lapsed", self.consumer, partition)

    async def _unprocessed(self, topic: str, partition: int) -> list[Delivery]:
        """Every message of a partition not yet acked: the previous owner's pending ones
        (claimed at once: the lease says that owner is gone), then those never delivered."""
        name = work_topic(topic, partition)
        bus = self.hub.bus
        batch = await bus.reclaim(name, GROUP, self.consumer, min_idle_s=0, count=100_000)
        while more := await bus.consume(name, GROUP, self.consumer, count=1000, block_s=0):
            batch += more
        return batch

    async def _handle(self, name: str, batch: list[Delivery]) -> None:
        topic, partition = split_work_topic(name)
        processor = self.held.get(partition)
        if processor is None:  # handed over meanwhile: leave the batch to the new owner
            return
        loop = asyncio.get_running_loop()
        findings, derived = await loop.run_in_executor(
            self._analysis, analyse, processor, topic, name, batch
        )
        if findings:
            async with unit_of_work(self.hub.sessions) as session:
                await upsert_findings(session, findings, self.hub.clock())
            await self.hub.bus.publish(
                TOPIC_FINDINGS, {"findings": [finding_json(f) for f in findings]}
            )
        if derived:  # for the screens only: the analysis skips derived readings
            await self.hub.bus.publish(TOPIC_READINGS, {"bridge_id": "hub", "readings": derived})
        await self.hub.bus.ack(name, GROUP, [d.id for d in batch])
        self.processed += len(batch)
        metrics.WORKER_MESSAGES.inc(len(batch))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
