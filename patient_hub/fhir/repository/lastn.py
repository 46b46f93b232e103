"""``Observation/$lastn``: the newest Observations of each series of one patient."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.fhir.repository.conditions import _channel_filter, _dates, _panel_filter, _single
from patient_hub.fhir.repository.results import AnySelect, C, F, Hit, R, _aware
from patient_hub.fhir.search.ids import CHUNK, FINDING, READING
from patient_hub.fhir.search.queries import LastnQuery


def _newest(stmt: AnySelect, at: Any, pk: Any, n: int) -> AnySelect:
    sub = stmt.order_by(at.desc(), pk.desc()).limit(n).subquery()
    return select(sub.c.series, sub.c.src, sub.c.pk, sub.c.at)


async def last_n(session: AsyncSession, q: LastnQuery, patient_id: str) -> list[tuple[str, Hit]]:
    """The newest ``q.max_per_series`` Observations of each series of one patient: per kind of
    reading (so LOINC and MDC codes of one measurement are one series), BP panels, each ECG lead
    and each finding kind. Sorted by series, newest first."""
    sel, n = q.selection, q.max_per_series
    branches = []
    series = [(kind, _single(kind)) for kind in sorted(sel.kinds)]
    panel = _panel_filter(sel.panel_kinds)
    series += [("bp_panel", panel)] if panel is not None else []
    for name, condition in series:
        stmt = select(
            literal(name).label("series"),
            literal(READING).label("src"),
            R.id.label("pk"),
            R.measured_at.label("at"),
        ).where(R.patient_id == patient_id, condition, *_dates(q.dates, R.measured_at))
        branches.append(_newest(stmt, R.measured_at, R.id, n))
    out: list[tuple[str, Hit]] = []
    if branches:
        rows = (await session.execute(union_all(*branches))).all()
        out += [(s, Hit(src, pk, _aware(at), s == "bp_panel")) for s, src, pk, at in rows]
    out += await _last_chunks(session, q, patient_id)
    out += await _last_findings(session, q, patient_id)
    out.sort(key=lambda sh: (sh[0], -sh[1].at.timestamp(), -sh[1].pk))
    return out


async def _last_chunks(
    session: AsyncSession, q: LastnQuery, patient_id: str
) -> list[tuple[str, Hit]]:
    """ECG per lead, among the patient's newest ``max * 12`` chunks: leads are recorded
    together, and a per-lead LIMIT would scan the whole history for a lead never recorded."""
    leads = q.selection.ecg_leads
    if not leads:
        return []
    stmt = select(C.id, C.lead, C.start).where(
        C.patient_id == patient_id,
        *_channel_filter(leads),
        *_dates(q.dates, C.start),
    )
    width = q.max_per_series * (14 if leads.every else len(leads.values))
    stmt = stmt.order_by(C.start.desc(), C.id.desc()).limit(width)
    taken: dict[str, int] = {}
    out = []
    for pk, lead, start in await session.execute(stmt):
        if taken.get(lead, 0) < q.max_per_series:
            taken[lead] = taken.get(lead, 0) + 1
            out.append((f"ecg_{lead}", Hit(CHUNK, pk, start)))
    return out


async def _last_findings(
    session: AsyncSession, q: LastnQuery, patient_id: str
) -> list[tuple[str, Hit]]:
    kinds = q.selection.finding_kinds
    if not kinds:
        return []
    rank = func.row_number().over(partition_by=F.kind, order_by=(F.start.desc(), F.id.desc()))
    sub = (
        select(F.id, F.kind, F.start, rank.label("rank"))
        .where(
            F.patient_id == patient_id,
            *([] if kinds.every else [F.kind.in_(sorted(kinds.values))]),
            *_dates(q.dates, F.start, F.end),
        )
        .subquery()
    )
    rows = await session.execute(
        select(sub.c.id, sub.c.kind, sub.c.start).where(sub.c.rank <= q.max_per_series)
    )
    return [(f"finding_{kind}", Hit(FINDING, pk, _aware(start))) for pk, kind, start in rows]
