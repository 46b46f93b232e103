"""Stored rows -> Observation resources (BP panels grouped), and the read of one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, cast

from sqlalchemy import (
    and_,
    case,
    false,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.fhir.codes import load_code_map
from patient_hub.fhir.common import JsonDict, ReadingLike, fhir_datetime
from patient_hub.fhir.finding_observations import finding_to_fhir
from patient_hub.fhir.mapping import bp_panel, reading_to_observation
from patient_hub.fhir.repository.conditions import _is_panel, _sibling
from patient_hub.fhir.repository.results import BP, DIA, MEAN, SYS, C, F, Loaded, R
from patient_hub.fhir.search.ids import CHUNK, FINDING, READING, ObservationId
from patient_hub.fhir.waveform import chunk_to_observation
from patient_hub.findings.models import FindingRow
from telemed_signal.findings import Finding, Severity

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
