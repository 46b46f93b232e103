"""All SQL of notes and contacts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.notes.models import PatientNote


async def add(session: AsyncSession, note: PatientNote) -> PatientNote:
    session.add(note)
    await session.flush()
    return note


async def of_patient(session: AsyncSession, patient_id: str, limit: int) -> Sequence[PatientNote]:
    """Newest first."""
    stmt = (
        select(PatientNote)
        .where(PatientNote.patient_id == patient_id)
        .order_by(PatientNote.at.desc(), PatientNote.id.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()
