"""Shared pieces of the mapping: row protocols, ids, references, times and quantities.

Everything here is pure (no I/O) and works on plain attributes, so the same functions map ORM
rows (``patient_hub.ingest.models.ReadingRow``) and any object with the same fields.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from patient_hub.fhir.codes import CodeMap, KindCodes, load_code_map
from patient_hub.fhir.errors import FhirMappingError
from telemed_core.kinds import WAVEFORM_KINDS

JsonDict = dict[str, Any]

#: FHIR R4 ``id``: [A-Za-z0-9\-\.]{1,64}.
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: Our ids may also hold "_" and ":" (telemed_core.values.Identifier); "." is the escape char.
_ESCAPES = {".": ".d", "_": ".u", ":": ".c"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}

#: Resource-id prefixes: a personal health device and a gateway (bridge) share the Device type.
PHD_PREFIX = "phd-"
PHG_PREFIX = "phg-"


class ReadingLike(Protocol):
    """What the mapping reads from a stored reading (``ReadingRow`` has all of it)."""

    @property
    def bridge_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str: ...
    @property
    def measured_at(self) -> datetime: ...
    @property
    def device_time(self) -> datetime | None: ...
    @property
    def flags(self) -> str | Sequence[str] | None: ...


#: Kinds stored as sample chunks, not readings.
WAVEFORMS: frozenset[str] = frozenset(WAVEFORM_KINDS)


class ChunkLike(Protocol):
    """What the mapping reads from a stored waveform chunk (``SampleChunkRow``)."""

    @property
    def bridge_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def lead(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def factor(self) -> float: ...
    @property
    def fs_hz(self) -> float: ...
    @property
    def start(self) -> datetime: ...
    @property
    def samples(self) -> bytes | Sequence[int]: ...
    @property
    def flags(self) -> str | Sequence[str] | None: ...


def codes() -> CodeMap:
    """The loaded ``fhir/codes.json``."""
    return load_code_map()


def flag_list(flags: str | Sequence[str] | None) -> list[str]:
    """Flags as a list: rows store them comma-joined, value types as a list (an unsaved ORM
    row may still hold None)."""
    if flags is None:
        return []
    if isinstance(flags, str):
        return [f for f in flags.split(",") if f]
    return list(flags)


# -- times ---------------------------------------------------------------------------------


def fhir_datetime(at: datetime) -> str:
    """A UTC FHIR dateTime/instant (``...Z``); a naive datetime is a bug and is refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise FhirMappingError(f"naive datetime {at.isoformat()} cannot be mapped: UTC required")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime(text: Any, element: str) -> datetime:
    """Parse a FHIR dateTime with a time and an offset into a UTC datetime."""
    if not isinstance(text, str) or "T" not in text:
        raise FhirMappingError(
            f"{element}: a dateTime with a time of day is required, got {text!r}"
        )
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise FhirMappingError(f"{element}: {text!r} is not a FHIR dateTime") from None
    if at.tzinfo is None:
        raise FhirMappingError(f"{element}: {text!r} has no UTC offset")
    return at.astimezone(UTC)


# -- ids and references --------------------------------------------------------------------


def encode_id(raw: str, prefix: str = "") -> str | None:
    """A reversible FHIR id for one of our ids, or None when it would exceed 64 characters.

    Ids without ".", "_" or ":" are kept as they are; others escape those characters with "."
    ("." -> ".d", "_" -> ".u", ":" -> ".c"), so every "." in an encoded id starts an escape.
    """
    body = (
        raw if not any(ch in raw for ch in _ESCAPES) else "".join(_ESCAPES.get(c, c) for c in raw)
    )
    fhir_id = prefix + body
    return fhir_id if _FHIR_ID.match(fhir_id) else None


