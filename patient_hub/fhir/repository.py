"""All SQL of the FHIR facade: Observation search, read and $lastn; Patient and Device.

Observations come from three tables, each row one Observation except BP components:

* ``readings``: one Observation per row (``r-<id>``), except that systolic + diastolic (+ mean)
  of one patient, device and ``measured_at`` are one 85354-9 panel whose id is its systolic
  row's (``bp-<id>``); its diastolic and mean rows are not returned on their own by a search
  (reading ``r-<id>`` of a component still answers, as the single reading it is);
* ``sample_chunks``: one ECG lead chunk, ``ecg-<id>``, dated by its first sample;
* ``findings``: ``f-<id>``, dated by its period (open while ongoing).

A search is keyset-paged on ``(date or lastUpdated, source, id)``: stable while new readings
arrive, and every page is an index range scan. "One patient's last day of one code" is a range
of ``ix_readings_patient_kind_time (patient_id, kind, measured_at)`` per kind the code means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from patient_hub.fhir.codes import load_code_map
from patient_hub.fhir.common import JsonDict, ReadingLike, fhir_datetime
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.mapping import bp_panel, reading_to_observation
from patient_hub.fhir.patient_sql import patient_demographic_conditions
from patient_hub.fhir.resources import (
    device_to_fhir,
    finding_to_fhir,
    gateway_to_fhir,
    patient_to_fhir,
)
from patient_hub.fhir.search.dates import DateFilter
from patient_hub.fhir.search.ids import CHUNK, FINDING, READING, ObservationId
from patient_hub.fhir.search.paging import Page
from patient_hub.fhir.search.parse import decode_ids
from patient_hub.fhir.search.queries import LastnQuery, ObservationQuery, PatientQuery
from patient_hub.fhir.search.selection import Selection, Subset
from patient_hub.fhir.search.tokens import Token
from patient_hub.fhir.waveform import chunk_to_observation
from patient_hub.findings.models import FindingRow
from patient_hub.ingest.models import Bridge, ReadingRow, SampleChunkRow
from patient_hub.patients.models import Patient
from telemed_signal.findings import Finding, Severity

SYS, DIA, MEAN = "bp_systolic", "bp_diastolic", "bp_mean"
BP = (SYS, DIA, MEAN)
R, C, F = ReadingRow, SampleChunkRow, FindingRow
Patients = frozenset[str] | None  # None: every patient
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Hit:
    """One Observation of a result: where it is stored and its sort value."""

    source: int
    pk: int
    at: datetime
    panel: bool = False

    @property
    def id(self) -> ObservationId:
        return ObservationId(self.source, self.pk, self.panel)


@dataclass(frozen=True, slots=True)
class HitPage:
    hits: list[Hit]
    more: bool  # another page follows in the direction of travel


@dataclass(frozen=True, slots=True)
class Loaded:
    """A resource and the patient it belongs to (for access checks)."""

    resource: JsonDict
    patient_id: str


# -- reading conditions --------------------------------------------------------------------------


@cache
def _sibling(kind: str) -> ColumnElement[bool]:
    """A reading of ``kind`` taken with the outer reading (same patient, device and time).

    Built once per kind: an alias costs a column proxy per column, per request otherwise.
    """
    s = aliased(ReadingRow)
    return exists().where(
        s.patient_id == R.patient_id,
        s.kind == kind,
        s.measured_at == R.measured_at,
        s.device_id == R.device_id,
    )


def _is_panel() -> ColumnElement[bool]:
    return and_(R.kind == SYS, _sibling(DIA))


def _panel_filter(panel_kinds: frozenset[str]) -> ColumnElement[bool] | None:
    if not panel_kinds:
        return None
    if panel_kinds & {SYS, DIA}:
        return _is_panel()
    return and_(_is_panel(), _sibling(MEAN))


def _single(kind: str) -> ColumnElement[bool]:
    """A reading of ``kind`` that is its own Observation (not part of a BP panel)."""
    if kind == SYS:
        return and_(R.kind == SYS, ~_sibling(DIA))
    if kind == DIA:
        return and_(R.kind == DIA, ~_sibling(SYS))
    if kind == MEAN:
        return and_(R.kind == MEAN, ~and_(_sibling(SYS), _sibling(DIA)))
    return R.kind == kind


def _reading_filter(sel: Selection) -> ColumnElement[bool] | None:
    """Readings that are Observations ``sel`` admits; None when it admits none."""
    plain = sorted(sel.kinds - set(BP))
    conds = [R.kind.in_(plain)] if len(plain) > 1 else [R.kind == k for k in plain]
    conds += [_single(k) for k in BP if k in sel.kinds]
    panel = _panel_filter(sel.panel_kinds)
    conds += [panel] if panel is not None else []
    return or_(*conds) if conds else None


def _id_filter(pk: InstrumentedAttribute[int], ids: Iterable[ObservationId], source: int) -> Any:
    mine = [i for i in ids if i.source == source]
    if source != READING:
        return pk.in_([i.pk for i in mine]) if mine else false()
    singles = [i.pk for i in mine if not i.panel]
    panels = [i.pk for i in mine if i.panel]
    conds = [and_(R.id.in_(singles), ~_is_panel())] if singles else []
    conds += [and_(R.id.in_(panels), _is_panel())] if panels else []
    return or_(*conds) if conds else false()


# -- dates, patients, keyset ---------------------------------------------------------------------


def _bound(side: str, op: str, at: datetime, start: Any, end: Any) -> Any:
    col = start if side == "start" or end is None else end
    test = col >= at if op == ">=" else col < at
    if side == "end" and end is not None:  # an open period ends after every instant
        return or_(end.is_(None), test) if op == ">=" else and_(end.is_not(None), test)
    return test


def _dates(filters: Sequence[DateFilter], start: Any, end: Any = None) -> list[Any]:
    """SQL for date filters on a span (``end`` None: an instant at ``start``)."""
    return [
        or_(
            *(
                and_(*(_bound(b.side, b.op, b.at, start, end) for b in alt))
                for clause in f.clauses
                for alt in clause.alternatives
            )
        )
        for f in filters
    ]


def _patient_filter(col: Any, patients: Patients) -> list[Any]:
    if patients is None:
        return []
    if len(patients) == 1:
        return [col == next(iter(patients))]
    return [col.in_(sorted(patients))]


def _keyset(at: Any, pk: Any, source: int, page: Page) -> list[Any]:
    """Rows strictly after (or before) the cursor key in the page's sort order."""
    if page.cursor is None:
        return []
    value, key_source, key_pk = page.cursor.key
    v = datetime.fromisoformat(value)
    later = page.sort.descending != page.cursor.forward  # travelling towards larger keys?
    beyond, same = (at > v, at >= v) if later else (at < v, at <= v)
    if source != key_source:
        return [same if (source > key_source) == later else beyond]
    return [or_(beyond, and_(at == v, pk > key_pk if later else pk < key_pk))]


