"""All SQL of patients that is more than a lookup by key: duplicates, test cohorts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import MetaData, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.patients.models import Patient


async def with_national_id(session: AsyncSession, national_id: str, other_than: str) -> str | None:
    """The id of another patient with this birth number, if any."""
    return await session.scalar(
        select(Patient.id).where(Patient.national_id == national_id, Patient.id != other_than)
    )


async def same_name_and_birth(
    session: AsyncSession,
    patient_id: str,
    display_name: str,
    family_name: str | None,
    given_name: str | None,
    birth_date: date | None,
) -> Sequence[str]:
    """Ids of other patients likely to be the same person: the same name (case-insensitive;
    display name or family + given name) and, where both are known, the same birth date."""
    same_name = [func.lower(Patient.display_name) == display_name.lower()]
    if family_name and given_name:
        same_name.append(
            (func.lower(Patient.family_name) == family_name.lower())
            & (func.lower(Patient.given_name) == given_name.lower())
        )
    stmt = select(Patient.id).where(Patient.id != patient_id, or_(*same_name))
    if birth_date is not None:
        stmt = stmt.where(or_(Patient.birth_date.is_(None), Patient.birth_date == birth_date))
    return (await session.scalars(stmt.order_by(Patient.id))).all()


async def test_patient_ids(session: AsyncSession, prefix: str) -> list[str]:
    """Ids of the test patients (``is_test``) whose id starts with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = select(Patient.id).where(
        Patient.is_test.is_(True), Patient.id.like(f"{escaped}%", escape="\\")
    )
    return list((await session.scalars(stmt.order_by(Patient.id))).all())


def _doomed_where(metadata: MetaData, patient_ids: list[str]) -> dict[str, Any]:
    """Per table, the rows that belong to these patients: a ``patient_id`` among them, or a
    foreign key to a row that belongs to them (parents first, so children see them)."""
    where: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        if table.info.get("append_only"):
            continue  # e.g. an audit log: never rewritten, so a removal fails loudly on its FK
        clauses = []
        if table.name == "patients":
            clauses.append(table.c.id.in_(patient_ids))
        elif "patient_id" in table.c:
            clauses.append(table.c.patient_id.in_(patient_ids))
        for fk in table.foreign_keys:
            parent = fk.column.table
            if parent.name in where and parent.name != table.name:
                chosen = select(fk.column).where(where[parent.name])
                clauses.append(fk.parent.in_(chosen.scalar_subquery()))
        if clauses:
            where[table.name] = or_(*clauses)
    return where


async def delete_patients_everywhere(
    session: AsyncSession, metadata: MetaData, patient_ids: list[str]
) -> dict[str, int]:
    """Delete the patients and every row that belongs to them, children first; returns the
    number of rows deleted per table."""
    where = _doomed_where(metadata, patient_ids)
    counts: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        if table.name in where:
            result = await session.execute(delete(table).where(where[table.name]))
            counts[table.name] = int(result.rowcount)  # type: ignore[attr-defined]
    return {name: n for name, n in counts.items() if n}