def decode_id(fhir_id: str, prefix: str = "") -> str:
    """Invert :func:`encode_id`; FhirMappingError when the prefix or an escape is wrong."""
    if not fhir_id.startswith(prefix):
        raise FhirMappingError(f"id {fhir_id!r} does not start with {prefix!r}")
    body, out, i = fhir_id[len(prefix) :], [], 0
    while i < len(body):
        if body[i] != ".":
            out.append(body[i])
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt not in _UNESCAPES:
            raise FhirMappingError(f"id {fhir_id!r} has an unknown escape '.{nxt}'")
        out.append(_UNESCAPES[nxt])
        i += 2
    return "".join(out)


def _hashed_id(raw: str, prefix: str) -> str:
    return f"{prefix}h{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def reference(
    resource_type: str, raw_id: str, *, prefix: str = "", system_key: str, base_url: str | None
) -> JsonDict:
    """A Reference to ``resource_type`` with our id ``raw_id``.

    Relative (``Patient/p1``) unless ``base_url`` is given (``https://host/fhir/Patient/p1``).
    An id too long to encode is hashed, and the Reference then also carries the identifier
    (system from ``codes.json`` ``local[system_key]``) so the original id is not lost.
    """
    fhir_id = encode_id(raw_id, prefix)
    hashed = fhir_id is None
    if fhir_id is None:
        fhir_id = _hashed_id(raw_id, prefix)
    root = f"{base_url.rstrip('/')}/" if base_url else ""
    out: JsonDict = {"reference": f"{root}{resource_type}/{fhir_id}"}
    if hashed:
        out["identifier"] = {"system": codes().local[system_key], "value": raw_id}
    return out


def patient_ref(patient_id: str, base_url: str | None = None) -> JsonDict:
    return reference("Patient", patient_id, system_key="patient_identifier", base_url=base_url)


def device_ref(device_id: str, base_url: str | None = None) -> JsonDict:
    return reference(
        "Device", device_id, prefix=PHD_PREFIX, system_key="device_identifier", base_url=base_url
    )


def gateway_ref(bridge_id: str, base_url: str | None = None) -> JsonDict:
    return reference(
        "Device", bridge_id, prefix=PHG_PREFIX, system_key="bridge_identifier", base_url=base_url
    )


def id_from_reference(
    ref: Mapping[str, Any] | None, resource_type: str, *, prefix: str = "", system_key: str
) -> str | None:
    """Our id behind a Reference, or None when the reference is not a literal one of ours
    (e.g. a ``urn:uuid:`` temporary id in a transaction Bundle, or another system's id)."""
    if not ref:
        return None
    ident = ref.get("identifier")
    if isinstance(ident, Mapping) and ident.get("system") == codes().local[system_key]:
        return str(ident["value"])
    literal = ref.get("reference")
    if not isinstance(literal, str):
        return None
    parts = literal.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != resource_type or not parts[-1].startswith(prefix):
        return None
    try:
        return decode_id(parts[-1], prefix)
    except FhirMappingError:
        return None  # a literal id someone else minted (e.g. a PHD IG gateway's phd-<EUI>.<MAC>)


def resource_id(kind_prefix: str, pk: Any) -> str | None:
    """A logical id from a database primary key (``r-42``), None for an unsaved row."""
    return None if pk is None else f"{kind_prefix}-{pk}"


# -- values --------------------------------------------------------------------------------


def quantity(value: float, kc: KindCodes) -> JsonDict:
    """A UCUM Quantity of the kind's unit (the value is already in that unit)."""
    return {
        "value": value,
        "unit": kc.unit_display,
        "system": codes().systems["ucum"],
        "code": kc.ucum,
    }


def concept(*codings: Mapping[str, str], text: str | None = None) -> JsonDict:
    out: JsonDict = {"coding": [dict(c) for c in codings]}
    if text:
        out["text"] = text
    return out


def category(code: str, display: str | None = None) -> JsonDict:
    """An observation-category CodeableConcept (vital-signs, laboratory, survey, ...)."""
    coding = {"system": codes().systems["observation_category"], "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def phd_category() -> JsonDict:
    cm = codes()
    entry = cm.raw["phd_category"]
    return {
        "coding": [
            {
                "system": cm.systems["phd_category"],
                "code": entry["code"],
                "display": entry["display"],
            }
        ]
    }