# -- Observation search --------------------------------------------------------------------------


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


def _aware(at: Any) -> datetime:
    """Sort values read through a UNION lose the column type on SQLite: parse them back."""
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # stored as UTC


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


# -- loading resources ---------------------------------------------------------------------------

GroupKey = tuple[str, str, datetime]


class StoredReading(ReadingLike, Protocol):
    """A readings row as loaded here (a Core row: ORM instances cost more for no use)."""

    @property
    def id(self) -> int: ...
    @property
    def stored_at(self) -> datetime: ...
    @property
    def cuff(self) -> bool:
        """A pulse rate taken with a BP panel."""


@lru_cache(maxsize=1)
def _cuff() -> Any:
    return case((R.kind == "pulse_rate", and_(_sibling(SYS), _sibling(DIA))), else_=false())


async def _readings(session: AsyncSession, *where: Any) -> list[StoredReading]:
    stmt = select(R.__table__, _cuff().label("cuff")).where(*where)
    rows = (await session.execute(stmt)).all()
    return cast(list[StoredReading], rows)


def _key(row: StoredReading) -> GroupKey:
    return (row.patient_id, row.device_id, row.measured_at)


async def _bp_groups(
    session: AsyncSession, rows: Sequence[StoredReading]
) -> dict[GroupKey, dict[str, StoredReading]]:
    """BP rows taken with ``rows`` (same patient, device, time), lowest id per kind."""
    keys = {_key(r) for r in rows if r.kind in BP}
    if not keys:
        return {}
    found = await _readings(
        session, tuple_(R.patient_id, R.device_id, R.measured_at).in_(sorted(keys)), R.kind.in_(BP)
    )
    groups: dict[GroupKey, dict[str, StoredReading]] = {}
    for r in sorted(found, key=lambda r: -r.id):  # the lowest id of a kind wins
        groups.setdefault(_key(r), {})[r.kind] = r
    return groups


def with_meta(resource: JsonDict, updated: datetime, fhir_id: str | None = None) -> JsonDict:
    """``id`` and ``meta.lastUpdated`` (when the hub stored or last changed the row); the
    mapping's fresh dict is changed in place when it already starts with id and meta."""
    if fhir_id is None and "meta" in resource:
        resource["meta"]["lastUpdated"] = fhir_datetime(updated)
        return resource
    meta = {**resource.get("meta", {}), "lastUpdated": fhir_datetime(updated)}
    head = {"resourceType": resource["resourceType"], "id": fhir_id or resource["id"], "meta": meta}
    return head | {k: v for k, v in resource.items() if k not in head}


