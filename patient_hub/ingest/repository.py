"""All SQL of ingest: bridges, idempotent batch inserts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest.models import Bridge, ReadingRow, SampleChunkRow
from patient_hub.patients.models import Patient
from telemed_core.values import Reading, SampleChunk


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


async def insert_readings(
    session: AsyncSession, bridge_id: str, readings: Sequence[Reading], stored_at: datetime
) -> set[int]:
    """Insert readings that are not stored yet; return the sequence numbers newly stored."""
    if not readings:
        return set()
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
    return await _insert_new(session, ReadingRow.__table__, rows)


async def insert_chunks(
    session: AsyncSession, bridge_id: str, chunks: Sequence[SampleChunk], stored_at: datetime
) -> set[int]:
    """Insert sample chunks that are not stored yet; return the sequence numbers newly stored."""
    if not chunks:
        return set()
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
    return await _insert_new(session, SampleChunkRow.__table__, rows)


async def _insert_new(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> set[int]:
    """Insert rows whose (bridge_id, seq) is new; return the seqs actually inserted.

    A Core insert on the Table, not the ORM entity: the ORM bulk path costs more than the SQL.
    """
    stmt = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["bridge_id", "seq"])
        .returning(table.c.seq)
    )
    result = await session.execute(stmt, rows)
    return set(result.scalars())
