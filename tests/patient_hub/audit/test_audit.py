"""The audit log: append-only entries hash-chained, verified from the first, safe with
concurrent writers on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from clinician_api.migrate import upgrade_async
from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from patient_hub.audit import service as audit
from patient_hub.audit.models import AuditEntry
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work

WHO = Principal(user_id="usr-1", username="cardio", role=Role.CARDIOLOGIST)


async def _engine(url: str) -> AsyncEngine:
    await upgrade_async(url)
    return make_engine(url)


async def _record(engine: AsyncEngine, n: int, patient: str = "p1") -> None:
    for i in range(n):
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await audit.record(
                s, actor=WHO, action="read", entity_type="Observation",
                entity_id=f"obs-{i}", patient_id=patient, detail={"i": i, "name": "Žofie"},
            )  # fmt: skip


async def _verdict(engine: AsyncEngine) -> audit.Verdict:
    async with make_sessionmaker(engine)() as s:
        return await audit.verify(s)


async def _tamper(engine: AsyncEngine, stmt: sa.Executable) -> None:
    async with engine.begin() as conn:
        await conn.execute(stmt)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncEngine:
    return await _engine(f"sqlite:///{tmp_path / 'audit.db'}")


async def test_entries_chain_and_verify_intact(sqlite_engine: AsyncEngine) -> None:
    await _record(sqlite_engine, 5)
    async with make_sessionmaker(sqlite_engine)() as s:
        rows = list((await s.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq))).all())
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert await _verdict(sqlite_engine) == audit.Verdict(5)
    await sqlite_engine.dispose()


async def test_changing_one_row_names_that_row(sqlite_engine: AsyncEngine) -> None:
    await _record(sqlite_engine, 6)
    await _tamper(
        sqlite_engine,
        sa.update(AuditEntry).where(AuditEntry.seq == 4).values(actor="someone-else"),
    )
    verdict = await _verdict(sqlite_engine)
    assert verdict.broken_seq == 4 and "changed" in verdict.reason
    await sqlite_engine.dispose()


async def test_deleting_a_middle_row_names_the_missing_row(sqlite_engine: AsyncEngine) -> None:
    await _record(sqlite_engine, 5)
    await _tamper(sqlite_engine, sa.delete(AuditEntry).where(AuditEntry.seq == 3))
    verdict = await _verdict(sqlite_engine)
    assert verdict.broken_seq == 3 and "missing" in verdict.reason
    await sqlite_engine.dispose()


async def test_cutting_the_end_of_the_chain_is_detected(sqlite_engine: AsyncEngine) -> None:
    await _record(sqlite_engine, 5)
    await _tamper(sqlite_engine, sa.delete(AuditEntry).where(AuditEntry.seq == 5))
    verdict = await _verdict(sqlite_engine)
    assert verdict.broken_seq == 5 and "removed from the end" in verdict.reason
    await sqlite_engine.dispose()


async def test_a_group_view_records_one_chained_entry_per_patient(
    sqlite_engine: AsyncEngine,
) -> None:
    async with unit_of_work(make_sessionmaker(sqlite_engine)) as s:
        entries = await audit.record_many(
            s, actor=WHO, action="read", entity_type="Monitor", entity_id="snapshot",
            patient_ids=["p1", "p2", "p3"],
        )  # fmt: skip
    assert [e.patient_id for e in entries] == ["p1", "p2", "p3"]
    assert await _verdict(sqlite_engine) == audit.Verdict(3)
    await sqlite_engine.dispose()


async def test_an_unknown_action_is_refused_and_nothing_stored(sqlite_engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        async with unit_of_work(make_sessionmaker(sqlite_engine)) as s:
            await audit.record(s, actor=WHO, action="peek", entity_type="x", entity_id="y")  # type: ignore[arg-type]
    assert await _verdict(sqlite_engine) == audit.Verdict(0)
    await sqlite_engine.dispose()


@pytest.mark.postgres
async def test_concurrent_writers_on_postgres_keep_one_chain(postgres_url: str) -> None:
    engine = await _engine(postgres_url)
    await asyncio.gather(*(_record(engine, 5, patient=f"p{w}") for w in range(8)))
    verdict = await _verdict(engine)
    assert verdict == audit.Verdict(40)
    await _tamper(engine, sa.update(AuditEntry).where(AuditEntry.seq == 17).values(detail="{}"))
    assert (await _verdict(engine)).broken_seq == 17
    await engine.dispose()
