"""The WHERE clauses of the FHIR searches: reading kinds and BP panels, ids, dates,
patients, waveform channels and the keyset of a page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    or_,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased

from patient_hub.fhir.repository.results import BP, DIA, MEAN, SYS, C, Patients, R
from patient_hub.fhir.search.dates import DateFilter
from patient_hub.fhir.search.ids import READING, ObservationId
from patient_hub.fhir.search.paging import Page
from patient_hub.fhir.search.selection import Selection, Subset
from patient_hub.ingest.models import ReadingRow


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


def _channel_filter(channels: Subset) -> list[ColumnElement[bool]]:
    """The WHERE clauses that keep the chunks of ``channels`` (ECG leads, PLETH, ABP)."""
    if not channels.every:
        return [C.lead.in_(sorted(channels.values))]
    return [C.lead.not_in(sorted(channels.excluded))] if channels.excluded else []
