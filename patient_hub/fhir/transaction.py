"""PHD-IG transaction Bundles from any standard gateway -> readings, all or nothing.

Two steps, so that nothing is half-written (ARCHITECTURE.md):

1. :func:`parse_bundle` (pure): fhir.resources R4B validation of every entry, the request of
   each entry, and the mapping of every Observation (``observation_to_readings``).
2. :func:`apply` (in the caller's transaction; it never commits): resolve the Patient and Device
   entries, check the uploader may post for each patient, look up conditional-create keys,
   then insert the new keys and readings. The caller commits, then publishes the returned
   readings on ``readings`` exactly like bridge ingest, so they flow through the same processing.

Idempotency. An Observation's conditional-create identifier (``ifNoneExist=identifier=s|v``)
is stored once in ``fhir_observation_keys``, unique by sha256 of ``system|value`` (a long PHD
identifier is never truncated into a false match). Its readings go to the ordinary readings
table under the uploader's synthetic bridge id (``fhir:gw:<bridge>`` or ``fhir:user:<user id>``)
with ``seq = key id * SEQ_STRIDE + component``: the key's primary key is never reused, so
(bridge_id, seq) stays unique without a per-source counter, and a repost finds the key and
writes nothing (200 with the existing location).

Patients are never created here: enrolment (programme, telemedpoint, consent) is an admin act in
``/api/patients``. A Patient entry must resolve to an enrolled patient the uploader may post for
(by our identifier ``https://fhir.telemed.example/sid/patient|<id>``); otherwise 422. The hub keeps
no device registry (a Device is known through its readings, see ``device_to_fhir``), so Device
entries are resolved to a device id and answered 200 without a write. A standard gateway's PHD
Device gets the id ``eui64-<16 hex>`` (System-Id) or ``btmac-<12 hex>`` (Bluetooth MAC).

One module by the task's file boundary (table, parsing, resolution, storage, who may post); it
splits by role (models, repository, service) when the FHIR facade settles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B.bundle import BundleEntry
from pydantic import ValidationError
from sqlalchemy import String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.access import Principal, visible_patient_ids
from patient_hub.accounts.models import Role
from patient_hub.db import Base, UtcDateTime
from patient_hub.fhir.common import (
    PHD_PREFIX,
    PHG_PREFIX,
    codes,
    device_ref,
    gateway_ref,
    id_from_reference,
    patient_ref,
)
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.inverse import observation_to_readings
from patient_hub.ingest import repository as ingest_repo
from patient_hub.ingest import service as ingest_service
from patient_hub.ingest.models import BigId, ReadingRow
from patient_hub.patients.models import Patient
from telemed_core.errors import (
    BusinessRuleViolation,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TelemedError,
)
from telemed_core.protocol import Hello
from telemed_core.values import Reading

MAX_ENTRIES = 1000
#: Readings per Observation are at most 3 (a BP panel's components), so 4 seqs per key.
SEQ_STRIDE = 4
#: Who may post with a user account: admin (any patient), nurse (the patients they see).
#: Gateways post with their bridge credential (HTTP Basic ``bridge_id:token``) for the patients
#: they may send for, exactly as over the bridge websocket.
UPLOAD_ROLES = frozenset({Role.ADMIN, Role.NURSE})
ETAG = 'W/"1"'  # readings are never updated: every stored Observation is version 1

_PHG_PROFILE = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"
_PHG_TYPE = "531981"  # MDC_MOC_VMS_MDS_AHD, a Continua gateway
_COINCIDENT = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"
#: MDC_ATTR_TIME_ABS, _BO, _REL, _REL_HI_RES: the coincident time stamp's codes (PHD IG).
_TIME_CODES = frozenset({"67975", "68226", "67983", "68072"})

Token = tuple[str | None, str]  # (system, or None for any system; value)


class PreconditionFailed(TelemedError):
    """A conditional create matched several resources (FHIR: 412)."""

    status_code = 412
    code = "conflict"


class FhirObservationKey(Base):
    """One Observation created over FHIR: its conditional-create identifier (if any), where its
    readings are (``source``/seq from ``id``) and its logical id for the response location."""

    __tablename__ = "fhir_observation_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    value_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    system: Mapped[str | None] = mapped_column(Text, nullable=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64))
    observation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True, slots=True)
class Uploader:
    """Who posts: ``source`` is the synthetic bridge id of their readings, ``patients`` those they
    may post for (None: every enrolled patient)."""

    source: str
    patients: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class EntryResponse:
    """``Bundle.entry.response`` of one entry."""

    status: str
    location: str | None = None
    last_modified: datetime | None = None
    note: str | None = None  # informational OperationOutcome text

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.location:
            out |= {"location": self.location, "etag": ETAG}
        if self.last_modified:
            out["lastModified"] = self.last_modified.isoformat().replace("+00:00", "Z")
        if self.note:
            issue = {"severity": "information", "code": "informational", "diagnostics": self.note}
            out["outcome"] = {"resourceType": "OperationOutcome", "issue": [issue]}
        return out


# -- parsed entries ------------------------------------------------------------------------


@dataclass(slots=True)
class _PatientItem:
    index: int
    token: Token | None
    literal_id: str | None
    update: bool  # PUT: resolved, never applied


@dataclass(slots=True)
class _DeviceItem:
    index: int
    device_id: str | None  # None: the gateway (PHG), which is the uploader itself


@dataclass(slots=True)
class _ObservationItem:
    index: int
    readings: list[dict[str, Any]]
    key: tuple[str, str] | None  # (system, value) of the conditional create, "" = no system
    any_system: bool  # ifNoneExist named only a value
    subject_entry: int | None  # a Patient entry of the Bundle ...
    subject_id: str | None  # ... or our patient id
    device_id: str


@dataclass(slots=True)
class _SkippedItem:
    index: int
    why: str


@dataclass
class Plan:
    """A validated Bundle: what each entry is, in entry order."""

    type: str
    patients: list[_PatientItem] = field(default_factory=list)
    devices: list[_DeviceItem] = field(default_factory=list)
    observations: list[_ObservationItem] = field(default_factory=list)
    skipped: list[_SkippedItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply` did: one response per entry, and the readings newly stored."""

    responses: list[EntryResponse]
    stored: list[Reading]


