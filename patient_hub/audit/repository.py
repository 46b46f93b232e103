"""All SQL of the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.audit.models import AuditEntry, AuditHead

HEAD_ID = 1
GENESIS_HASH = "0" * 64


async def advance_head(session: AsyncSession, n: int = 1) -> tuple[int, str]:
    """Take the chain's lock and reserve ``n`` sequence numbers: ``(first seq, previous hash)``.

    The UPDATE comes first so the lock is taken before anything is read (see ``AuditHead``).
    """
    row = (
        await session.execute(
            update(AuditHead)
            .where(AuditHead.id == HEAD_ID)
            .values(seq=AuditHead.seq + n)
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one_or_none()
    if row is not None:
        return int(row[0]) - n + 1, str(row[1])
    # A database created without the migration's seed row (tests that create_all).
    session.add(AuditHead(id=HEAD_ID, seq=n, hash=GENESIS_HASH))
    await session.flush()
    return 1, GENESIS_HASH


async def append(session: AsyncSession, entries: Sequence[AuditEntry]) -> None:
    """Store ``entries`` (chained, in order) and make the last one the head, inside the lock
    taken by ``advance_head``."""
    session.add_all(entries)
    await session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=entries[-1].hash)
    )
    await session.flush()


async def head(session: AsyncSession) -> AuditHead | None:
    return await session.get(AuditHead, HEAD_ID)


async def entries_in_order(session: AsyncSession, batch: int = 2000) -> AsyncIterator[AuditEntry]:
    """Every entry by sequence number, in batches (keyset), so verification runs in bounded
    memory."""
    after = 0
    while True:
        rows = list(
            (
                await session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.seq > after)
                    .order_by(AuditEntry.seq)
                    .limit(batch)
                )
            ).all()
        )
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq


async def entries_about_patient(
    session: AsyncSession, patient_id: str, limit: int, before: int | None = None
) -> Sequence[AuditEntry]:
    """The newest entries about one patient (``before``: a sequence number to page back)."""
    stmt = select(AuditEntry).where(AuditEntry.patient_id == patient_id)
    if before is not None:
        stmt = stmt.where(AuditEntry.seq < before)
    return (await session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit))).all()


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
