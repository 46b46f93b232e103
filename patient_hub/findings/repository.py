"""All SQL of findings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.findings.models import FindingRow
from patient_hub.ingest.repository import dialect_insert
from telemed_signal.findings import Finding


def finding_key(f: Finding) -> str:
    """Identity of an episode: the same patient, kind and start is the same finding."""
    return f"{f.patient_id}|{f.kind}|{f.start.isoformat()}"


def finding_json(f: Finding) -> dict[str, Any]:
    """A finding as the bus and the API carry it."""
    return {
        "key": finding_key(f),
        "patient_id": f.patient_id,
        "kind": f.kind,
        "start": f.start.isoformat(),
        "end": f.end.isoformat() if f.end else None,
        "severity": f.severity.value,
        "method": f.method,
        "values": _jsonable(f.values),
        "window_s": f.window_s,
        "explanation": f.explanation,
        "explanation_key": f.explanation_key,
        "explanation_args": _jsonable(f.explanation_args),
    }


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        elif hasattr(v, "item"):  # numpy scalars
            out[k] = v.item()
        elif isinstance(v, list | tuple):
            out[k] = [x.item() if hasattr(x, "item") else x for x in v]
        else:
            out[k] = v
    return out


async def upsert_findings(
    session: AsyncSession, findings: Sequence[Finding], now: datetime
) -> None:
    """Insert new findings; update end/values/severity of known ones (same key)."""
    for f in findings:
        row = finding_json(f)
        values = {
            "key": row["key"],
            "patient_id": f.patient_id,
            "kind": f.kind,
            "start": f.start,
            "end": f.end,
            "severity": row["severity"],
            "method": f.method,
            "values": row["values"],
            "window_s": f.window_s,
            "explanation": f.explanation,
            "explanation_key": f.explanation_key or None,
            "explanation_args": row["explanation_args"] if f.explanation_key else None,
            "updated_at": now,
        }
        stmt = dialect_insert(session, FindingRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                k: stmt.excluded[k]
                for k in (
                    "end",
                    "severity",
                    "values",
                    "explanation",
                    "explanation_key",
                    "explanation_args",
                    "updated_at",
                )  # fmt: skip
            },
        )
        await session.execute(stmt)


async def recent_findings(
    session: AsyncSession, patient_ids: Sequence[str], since: datetime, limit: int = 500
) -> Sequence[FindingRow]:
    """Findings of these patients updated since ``since``, newest first."""
    if not patient_ids:
        return []
    stmt = (
        select(FindingRow)
        .where(FindingRow.patient_id.in_(patient_ids), FindingRow.updated_at >= since)
        .order_by(FindingRow.start.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def findings_of_patient(
    session: AsyncSession, patient_id: str, *, since: datetime | None = None, limit: int = 200
) -> Sequence[FindingRow]:
    stmt = select(FindingRow).where(FindingRow.patient_id == patient_id)
    if since is not None:
        stmt = stmt.where(FindingRow.start >= since)
    stmt = stmt.order_by(FindingRow.start.desc()).limit(limit)
    return (await session.scalars(stmt)).all()