def _reading_resource(
    row: StoredReading, group: dict[str, StoredReading], *, as_panel: bool
) -> JsonDict:
    if as_panel and row.kind == SYS and DIA in group:
        parts = [row, group[DIA], *([group[MEAN]] if MEAN in group else [])]
        return with_meta(bp_panel(parts), max(p.stored_at for p in parts))
    # a pulse rate taken with a BP panel came from the cuff (MDC 149546), as in the mapping
    mdc = load_code_map().kind("pulse_rate").mdc_aliases[0] if row.cuff else None
    return with_meta(reading_to_observation(row, mdc=mdc), row.stored_at)


async def load_observations(session: AsyncSession, ids: Sequence[ObservationId]) -> list[Loaded]:
    """The resources of ``ids``, in that order (missing ones are skipped)."""
    pks: dict[int, list[int]] = {READING: [], CHUNK: [], FINDING: []}
    for i in ids:
        pks[i.source].append(i.pk)
    found: dict[ObservationId, Loaded] = {}
    if pks[READING]:
        rows = {r.id: r for r in await _readings(session, R.id.in_(pks[READING]))}
        groups = await _bp_groups(session, [rows[i.pk] for i in ids if i.panel and i.pk in rows])
        for i in ids:
            if i.source == READING and (r := rows.get(i.pk)) is not None:
                group = groups.get(_key(r), {}) if i.panel else {}
                found[i] = Loaded(_reading_resource(r, group, as_panel=i.panel), r.patient_id)
    if pks[CHUNK]:
        for c in await session.scalars(select(C).where(C.id.in_(pks[CHUNK]))):
            resource = with_meta(chunk_to_observation(c), c.stored_at)
            found[ObservationId(CHUNK, c.id)] = Loaded(resource, c.patient_id)
    if pks[FINDING]:
        for f in await session.scalars(select(F).where(F.id.in_(pks[FINDING]))):
            found[ObservationId(FINDING, f.id)] = Loaded(_finding_resource(f), f.patient_id)
    return [found[i] for i in ids if i in found]


def _finding_resource(row: FindingRow) -> JsonDict:
    finding = Finding(
        patient_id=row.patient_id, kind=row.kind, start=row.start, end=row.end,
        severity=Severity(row.severity), method=row.method, values=dict(row.values),
        window_s=row.window_s, explanation=row.explanation,
    )  # fmt: skip
    return with_meta(finding_to_fhir(finding), row.updated_at, f"f-{row.id}")


async def read_observation(session: AsyncSession, oid: ObservationId) -> Loaded | None:
    """One Observation by id; a ``bp-`` id that is not (or no longer) a panel is None."""
    if oid.panel:
        is_panel = await session.scalar(select(R.id).where(R.id == oid.pk, _is_panel()))
        if is_panel is None:
            return None
    loaded = await load_observations(session, [oid])
    return loaded[0] if loaded else None


# -- $lastn ----------------------------------------------------------------------------------------


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


def _channel_filter(channels: Subset) -> list[ColumnElement[bool]]:
    """The WHERE clauses that keep the chunks of ``channels`` (ECG leads, PLETH, ABP)."""
    if not channels.every:
        return [C.lead.in_(sorted(channels.values))]
    return [C.lead.not_in(sorted(channels.excluded))] if channels.excluded else []


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


# -- Patient -------------------------------------------------------------------------------------


async def search_patients(
    session: AsyncSession, q: PatientQuery, visible: Patients
) -> tuple[list[Patient], bool]:
    """A page of patients (offset paging: patients are few) and whether more follow."""
    stmt = select(Patient).where(*_patient_query(q, visible))
    key = Patient.created_at if q.page.sort.key == "_lastUpdated" else Patient.id
    order = [key, Patient.id]
    stmt = stmt.order_by(*(c.desc() if q.page.sort.descending else c.asc() for c in order))
    rows = list(await session.scalars(stmt.offset(q.page.offset).limit(q.page.count + 1)))
    return rows[: q.page.count], len(rows) > q.page.count


def patient_resource(patient: Patient) -> JsonDict:
    """The Patient resource, ``meta.lastUpdated`` = when the hub first stored the patient."""
    return with_meta(patient_to_fhir(patient), patient.created_at)


async def patient_ids(session: AsyncSession, visible: Patients) -> list[str]:
    """Ids of the patients in ``visible`` (None: every patient) that exist, sorted."""
    stmt = select(Patient.id).where(*_patient_filter(Patient.id, visible)).order_by(Patient.id)
    return list(await session.scalars(stmt))


async def count_patients(session: AsyncSession, q: PatientQuery, visible: Patients) -> int:
    stmt = select(func.count()).select_from(Patient).where(*_patient_query(q, visible))
    return int(await session.scalar(stmt) or 0)


