"""The signal worker: consumes readings and samples from the bus (group ``signal``), runs the
signal library per patient, stores findings, publishes findings and derived readings.

At-least-once: a batch is acked only after its findings are committed; a worker that dies
leaves its pending batches to be reclaimed by another (``reclaim`` after ``RECLAIM_IDLE_S``).
Findings are upserted by (patient, kind, start), so reprocessing never doubles one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS, TOPIC_SAMPLES, Delivery
from patient_hub.db import unit_of_work
from patient_hub.findings.repository import finding_json, upsert_findings
from patient_hub.processing.bedside import BedsideProcessor
from patient_hub.processing.ecg import EcgProcessor
from patient_hub.processing.rr import RrProcessor
from patient_hub.processing.strips import strip_finding
from patient_hub.processing.vitals import PatientVitals
from patient_hub.runtime import HubContext
from telemed_signal.ecg import RPeakDetector
from telemed_signal.findings import Finding

log = logging.getLogger(__name__)
GROUP = "signal"
RECLAIM_IDLE_S = 30.0
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


def warm_up() -> None:
    """Run the ECG detectors once over a few seconds of synthetic signal."""
    t = np.arange(1300) / 130.0
    ecg = np.exp(-0.5 * ((t % 0.8 - 0.4) / 0.012) ** 2)
    detector = RPeakDetector(130.0)
    for i in range(0, t.size, 73):
        detector.process(ecg[i : i + 73])


class SignalWorker:
    """Runs a SignalProcessor against the bus until stopped."""

    def __init__(self, hub: HubContext, consumer: str, tz: ZoneInfo) -> None:
        self.hub = hub
        self.consumer = consumer
        self.processor = SignalProcessor(tz)
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        # The R-peak detector's compiled kernel loads (or compiles, on a fresh install) on
        # first use: do it now, off the event loop, not on the first patient's ECG.
        await asyncio.to_thread(warm_up)
        bus = self.hub.bus
        while not stop.is_set():
            try:
                for topic in (TOPIC_READINGS, TOPIC_SAMPLES):
                    batch = await bus.reclaim(
                        topic, GROUP, self.consumer, min_idle_s=RECLAIM_IDLE_S
                    )
                    batch += await bus.consume(topic, GROUP, self.consumer, count=50, block_s=0.1)
                    if batch:
                        await self._handle(topic, batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the worker alive; the batch stays pending and is retried
                log.exception("signal worker: batch failed, will be retried")
                await asyncio.sleep(1)

    async def _handle(self, topic: str, batch: list[Delivery]) -> None:
        findings: list[Finding] = []
        derived: list[dict[str, Any]] = []
        for delivery in batch:
            try:
                if topic == TOPIC_READINGS:
                    findings += self.processor.readings(delivery.payload)
                else:
                    more, found = self.processor.samples(delivery.payload)
                    derived += more
                    findings += found
            except Exception:
                # A message the processing cannot handle would fail the same way on every
                # retry: log it and go on (its readings are stored; only analysis is skipped).
                # Storage and bus errors below are transient and do leave the batch pending.
                log.exception("signal worker: message %s on %s skipped", delivery.id, topic)
        if findings:
            async with unit_of_work(self.hub.sessions) as session:
                await upsert_findings(session, findings, self.hub.clock())
            await self.hub.bus.publish(
                TOPIC_FINDINGS, {"findings": [finding_json(f) for f in findings]}
            )
        if derived:
            await self.hub.bus.publish(TOPIC_READINGS, {"bridge_id": "hub", "readings": derived})
        await self.hub.bus.ack(topic, GROUP, [d.id for d in batch])
        self.processed += len(batch)
