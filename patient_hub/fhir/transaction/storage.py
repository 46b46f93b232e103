"""Step 2 (in the caller's transaction): resolve patients and devices, answer
conditional creates that exist, store the new keys and readings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.fhir.common import (
    codes,
    device_ref,
    gateway_ref,
    id_from_reference,
    patient_ref,
)
from patient_hub.fhir.transaction.models import FhirObservationKey
from patient_hub.fhir.transaction.plan import (
    SEQ_STRIDE,
    Applied,
    EntryResponse,
    Plan,
    PreconditionFailed,
    Uploader,
    _at,
    _ObservationItem,
)
from patient_hub.ingest import repository as ingest_repo
from patient_hub.ingest.models import ReadingRow
from patient_hub.patients.models import Patient
from telemed_core.errors import (
    BusinessRuleViolation,
    Conflict,
    NotFound,
    TelemedError,
)
from telemed_core.values import Reading


async def apply(session: AsyncSession, plan: Plan, uploader: Uploader, now: datetime) -> Applied:
    """Resolve, de-duplicate and store the plan's entries; raise a TelemedError naming the entry.

    Nothing is written before every entry has been resolved and checked; the caller's transaction
    makes the writes all-or-nothing.
    """
    responses: dict[int, EntryResponse] = {}
    patients = await _resolve_patients(session, plan, uploader)
    devices = {d.index: d.device_id for d in plan.devices}
    for p in plan.patients:
        note = "demographics are managed by enrolment: not updated" if p.update else None
        location = patient_ref(patients[p.index])["reference"]
        responses[p.index] = EntryResponse("200 OK", location, note=note)
    for d in plan.devices:
        device = device_ref(d.device_id) if d.device_id else gateway_ref(uploader.source)
        note = "the hub keeps no device registry: a device is known through its observations"
        responses[d.index] = EntryResponse("200 OK", device["reference"], note=note)
    for s in plan.skipped:
        responses[s.index] = EntryResponse("200 OK", note=s.why)
    pending = await _prepare_observations(session, plan, uploader, patients, devices)
    new, repeats = await _answer_existing(session, pending, responses)
    stored = await _store(session, new, uploader.source, now, responses)
    for index, first in repeats.items():
        answer = responses[first]
        responses[index] = EntryResponse("200 OK", answer.location, answer.last_modified)
    return Applied([responses[i] for i in sorted(responses)], stored)


async def _resolve_patients(
    session: AsyncSession, plan: Plan, uploader: Uploader
) -> dict[int, str]:
    """Patient entry index -> our patient id; each must be enrolled and the uploader's (422)."""
    system = codes().local["patient_identifier"]
    wanted: dict[int, str] = {}
    for p in plan.patients:
        if p.literal_id is not None:
            ref = {"reference": f"Patient/{p.literal_id}"}
            pid = id_from_reference(ref, "Patient", system_key="patient_identifier")
        elif p.token is not None and p.token[0] in (system, None):
            pid = p.token[1]
        else:
            pid = None
        if pid is None:
            raise BusinessRuleViolation(
                f"Bundle.entry[{p.index}]: patients are found by {system}|<id>; the hub does not "
                "create them over FHIR (enrolment is done by an admin)"
            )
        wanted[p.index] = pid
    known = await _known_patients(session, wanted.values(), uploader)
    for index, pid in wanted.items():
        if pid not in known:
            raise BusinessRuleViolation(
                f"Bundle.entry[{index}]: no enrolled patient {pid!r} you may post for; the hub "
                "does not create patients over FHIR (enrolment is done by an admin)"
            )
    return wanted


async def _known_patients(
    session: AsyncSession, ids: Iterable[str], uploader: Uploader
) -> set[str]:
    asked = set(ids)
    if uploader.patients is not None:
        asked &= uploader.patients
    if not asked:
        return set()
    return set(await session.scalars(select(Patient.id).where(Patient.id.in_(asked))))


