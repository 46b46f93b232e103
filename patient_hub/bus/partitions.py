"""Patient partitions of the analysis topics.

The signal worker keeps each patient's analysis state in memory, so every reading and sample of
one patient must reach the one worker that holds that state. Ingest therefore publishes what a
worker analyses a second time, on ``<topic>.p<k>`` where ``k`` is the patient's partition
(CRC-32 of the patient id, modulo ``PARTITIONS``); a worker consumes only the partitions it holds
a lease on (``patient_hub/bus/leases.py``). The plain topics (``readings``, ``samples``) still
carry everything, for the live screens and FHIR subscriptions. One stream entry per partition
per batch: a home bridge's batch is one patient, so one extra entry.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from patient_hub.bus.base import TOPIC_READINGS, TOPIC_SAMPLES, Bus

#: Fixed for the life of a deployment (a patient's partition must not move under a running
#: cluster). 32 lets up to 32 workers share the work; a worker may hold many.
PARTITIONS = 32
#: The topics a worker analyses, and the payload field that carries their items.
ANALYSED = {TOPIC_READINGS: "readings", TOPIC_SAMPLES: "chunks"}


def partition_of(patient_id: str, partitions: int = PARTITIONS) -> int:
    """The partition of a patient: stable across processes and restarts (not ``hash()``)."""
    return zlib.crc32(patient_id.encode()) % partitions


def work_topic(topic: str, partition: int) -> str:
    """The stream of ``topic`` items of one partition's patients."""
    return f"{topic}.p{partition:02d}"


def split_work_topic(name: str) -> tuple[str, int]:
    """``readings.p07`` → (``readings``, 7)."""
    topic, _, part = name.rpartition(".p")
    return topic, int(part)


def by_partition(items: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    parts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        parts[partition_of(item["patient_id"])].append(item)
    return parts


async def publish_for_analysis(
    bus: Bus, topic: str, source: str, items: list[dict[str, Any]]
) -> None:
    """Publish stored items (JSON dicts) on ``topic`` and on their partitions' work topics."""
    if not items:
        return
    field = ANALYSED[topic]
    await bus.publish(topic, {"bridge_id": source, field: items})
    for partition, part in by_partition(items).items():
        await bus.publish(work_topic(topic, partition), {"bridge_id": source, field: part})