def _at(index: int, exc: TelemedError | FhirMappingError) -> TelemedError:
    """The same error, naming the entry; a mapping error is a business-rule violation (422)."""
    message = exc.message if isinstance(exc, TelemedError) else str(exc)
    cls = type(exc) if isinstance(exc, TelemedError) else BusinessRuleViolation
    return cls(f"Bundle.entry[{index}]: {message}")


# -- step 1: parse (pure) --------------------------------------------------------------------


def parse_bundle(body: Any) -> Plan:
    """Validate a transaction (or batch) Bundle and map its entries; raise a TelemedError naming
    the first bad entry (400 invalid, 422 business rule)."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "Bundle":
        raise InvalidInput("the body must be a FHIR Bundle (resourceType Bundle)")
    kind = body.get("type")
    if kind not in ("transaction", "batch"):
        raise InvalidInput(f"Bundle.type must be transaction or batch, got {kind!r}")
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidInput("Bundle.entry must be a list")
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"at most {MAX_ENTRIES} entries per Bundle, got {len(entries)}")
    for i, entry in enumerate(entries):
        _validate_entry(i, entry)
    by_url = _entries_by_url(entries)
    gateways = _gateway_urls(entries)
    plan = Plan(type=str(kind))
    for i, entry in enumerate(entries):
        try:
            _classify(plan, i, entry, by_url, gateways)
        except (TelemedError, FhirMappingError) as exc:
            raise _at(i, exc) from exc
    return plan


def parse_entry(index: int, entry: Any) -> Plan:
    """One entry of a batch as a Plan of its own (batch entries may not refer to each other)."""
    _validate_entry(index, entry)
    plan = Plan(type="batch")
    try:
        _classify(plan, index, entry, {}, _gateway_urls([entry]))
    except (TelemedError, FhirMappingError) as exc:
        raise _at(index, exc) from exc
    return plan


def _validate_entry(index: int, entry: Any) -> None:
    try:
        BundleEntry.model_validate(entry)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidInput(f"Bundle.entry[{index}] is not valid FHIR: {details}") from None
    except (KeyError, TypeError) as exc:
        # fhir.resources looks a resource's class up by its resourceType before validating it,
        # and fails with KeyError (unknown or empty type) or TypeError (not a string); found by
        # fuzzing (tests/clinician_api/fhir/test_transaction_fuzz.py).
        raise InvalidInput(
            f"Bundle.entry[{index}] names no known FHIR resourceType ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(entry.get("resource"), Mapping) or not isinstance(
        entry.get("request"), Mapping
    ):
        raise InvalidInput(f"Bundle.entry[{index}] needs a resource and a request")


def _entries_by_url(entries: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, entry in enumerate(entries):
        url = entry.get("fullUrl")
        if url:
            if url in out:
                raise InvalidInput(f"Bundle.entry[{i}]: fullUrl {url!r} is used twice")
            out[url] = i
    return out


def _gateway_urls(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    """Bundle-internal references named by an ``observation-gatewayDevice`` extension."""
    url = codes().extensions["gateway_device"]
    return {
        ext["valueReference"]["reference"]
        for e in entries
        for ext in (e.get("resource") or {}).get("extension", [])
        if ext.get("url") == url and isinstance(ext.get("valueReference"), Mapping)
        and "reference" in ext["valueReference"]
    }  # fmt: skip


def _classify(
    plan: Plan, index: int, entry: Mapping[str, Any], by_url: dict[str, int], gateways: set[str]
) -> None:
    resource, request = entry["resource"], entry["request"]
    method, rtype = request.get("method"), resource.get("resourceType")
    target_type, literal, token = _request_target(str(request.get("url", "")))
    if target_type != rtype:
        raise InvalidInput(f"request.url {request.get('url')!r} does not name a {rtype}")
    if method not in ("POST", "PUT") or (method == "PUT") != (
        literal is not None or token is not None
    ):
        raise InvalidInput(
            f"{method} {request.get('url')}: only POST {rtype} (optionally with ifNoneExist) and "
            f"PUT {rtype}/<id> or {rtype}?identifier=... are supported"
        )  # fmt: skip
    token = token or _if_none_exist(request.get("ifNoneExist"))
    if rtype == "Patient":
        plan.patients.append(_patient_item(index, method, token, literal))
    elif rtype == "Device":
        gateway = (
            entry.get("fullUrl") in gateways
            or _is_gateway(resource)
            or (literal or "").startswith(PHG_PREFIX)
        )
        device_id = None if gateway else _device_id(resource, token, literal)
        plan.devices.append(_DeviceItem(index, device_id))
    elif rtype == "Observation":
        if method == "PUT":
            raise InvalidInput("Observations are created (POST), never updated, here")
        if _is_coincident_time_stamp(resource):
            why = "coincident time stamps are not stored: effective times are already corrected"
            plan.skipped.append(_SkippedItem(index, why))
        else:
            plan.observations.append(_observation_item(index, resource, token, by_url))
    else:
        raise BusinessRuleViolation(f"{rtype} is not accepted in a transaction here")


def _request_target(url: str) -> tuple[str, str | None, Token | None]:
    """``Observation`` -> (type, None, None); ``Patient/p1`` -> literal id;
    ``Patient?identifier=s|v`` -> a conditional token."""
    path, _, query = url.partition("?")
    parts = path.strip("/").split("/")
    if query:
        return parts[-1], None, _if_none_exist(query)
    if len(parts) >= 2:
        return parts[-2], parts[-1], None
    return parts[-1], None, None


def _if_none_exist(query: Any) -> Token | None:
    """The identifier token of ``identifier=[system]|value``; InvalidInput for anything else."""
    if query is None:
        return None
    pairs = parse_qsl(str(query).lstrip("?"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or not pairs[0][1] or "," in pairs[0][1]:
        raise InvalidInput(
            f"conditional create/update {query!r}: only a single identifier=[system]|value "
            "criterion is supported"
        )
    system, bar, value = pairs[0][1].partition("|")
    if not bar:
        return None, system
    if not value:
        raise InvalidInput(f"conditional criterion {query!r} has no identifier value")
    return system, value


def _patient_item(
    index: int, method: str, token: Token | None, literal: str | None
) -> _PatientItem:
    if method == "POST" and token is None:
        raise BusinessRuleViolation(
            "the hub does not create patients over FHIR (enrolment is done by an admin in "
            "/api/patients); refer to an enrolled patient with ifNoneExist="
            f"identifier={codes().local['patient_identifier']}|<id> or by reference Patient/<id>"
        )
    return _PatientItem(index, token, literal, update=method == "PUT")


def _is_gateway(device: Mapping[str, Any]) -> bool:
    profiles = (device.get("meta") or {}).get("profile", [])
    types = {c.get("code") for c in (device.get("type") or {}).get("coding", [])}
    bridge = codes().local["bridge_identifier"]
    return (
        _PHG_PROFILE in profiles
        or _PHG_TYPE in types
        or any(i.get("system") == bridge for i in device.get("identifier", []))
    )


def _hex(value: str, octets: int) -> str | None:
    digits = "".join(ch for ch in value if ch.isalnum()).upper()
    ok = len(digits) == 2 * octets and all(ch in "0123456789ABCDEF" for ch in digits)
    return digits if ok else None


def _device_id_from(system: str | None, value: str) -> str | None:
    cm = codes()
    if system == cm.local["device_identifier"]:
        return value
    if system == cm.systems["eui64"] and (digits := _hex(value, 8)):
        return f"eui64-{digits}"
    if system == cm.systems["bluetooth_mac"] and (digits := _hex(value, 6)):
        return f"btmac-{digits}"
    return None


def _device_id(device: Mapping[str, Any], token: Token | None, literal: str | None) -> str:
    """Our id of a PHD: our identifier, else the EUI-64 System-Id, else the Bluetooth MAC."""
    tokens = [token] if token else []
    tokens += [(i.get("system"), str(i.get("value", ""))) for i in device.get("identifier", [])]
    for system, value in tokens:
        if found := _device_id_from(system, value):
            return found
    if literal is not None and literal.startswith(PHD_PREFIX):
        ref = {"reference": f"Device/{literal}"}
        if found := id_from_reference(
            ref, "Device", prefix=PHD_PREFIX, system_key="device_identifier"
        ):
            return found
    raise BusinessRuleViolation(
        "cannot identify the Device: give our device identifier, the EUI-64 System-Id "
        f"({codes().systems['eui64']}) or the Bluetooth MAC ({codes().systems['bluetooth_mac']})"
    )  # fmt: skip


def _is_coincident_time_stamp(obs: Mapping[str, Any]) -> bool:
    profiles = (obs.get("meta") or {}).get("profile", [])
    mdc = codes().systems["mdc"]
    coded = {c.get("code") for c in obs.get("code", {}).get("coding", []) if c.get("system") == mdc}
    return _COINCIDENT in profiles or (bool(coded & _TIME_CODES) and "valueDateTime" in obs)


def _observation_item(
    index: int, obs: Mapping[str, Any], token: Token | None, by_url: dict[str, int]
) -> _ObservationItem:
    if "valueSampledData" in obs:
        raise BusinessRuleViolation(
            "waveform Observations (valueSampledData) are not accepted here"
        )
    readings = observation_to_readings(obs)
    subject_entry, subject_id = _subject(obs.get("subject"), by_url)
    return _ObservationItem(
        index=index,
        readings=readings,
        key=_key(obs, token),
        any_system=token is not None and token[0] is None,
        subject_entry=subject_entry,
        subject_id=subject_id,
        device_id=_observation_device(obs.get("device"), by_url),
    )


def _key(obs: Mapping[str, Any], token: Token | None) -> tuple[str, str] | None:
    """The conditional-create identifier, which the Observation must carry (as HAPI checks)."""
    if token is None:
        return None
    system, value = token
    for ident in obs.get("identifier", []):
        if ident.get("value") == value and (
            system is None or (ident.get("system") or "") == system
        ):
            return ident.get("system") or "", value
    raise InvalidInput(f"the Observation does not carry the identifier of its ifNoneExist {token}")


def _subject(ref: Any, by_url: dict[str, int]) -> tuple[int | None, str | None]:
    if isinstance(ref, Mapping) and ref.get("reference") in by_url:
        return by_url[ref["reference"]], None
    found = id_from_reference(ref, "Patient", system_key="patient_identifier")
    if found is None:
        raise BusinessRuleViolation(
            "Observation.subject must be a Patient: Patient/<id>, our patient identifier or a "
            "Patient entry of this Bundle"
        )
    return None, found


def _observation_device(ref: Any, by_url: dict[str, int]) -> str:
    if not isinstance(ref, Mapping):
        raise BusinessRuleViolation("Observation.device is required (PHD IG: the measuring PHD)")
    if ref.get("reference") in by_url:
        return f"@{by_url[ref['reference']]}"  # resolved against the Device entry in apply
    found = id_from_reference(ref, "Device", prefix=PHD_PREFIX, system_key="device_identifier")
    if found is None:
        raise BusinessRuleViolation(
            f"Observation.device {ref.get('reference')!r} is not one of this server's PHDs: send "
            "the Device in the Bundle or refer to Device/phd-<id>"
        )
    return found


# -- step 2: apply (in the caller's transaction) -----------------------------------------------


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


# -- who posts ----------------------------------------------------------------------------------


def _source(kind: str, raw: str) -> str:
    """A synthetic bridge id that fits the 64-character column."""
    source = f"fhir:{kind}:{raw}"
    return source if len(source) <= 64 else f"fhir:{kind}:h{_hash(raw)[:40]}"


async def uploader_for_user(session: AsyncSession, who: Principal) -> Uploader:
    """Admins post for any enrolled patient, nurses for the patients they see; others 403."""
    if who.role not in UPLOAD_ROLES:
        raise Forbidden(
            f"role {who.role.value} may not post observations; admins, nurses and enrolled "
            "gateways (HTTP Basic bridge_id:token) may"
        )
    visible = await visible_patient_ids(session, who)
    patients = None if visible is None else frozenset(visible)
    return Uploader(source=_source("user", who.user_id), patients=patients)


async def uploader_for_gateway(
    session: AsyncSession, bridge_id: str, token: str, now: datetime
) -> Uploader:
    """An enrolled bridge posting with its credential, for the patients it may send for."""
    try:
        hello = Hello(bridge_id=bridge_id, token=token)
    except ValidationError:
        raise NotAuthenticated("unknown bridge or wrong token") from None
    bridge = await ingest_service.authenticate(session, hello, now)
    return Uploader(source=_source("gw", bridge_id), patients=frozenset(bridge.allowed_patients))