def _patient_query(q: PatientQuery, visible: Patients) -> list[Any]:
    conds = _patient_filter(Patient.id, visible) + _dates(q.last_updated, Patient.created_at)
    if q.ids is not None:
        conds.append(Patient.id.in_(sorted(q.ids)) if q.ids else false())
    conds += patient_demographic_conditions(q)
    if visible is not None and not visible:
        conds.append(false())
    return conds or [true()]


# -- Device --------------------------------------------------------------------------------------


async def devices(
    session: AsyncSession,
    patients: Patients,
    *,
    device_ids: Iterable[str] | None = None,
    kiosks: bool = True,
) -> list[tuple[JsonDict, str | None]]:
    """PHDs (``phd-``) that reported for ``patients`` and their gateways (``phg-``), with the
    patient each belongs to (None: a kiosk). ``device_ids`` narrows to those logical ids.

    There is no devices table: a PHD is known by the readings and chunks it produced, so this
    reads the patients' rows grouped by device. The same device id seen with several patients
    is shown with the one it reported for last.
    """
    if patients is not None and not patients:
        return []
    wanted = None if device_ids is None else set(device_ids)
    phd = None if wanted is None else decode_ids(wanted, "phd-")
    phg = None if wanted is None else decode_ids(wanted, "phg-")
    out = await _phds(session, patients, phd) if phd is None or phd else []
    if phg is None or phg:
        out += await _gateways(session, patients, phg, kiosks=kiosks)
    return sorted(out, key=lambda rp: str(rp[0]["id"]))


async def _phds(
    session: AsyncSession, patients: Patients, device_ids: set[str] | None
) -> list[tuple[JsonDict, str | None]]:
    per_pair: dict[tuple[str, str], _DeviceUse] = {}
    for device, patient, bridge, kind, last in await _device_rows(session, patients, device_ids):
        use = per_pair.setdefault((device, patient), _DeviceUse(device, patient))
        use.take(bridge, kind, _aware(last))
    latest: dict[str, _DeviceUse] = {}
    for use in per_pair.values():
        if use.device not in latest or use.last > latest[use.device].last:
            latest[use.device] = use
    out: list[tuple[JsonDict, str | None]] = []
    for use in latest.values():
        try:
            resource = device_to_fhir(use.device, use.bridge, use.patient, kinds=sorted(use.kinds))
        except FhirMappingError:
            continue  # an id too long for a logical id: reachable only through its readings
        out.append((resource, use.patient))
    return out


@dataclass
class _DeviceUse:
    """What one device reported for one patient: kinds, and the bridge of the newest row."""

    device: str
    patient: str
    bridge: str = ""
    kinds: set[str] = field(default_factory=set)
    last: datetime = datetime.min.replace(tzinfo=UTC)

    def take(self, bridge: str, kind: str, last: datetime) -> None:
        self.kinds.add(kind)
        if last >= self.last:
            self.last, self.bridge = last, bridge


async def _device_rows(
    session: AsyncSession, patients: Patients, device_ids: set[str] | None
) -> list[Any]:
    """(device, patient, bridge, kind, newest time) over readings and chunks."""
    rows: list[Any] = []
    for table, at in ((R, R.measured_at), (C, C.start)):
        stmt = (
            select(table.device_id, table.patient_id, table.bridge_id, table.kind, func.max(at))
            .where(*_patient_filter(table.patient_id, patients))
            .group_by(table.device_id, table.patient_id, table.bridge_id, table.kind)
        )
        if device_ids is not None:
            stmt = stmt.where(table.device_id.in_(sorted(device_ids)))
        rows += (await session.execute(stmt)).all()
    return rows


async def _gateways(
    session: AsyncSession, patients: Patients, bridge_ids: set[str] | None, *, kiosks: bool
) -> list[tuple[JsonDict, str | None]]:
    """Home gateways of ``patients``; kiosks of their telemedpoints when ``kiosks``."""
    home = and_(Bridge.patient_id.is_not(None), *_patient_filter(Bridge.patient_id, patients))
    conds = [home]
    if kiosks:
        points = select(Patient.telemedpoint_id).where(*_patient_filter(Patient.id, patients))
        conds.append(and_(Bridge.patient_id.is_(None), Bridge.telemedpoint_id.in_(points)))
    stmt = select(Bridge).where(or_(*conds))
    if bridge_ids is not None:
        stmt = stmt.where(Bridge.id.in_(sorted(bridge_ids)))
    out: list[tuple[JsonDict, str | None]] = []
    for b in await session.scalars(stmt):
        try:
            resource = gateway_to_fhir(
                b.id, patient_id=b.patient_id, telemedpoint_id=b.telemedpoint_id
            )
        except FhirMappingError:
            continue
        out.append((resource, b.patient_id))
    return out
