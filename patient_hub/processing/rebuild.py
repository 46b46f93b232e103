"""Rebuild a partition's analysis state from stored readings when a worker takes it over.

A worker that gains a partition (at start, or from a worker that died or handed it over) has
none of its patients' history in memory. The rules with long memory are the ones that matter:
weight gain over days, hypertensive crisis confirmation over the last readings, NEWS2 and SpO2
over the last minutes. Their history is re-fed from the database before the partition's new
messages, with the findings of this replay discarded (they were the previous owner's to raise).

Exactness: readings still in the partition's unprocessed messages (pending of the dead owner, or
never delivered) must not be replayed, or the streams would see them as old and the finding
they carry would be lost. So the order is: read the stored history, then take every
unprocessed message of the partition, then replay the history minus what those messages carry,
then process the messages. A reading stored after the history was read is only in a message.

Waveform streams (R-peak detectors, bedside monitors, RR-based AF) restart from the next chunk
instead: their memory is seconds to minutes and they re-learn it from the live signal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.bus.base import Delivery
from patient_hub.bus.partitions import partition_of
from patient_hub.processing.vitals import NEWS2_KINDS, WEIGHT_HISTORY
from patient_hub.readings.repository import all_patient_ids, recent_of_kinds

#: How far back each kind is replayed.
HISTORY = {
    "body_weight": WEIGHT_HISTORY,
    "bp_systolic": timedelta(days=14),
    "bp_diastolic": timedelta(days=14),
    **{kind: timedelta(minutes=15) for kind in {*NEWS2_KINDS, "spo2"} - {"bp_systolic"}},
}

Key = tuple[str, int]


async def stored_history(
    session: AsyncSession, partitions: set[int], now: datetime
) -> list[dict[str, Any]]:
    """The readings to replay for ``partitions`` as wire dicts (with ``bridge_id``)."""
    since = {kind: now - window for kind, window in HISTORY.items()}
    patients = [p for p in await all_patient_ids(session) if partition_of(p) in partitions]
    rows = await recent_of_kinds(session, patients, since)
    return [
        {
            "bridge_id": r.bridge_id,
            "seq": r.seq,
            "patient_id": r.patient_id,
            "device_id": r.device_id,
            "kind": r.kind,
            "value": r.value,
            "unit": r.unit,
            "measured_at": r.measured_at.isoformat(),
            "flags": [f for f in r.flags.split(",") if f],
        }
        for r in rows
    ]


def carried(deliveries: list[Delivery]) -> set[Key]:
    """(bridge_id, seq) of the readings in unprocessed messages."""
    return {
        (d.payload.get("bridge_id", ""), r["seq"])
        for d in deliveries
        for r in d.payload.get("readings", [])
        if "seq" in r
    }


def replay_batches(history: list[dict[str, Any]], skip: set[Key]) -> list[dict[str, Any]]:
    """History minus ``skip``, as one readings payload per patient, oldest first."""
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in history:
        if (r["bridge_id"], r["seq"]) not in skip:
            by_patient[r["patient_id"]].append(r)
    return [
        {"readings": sorted(rows, key=lambda r: r["measured_at"])} for rows in by_patient.values()
    ]
