"""All SQL of ingest: bridges, idempotent batch inserts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.models import Bridge, ReadingRow, SampleChunkRow
from patient_hub.patients.models import Patient
from telemed_core.protocol import SEQ_BLOCK
from telemed_core.values import Reading, SampleChunk

#: What must be equal for a resent item to be the stored one (everything but the storage time).
_READING_FIELDS = (
    "patient_id", "device_id", "kind", "value", "unit", "measured_at", "device_time",
    "received_at", "flags",
)  # fmt: skip
_CHUNK_FIELDS = (
    "patient_id", "device_id", "kind", "lead", "unit", "factor", "fs_hz", "start", "samples",
    "flags",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Inserted:
    """What an idempotent insert did: seqs newly stored, and replayed seqs whose stored item
    differs from the one sent (with the first differing field)."""

    new: set[int]
    differing: list[tuple[int, str]]


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


async def get_bridge(session: AsyncSession, bridge_id: str) -> Bridge | None:
    return await session.get(Bridge, bridge_id)


async def patients_of_telemedpoint(session: AsyncSession, telemedpoint_id: str) -> set[str]:
    rows = await session.scalars(
        select(Patient.id).where(Patient.telemedpoint_id == telemedpoint_id)
    )
    return set(rows)


async def test_patients_among(session: AsyncSession, patient_ids: set[str]) -> set[str]:
    """Which of ``patient_ids`` are test patients (simulated data)."""
    if not patient_ids:
        return set()
    rows = await session.scalars(
        select(Patient.id).where(Patient.id.in_(sorted(patient_ids)), Patient.is_test.is_(True))
    )
    return set(rows)


async def last_seq(session: AsyncSession, bridge_id: str) -> int:
    readings = await session.scalar(
        select(func.max(ReadingRow.seq)).where(ReadingRow.bridge_id == bridge_id)
    )
    chunks = await session.scalar(
        select(func.max(SampleChunkRow.seq)).where(SampleChunkRow.bridge_id == bridge_id)
    )
    return max(readings or 0, chunks or 0)


async def reserve_seq_base(session: AsyncSession, bridge_id: str) -> int:
    """Reserve the next block of sequence numbers for a new outbox of ``bridge_id``.

    The bridge row is locked (``FOR UPDATE``; SQLite has one writer), so two outboxes never get
    one block, and the block lies above every number stored for the bridge (rows stored before
    blocks existed, or by an outbox whose block the hub has forgotten after a restore)."""
    used = await session.scalar(
        select(Bridge.seq_blocks).where(Bridge.id == bridge_id).with_for_update()
    )
    highest = await last_seq(session, bridge_id)
    block = max(used or 0, -(-highest // SEQ_BLOCK))
    await session.execute(update(Bridge).where(Bridge.id == bridge_id).values(seq_blocks=block + 1))
    return block * SEQ_BLOCK


async def insert_readings(
    session: AsyncSession, bridge_id: str, readings: Sequence[Reading], stored_at: datetime
) -> Inserted:
    """Insert readings that are not stored yet; compare replays with the stored ones."""
    if not readings:
        return Inserted(set(), [])
    rows = [
        {
            "bridge_id": bridge_id,
            "seq": r.seq,
            "patient_id": r.patient_id,
            "device_id": r.device_id,
            "kind": r.kind.value,
            "value": r.value,
            "unit": r.unit,
            "measured_at": r.measured_at,
            "device_time": r.device_time,
            "received_at": r.received_at,
            "stored_at": stored_at,
            "flags": ",".join(r.flags),
        }
        for r in readings
    ]
    return await _insert_new(session, ReadingRow.__table__, rows, _READING_FIELDS)


async def insert_chunks(
    session: AsyncSession, bridge_id: str, chunks: Sequence[SampleChunk], stored_at: datetime
) -> Inserted:
    """Insert sample chunks that are not stored yet; compare replays with the stored ones."""
    if not chunks:
        return Inserted(set(), [])
    rows = [
        {
            "bridge_id": bridge_id,
            "seq": c.seq,
            "patient_id": c.patient_id,
            "device_id": c.device_id,
            "kind": c.kind.value,
            "lead": c.lead,
            "unit": c.unit,
            "factor": c.factor,
            "fs_hz": c.fs_hz,
            "start": c.start,
            "n_samples": len(c.samples),
            "samples": np.asarray(c.samples, dtype="<i4").tobytes(),
            "stored_at": stored_at,
            "flags": ",".join(c.flags),
        }
        for c in chunks
    ]
    return await _insert_new(session, SampleChunkRow.__table__, rows, _CHUNK_FIELDS)


async def _insert_new(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], fields: tuple[str, ...]
) -> Inserted:
    """Insert rows whose (bridge_id, seq) is new; compare the others with what is stored.

    A Core insert on the Table, not the ORM entity: the ORM bulk path costs more than the SQL.
    The comparison reads only the replayed rows, so a batch with no replay costs nothing more.
    """
    stmt = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["bridge_id", "seq"])
        .returning(table.c.seq)
    )
    result = await session.execute(stmt, rows)
    new = set(result.scalars())
    replays = {row["seq"]: row for row in rows if row["seq"] not in new}
    if not replays:
        return Inserted(new, [])
    return Inserted(new, await _differing(session, table, rows[0]["bridge_id"], replays, fields))


async def _differing(
    session: AsyncSession,
    table: Any,
    bridge_id: str,
    replays: dict[int, dict[str, Any]],
    fields: tuple[str, ...],
) -> list[tuple[int, str]]:
    stored = await session.execute(
        select(table.c.seq, *(table.c[f] for f in fields)).where(
            table.c.bridge_id == bridge_id, table.c.seq.in_(sorted(replays))
        )
    )
    differing = []
    for row in stored:
        sent = replays[row.seq]
        field = next((f for f in fields if getattr(row, f) != sent[f]), None)
        if field is not None:
            differing.append((row.seq, field))
    return sorted(differing)