@dataclass(slots=True)
class _Pending:
    item: _ObservationItem
    patient_id: str
    readings: list[Reading]


async def _prepare_observations(
    session: AsyncSession,
    plan: Plan,
    uploader: Uploader,
    patients: Mapping[int, str],
    devices: Mapping[int, str | None],
) -> list[_Pending]:
    literal = {o.subject_id for o in plan.observations if o.subject_id is not None}
    known = await _known_patients(session, literal, uploader)
    out = []
    for o in plan.observations:
        try:
            pid = _observation_patient(o, patients, known)
            device_id = _observation_device_id(o, devices)
            readings = [_reading(r, pid, device_id) for r in o.readings]
        except TelemedError as exc:
            raise _at(o.index, exc) from exc
        out.append(_Pending(o, pid, readings))
    return out


def _observation_patient(o: _ObservationItem, patients: Mapping[int, str], known: set[str]) -> str:
    if o.subject_entry is not None:
        if o.subject_entry not in patients:
            raise BusinessRuleViolation(
                "Observation.subject refers to an entry that is not a Patient"
            )
        return patients[o.subject_entry]
    assert o.subject_id is not None
    if o.subject_id not in known:
        raise NotFound(f"no patient {o.subject_id!r}")  # unknown or not the uploader's: no leak
    return o.subject_id


def _observation_device_id(o: _ObservationItem, devices: Mapping[int, str | None]) -> str:
    if not o.device_id.startswith("@"):
        return o.device_id
    device = devices.get(int(o.device_id[1:]))
    if device is None:
        raise BusinessRuleViolation("Observation.device must refer to a PHD Device entry")
    return device


def _reading(mapped: Mapping[str, Any], patient_id: str, device_id: str) -> Reading:
    """A kernel Reading (validated: kind, unit, flags, ids); seq is assigned when stored."""
    try:
        return Reading(
            seq=1,
            patient_id=patient_id,
            device_id=device_id,
            kind=mapped["kind"],
            value=mapped["value"],
            unit=mapped["unit"],
            measured_at=mapped["measured_at"],
            flags=mapped["flags"],
        )
    except ValidationError as exc:
        errors = "; ".join(str(e["msg"]) for e in exc.errors()[:3])
        raise BusinessRuleViolation(f"not a storable reading: {errors}") from None


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _answer_existing(
    session: AsyncSession, pending: list[_Pending], responses: dict[int, EntryResponse]
) -> tuple[list[_Pending], dict[int, int]]:
    """Answer conditional creates that match a stored observation with 200 and its location.

    Returns the observations still to store, and repeats inside this Bundle (entry index ->
    index of the first entry with the same identifier), which get the first one's answer.
    """
    new: list[_Pending] = []
    first_of: dict[tuple[str, str, bool], int] = {}
    repeats: dict[int, int] = {}
    for p in pending:
        key = p.item.key
        if key is None:
            new.append(p)
            continue
        marker = (*key, p.item.any_system)
        if marker in first_of:
            repeats[p.item.index] = first_of[marker]
            continue
        first_of[marker] = p.item.index
        found = await _lookup(session, key, p.item.any_system)
        if found is None:
            new.append(p)
            continue
        location, patient_id, at = found
        if patient_id != p.patient_id:
            raise Conflict(
                f"Bundle.entry[{p.item.index}]: identifier {key[1]!r} already identifies an "
                "observation of another patient"
            )
        responses[p.item.index] = EntryResponse("200 OK", location, at)
    return new, repeats


