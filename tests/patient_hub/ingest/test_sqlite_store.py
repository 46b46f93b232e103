"""The SQLite ingest store writes rows the rest of the hub reads as if SQLAlchemy wrote them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from clinician_api.migrate import upgrade_async
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.ingest import repository
from patient_hub.ingest.models import ReadingRow, SampleChunkRow
from patient_hub.ingest.sqlite_store import SqliteIngestStore
from patient_hub.patients import service as patients
from patient_hub.readings import repository as readings_repo
from patient_hub.writer_lock import WriterLock
from telemed_core.values import Reading, SampleChunk

T0 = datetime(2026, 11, 27, 7, 30, 0, 123456, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def reading(seq: int, patient: str = "p1", **changes: object) -> Reading:
    fields: dict[str, object] = {
        "seq": seq, "patient_id": patient, "device_id": "cuff", "kind": "spo2",
        "value": 90.0 + seq, "unit": "%", "measured_at": T0 + timedelta(seconds=seq),
        "received_at": T0 + timedelta(seconds=seq, milliseconds=5), "flags": ["early"],
    }  # fmt: skip
    return Reading.model_validate({**fields, **changes})


def chunk(seq: int) -> SampleChunk:
    return SampleChunk(
        seq=seq, patient_id="p1", device_id="strap", fs_hz=130.0, start=T0, samples=[1, -2, 3]
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await patients.upsert_patient(session, "p1", "Real", NOW)
        test = await patients.upsert_patient(session, "t1", "Simulated", NOW)
        test.is_test = True
        await patients.ensure_telemedpoint(session, "tmp", "Point")
        await patients.enrol_bridge(session, "b2", telemedpoint_id="tmp")
    await engine.dispose()
    yield str(tmp_path / "hub.db")


async def test_stored_rows_read_back_as_the_readings_sent(db: str) -> None:
    at = reading(1).measured_at
    store = SqliteIngestStore(db)
    try:
        got, chunks = await store.store("b1", [reading(1), reading(2, "t1")], [chunk(3)], NOW)
    finally:
        await store.close()
    assert (got.new, got.differing, chunks.new) == ({1, 2}, [], {3})
    engine = make_engine(f"sqlite:///{db}")
    try:
        async with make_sessionmaker(engine)() as session:
            rows = {r.seq: r for r in await session.scalars(select(ReadingRow))}
            stored_chunk = await session.scalar(select(SampleChunkRow))
            # A time-range query compares the stored text: the format must be SQLAlchemy's.
            in_range = await readings_repo.readings_of_patient(
                session, "p1", since=at, until=at + timedelta(microseconds=1)
            )
    finally:
        await engine.dispose()
    assert rows[1].measured_at == reading(1).measured_at
    assert rows[1].received_at == reading(1).received_at and rows[1].device_time is None
    assert rows[1].stored_at == NOW and rows[1].value == 91.0
    assert rows[1].flags == "early"
    assert rows[2].flags == "early,simulated"  # a test patient's data is marked simulated
    assert stored_chunk is not None and stored_chunk.start == T0 and stored_chunk.n_samples == 3
    assert [r.seq for r in in_range] == [1]


async def test_a_replay_of_rows_stored_through_sqlalchemy_is_a_duplicate_not_a_conflict(
    db: str,
) -> None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            await repository.insert_readings(session, "b1", [reading(1), reading(2)], NOW)
            await repository.insert_chunks(session, "b1", [chunk(3)], NOW)
    finally:
        await engine.dispose()
    store = SqliteIngestStore(db)
    try:
        got, chunks = await store.store("b1", [reading(1), reading(2)], [chunk(3)], NOW)
        changed, _ = await store.store("b1", [reading(2, value=50.0), reading(4)], [], NOW)
        after, _ = await store.store("b1", [reading(4)], [], NOW)
    finally:
        await store.close()
    assert (got.new, got.differing, chunks.new, chunks.differing) == (set(), [], set(), [])
    assert changed.differing == [(2, "value")]
    assert after.new == {4}  # the refused batch was rolled back whole: 4 was not stored


async def test_batches_waiting_for_the_writer_commit_together_and_a_differing_one_alone(
    db: str,
) -> None:
    lock = WriterLock()
    store = SqliteIngestStore(db, lock)
    try:
        await store.store("b1", [reading(1)], [], NOW)
        async with lock:  # another writer holds SQLite: the batches queue for one group
            waiting = [
                asyncio.create_task(store.store("b1", [reading(2)], [], NOW)),
                asyncio.create_task(store.store("b1", [reading(1, value=50.0), reading(3)], [], NOW)),
                asyncio.create_task(store.store("b2", [reading(7)], [chunk(8)], NOW, touch_bridge=True)),
            ]  # fmt: skip
            await asyncio.sleep(0.05)
            assert not any(t.done() for t in waiting)  # nothing acked before its commit
        second, refused, third = [(await t)[0] for t in waiting]
        after, _ = await store.store("b1", [reading(3)], [], NOW)
    finally:
        await store.close()
    assert second.new == {2} and third.new == {7}
    assert refused.differing == [(1, "value")]
    assert after.new == {3}  # the refused batch was rolled back alone: 3 was not stored
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT bridge_id, seq FROM readings ORDER BY bridge_id, seq")
        assert stored.fetchall() == [("b1", 1), ("b1", 2), ("b1", 3), ("b2", 7)]
        seen = conn.execute("SELECT id, last_seen_at FROM bridges WHERE id = 'b2'").fetchall()
    finally:
        conn.close()
    assert seen == [("b2", "2026-11-27 08:00:00.000000")]  # a kiosk's contact, same transaction
