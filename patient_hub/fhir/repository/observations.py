"""Observation search: the page statement over readings, chunks and findings, the
total, and identifiers resolved to Observation ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    false,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.fhir.codes import load_code_map
from patient_hub.fhir.repository.conditions import (
    _channel_filter,
    _dates,
    _id_filter,
    _is_panel,
    _keyset,
    _patient_filter,
    _reading_filter,
)
from patient_hub.fhir.repository.loading import StoredReading, _bp_groups, _key, _readings
from patient_hub.fhir.repository.results import (
    BP,
    DIA,
    SYS,
    AnySelect,
    C,
    F,
    Hit,
    HitPage,
    Patients,
    R,
    _aware,
)
from patient_hub.fhir.search.ids import CHUNK, FINDING, READING, ObservationId
from patient_hub.fhir.search.queries import ObservationQuery
from patient_hub.fhir.search.tokens import Token


def _branches(q: ObservationQuery, patients: Patients, *, keyset: bool) -> list[AnySelect]:
    """One SELECT (source, pk, at) per table the query can return rows from."""
    sel, lu = q.selection, q.page.sort.key == "_lastUpdated"
    out: list[AnySelect] = []
    reading = _reading_filter(sel)
    if reading is not None:
        at = R.stored_at if lu else R.measured_at
        out.append(
            select(
                literal(READING).label("src"),
                R.id.label("pk"),
                at.label("at"),
                (_is_panel() if sel.panel_kinds else false()).label("panel"),
            ).where(
                reading,
                *_patient_filter(R.patient_id, patients),
                *_dates(q.dates, R.measured_at),
                *_dates(q.last_updated, R.stored_at),
                *([_id_filter(R.id, q.ids, READING)] if q.ids is not None else []),
                *(_keyset(at, R.id, READING, q.page) if keyset else []),
            )
        )
    if sel.ecg_leads:
        at = C.stored_at if lu else C.start
        leads = _channel_filter(sel.ecg_leads)
        out.append(
            select(
                literal(CHUNK).label("src"),
                C.id.label("pk"),
                at.label("at"),
                false().label("panel"),
            ).where(
                *leads,
                *_patient_filter(C.patient_id, patients),
                *_dates(q.dates, C.start),
                *_dates(q.last_updated, C.stored_at),
                *([_id_filter(C.id, q.ids, CHUNK)] if q.ids is not None else []),
                *(_keyset(at, C.id, CHUNK, q.page) if keyset else []),
            )
        )
    if sel.finding_kinds:
        at = F.updated_at if lu else F.start
        kinds = [] if sel.finding_kinds.every else [F.kind.in_(sorted(sel.finding_kinds.values))]
        out.append(
            select(
                literal(FINDING).label("src"),
                F.id.label("pk"),
                at.label("at"),
                false().label("panel"),
            ).where(
                *kinds,
                *_patient_filter(F.patient_id, patients),
                *_dates(q.dates, F.start, F.end),
                *_dates(q.last_updated, F.updated_at),
                *([_id_filter(F.id, q.ids, FINDING)] if q.ids is not None else []),
                *(_keyset(at, F.id, FINDING, q.page) if keyset else []),
            )
        )
    return out


def _empty(q: ObservationQuery, patients: Patients) -> bool:
    return (patients is not None and not patients) or (q.ids is not None and not q.ids)


def page_statement(q: ObservationQuery, patients: Patients) -> AnySelect | None:
    """The SELECT of one page: (src, pk, at, panel) in the query's order, one row more than the
    page (it says whether another page follows); None when nothing can match."""
    branches = [] if _empty(q, patients) else _branches(q, patients, keyset=True)
    if not branches:
        return None
    # a cursor pointing backwards reads in reverse order, then flips the page
    descending = q.page.sort.descending == (q.page.cursor is None or q.page.cursor.forward)
    if len(branches) == 1:  # no UNION around a single table: less to build and to plan
        stmt, cols = branches[0], branches[0].selected_columns
    else:
        union = union_all(*branches).subquery()
        stmt, cols = select(*union.c), union.c
    order = [cols.at, cols.src, cols.pk]
    return (
        stmt.order_by(*(c.desc() if descending else c.asc() for c in order))
        .limit(q.page.count + 1)
        .offset(q.page.offset if q.page.cursor is None else 0)
    )


async def search_observations(
    session: AsyncSession, q: ObservationQuery, patients: Patients
) -> HitPage:
    """One page of ``q`` among ``patients`` (None: all), in the query's sort order.

    ``patients`` is what the caller asked for intersected with what they may see.
    """
    stmt = page_statement(q, patients)
    if stmt is None:
        return HitPage([], False)
    rows = (await session.execute(stmt)).all()
    hits = [Hit(src, pk, _aware(at), bool(panel)) for src, pk, at, panel in rows[: q.page.count]]
    if q.page.cursor is not None and not q.page.cursor.forward:
        hits.reverse()
    return HitPage(hits, len(rows) > q.page.count)


async def count_observations(session: AsyncSession, q: ObservationQuery, patients: Patients) -> int:
    """How many Observations match ``q`` (paging ignored)."""
    branches = [] if _empty(q, patients) else _branches(q, patients, keyset=False)
    total = 0
    for branch in branches:
        total += int(await session.scalar(select(func.count()).select_from(branch.subquery())) or 0)
    return total


async def resolve_identifiers(
    session: AsyncSession, tokens: Sequence[Token]
) -> frozenset[ObservationId]:
    """Our identifiers -> Observation ids: ``reading|{bridge}/{seq}`` (a BP component gives its
    panel), ``sample-chunk|{bridge}/{seq}``, ``finding|{patient}/{kind}/{start}``."""
    local = load_code_map().local
    found: set[ObservationId] = set()
    for token in tokens:
        bridge, _, seq = token.code.rpartition("/")
        if token.system in (None, local["reading_identifier"]) and seq.isdigit():
            rows = await _readings(session, R.bridge_id == bridge, R.seq == int(seq))
            if rows:
                found.add(await _observation_of(session, rows[0]))
        if token.system in (None, local["chunk_identifier"]) and seq.isdigit():
            pk = await session.scalar(select(C.id).where(C.bridge_id == bridge, C.seq == int(seq)))
            found |= {ObservationId(CHUNK, pk)} if pk is not None else set()
        if token.system in (None, local["finding_identifier"]):
            pk = await session.scalar(select(F.id).where(F.key == _finding_key(token.code)))
            found |= {ObservationId(FINDING, pk)} if pk is not None else set()
    return frozenset(found)


def _finding_key(identifier: str) -> str:
    """``{patient}/{kind}/{start Z}`` (the FHIR identifier) -> the stored finding key."""
    parts = identifier.split("/")
    try:
        start = datetime.fromisoformat(parts[2]) if len(parts) == 3 else None
    except ValueError:
        start = None
    return f"{parts[0]}|{parts[1]}|{start.isoformat()}" if start else ""


async def _observation_of(session: AsyncSession, row: StoredReading) -> ObservationId:
    """The Observation a reading row appears in: its own, or its BP panel's."""
    if row.kind not in BP:
        return ObservationId(READING, row.id)
    group = await _bp_groups(session, [row])
    members = group.get(_key(row), {})
    if SYS in members and DIA in members:
        return ObservationId(READING, members[SYS].id, panel=True)
    return ObservationId(READING, row.id)