async def _lookup(
    session: AsyncSession, key: tuple[str, str], any_system: bool
) -> tuple[str, str, datetime] | None:
    """(location, patient id, stored at) of the observation with this identifier, or None."""
    system, value = key
    if system == codes().local["reading_identifier"]:
        return await _lookup_reading(session, value)
    stmt = select(FhirObservationKey)
    if any_system:
        stmt = stmt.where(FhirObservationKey.value_hash == _hash(value))
    else:
        stmt = stmt.where(FhirObservationKey.key_hash == _hash(f"{system}|{value}"))
    rows = (await session.scalars(stmt.limit(2))).all()
    if len(rows) > 1:
        raise PreconditionFailed(f"identifier {value!r} matches several observations")
    if not rows:
        return None
    row = rows[0]
    return f"Observation/{row.observation_id}", row.patient_id, row.created_at


async def _lookup_reading(session: AsyncSession, value: str) -> tuple[str, str, datetime] | None:
    bridge, _, seq = value.rpartition("/")
    row = None
    if bridge and seq.isdigit():
        row = await session.scalar(
            select(ReadingRow).where(ReadingRow.bridge_id == bridge, ReadingRow.seq == int(seq))
        )
    if row is None:
        raise BusinessRuleViolation(
            f"{codes().local['reading_identifier']} identifiers are minted by the hub; "
            f"{value!r} is not a stored reading"
        )
    return f"Observation/r-{row.id}", row.patient_id, row.stored_at


async def _store(
    session: AsyncSession,
    new: list[_Pending],
    source: str,
    now: datetime,
    responses: dict[int, EntryResponse],
) -> list[Reading]:
    """Insert a key row per new observation, then all their readings in one statement."""
    stored: list[Reading] = []
    key_ids: dict[int, int] = {}
    for p in new:
        key_id = await _insert_key(session, p, source, now)
        key_ids[p.item.index] = key_id
        stored += [
            r.model_copy(update={"seq": key_id * SEQ_STRIDE + i}) for i, r in enumerate(p.readings)
        ]
    if not stored:
        return []
    await ingest_repo.insert_readings(session, source, stored, now)
    stmt = select(ReadingRow.seq, ReadingRow.id).where(
        ReadingRow.bridge_id == source, ReadingRow.seq.in_([r.seq for r in stored])
    )
    ids = {seq: pk for seq, pk in (await session.execute(stmt)).all()}
    locations = []
    for p in new:
        key_id = key_ids[p.item.index]
        observation_id = _observation_id(
            p.readings, [ids[key_id * SEQ_STRIDE + i] for i in range(len(p.readings))]
        )
        locations.append({"id": key_id, "observation_id": observation_id})
        responses[p.item.index] = EntryResponse("201 Created", f"Observation/{observation_id}", now)
    await session.execute(update(FhirObservationKey), locations)
    return stored


async def _insert_key(session: AsyncSession, p: _Pending, source: str, now: datetime) -> int:
    row: dict[str, Any] = {"source": source, "patient_id": p.patient_id, "created_at": now}
    stmt = ingest_repo.dialect_insert(session, FhirObservationKey.__table__)
    if p.item.key is not None:
        system, value = p.item.key
        row |= {"key_hash": _hash(f"{system}|{value}"), "value_hash": _hash(value),
                "system": system, "value": value}  # fmt: skip
        stmt = stmt.on_conflict_do_nothing(index_elements=["key_hash"])
    key_id = await session.scalar(stmt.values(**row).returning(FhirObservationKey.__table__.c.id))
    if key_id is None:  # another request stored the same identifier since we looked
        raise Conflict(
            f"Bundle.entry[{p.item.index}]: a concurrent request stored identifier "
            f"{p.item.key[1] if p.item.key else ''!r}; retry to get the existing observation"
        )
    return int(key_id)


def _observation_id(readings: Sequence[Reading], row_ids: Sequence[int]) -> str:
    """The logical id the mapping gives these rows: a BP panel is ``bp-<systolic row id>``
    (``mapping.bp_panel``), a single reading ``r-<row id>``."""
    kinds = [r.kind.value for r in readings]
    if len(readings) > 1 and {"bp_systolic", "bp_diastolic"} <= set(kinds):
        return f"bp-{row_ids[kinds.index('bp_systolic')]}"
    return f"r-{row_ids[0]}"
