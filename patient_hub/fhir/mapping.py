"""Stored readings and waveform chunks -> FHIR R4 Observations (Vital Signs + HL7 PHD IG).

Pure functions from rows to JSON dicts; no I/O, no pydantic on the hot path (validation with
``fhir.resources`` belongs in tests and at the API edge, see ARCHITECTURE.md's budget).

What every Observation carries (PHD ``PhdBaseObservation`` + FHIR Vital Signs):

* ``code``: LOINC (vital signs, the magic code of the profile) beside the MDC code;
* ``category``: ``vital-signs`` when it is one, always the PHD category;
* ``meta.profile``: the matching Vital Signs profile (heartrate, bp, ...) and the PHD profile;
* ``subject`` Patient, ``device`` the PHD, extension ``observation-gatewayDevice`` the bridge;
* ``effectiveDateTime`` = ``measured_at`` (gateway-corrected clock, UTC);
* ``identifier``: ours, ``{bridge_id}/{seq}`` under ``local.reading_identifier`` (the ingest
  de-duplication key), and the PHD conditional-create identifier
  ``device-patient-typeCode-timestamp`` (timestamp = the device's own clock when it gave one);
* flags: every flag as a ``meta.tag`` (so they survive a round trip), plus what the PHD IG
  asks: ``simulated`` -> ``meta.security`` HTEST, ``early`` -> status preliminary and
  interpretation early-indication, ``invalid`` -> see :func:`reading_to_observation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from patient_hub.fhir.codes import Code, KindCodes
from patient_hub.fhir.common import (
    WAVEFORMS,
    JsonDict,
    ReadingLike,
    category,
    codes,
    concept,
    device_ref,
    fhir_datetime,
    flag_list,
    gateway_ref,
    patient_ref,
    phd_category,
    quantity,
    resource_id,
)
from patient_hub.fhir.errors import FhirMappingError

BP_KINDS = ("bp_systolic", "bp_diastolic", "bp_mean")
_INVALID_NOTE = "The device flagged this measurement invalid; the value is kept as reported."
_CLOCK_NOTE = "Device clock unsure: the time is the gateway's receive time."


# -- shared envelope -----------------------------------------------------------------------


def _meta(profiles: Iterable[str | None], flags: Sequence[str]) -> JsonDict:
    cm = codes()
    meta: JsonDict = {"profile": [p for p in profiles if p]}
    if flags:
        meta["tag"] = [{"system": cm.local["reading_flag"], "code": f} for f in flags]
    if "simulated" in flags:
        meta["security"] = [
            {"system": cm.systems["act_reason"], "code": "HTEST", "display": "test health data"}
        ]
    return meta


def _categories(vital_sign: bool, extra: str | None = None) -> list[JsonDict]:
    out = [category("vital-signs", "Vital Signs")] if vital_sign else []
    if extra and extra != "vital-signs":
        out.append(category(extra))
    return [*out, phd_category()]


def _status(flags: Sequence[str], has_value: bool) -> str:
    if "invalid" in flags and has_value:
        return "entered-in-error"
    return "preliminary" if "early" in flags else "final"


def _interpretation(flags: Sequence[str]) -> list[JsonDict]:
    if "early" not in flags:
        return []
    system = codes().systems["measurement_status"]
    return [concept({"system": system, "code": "early-indication"})]


def _notes(flags: Sequence[str], has_value: bool) -> list[JsonDict]:
    notes = [_INVALID_NOTE] if "invalid" in flags and has_value else []
    notes += [_CLOCK_NOTE] if "clock_unsure" in flags else []
    return [{"text": n} for n in notes]


def _phd_timestamp(at: datetime) -> str:
    """``YYYYMMDDhhmmss.ss`` in UTC, the PHD IG identifier's timestamp form."""
    utc = at.astimezone(UTC)
    return utc.strftime("%Y%m%d%H%M%S") + f".{utc.microsecond // 10_000:02d}"


def reading_identifier(bridge_id: str, seq: int) -> JsonDict:
    """Our de-duplication identifier of one stored reading: ``{bridge_id}/{seq}``."""
    return {"system": codes().local["reading_identifier"], "value": f"{bridge_id}/{seq}"}


def phd_identifier(row: ReadingLike, type_code: str) -> JsonDict:
    """The PHD IG conditional-create identifier ``device-patient-type-timestamp``."""
    stamp = _phd_timestamp(row.device_time or row.measured_at)
    return {"value": f"{row.device_id}-{row.patient_id}-{type_code}-{stamp}"}


def _envelope(row: ReadingLike, base_url: str | None) -> JsonDict:
    """subject, effective, device and the gateway extension shared by reading Observations."""
    return {
        "subject": patient_ref(row.patient_id, base_url),
        "effectiveDateTime": fhir_datetime(row.measured_at),
        "device": device_ref(row.device_id, base_url),
    }


def _gateway_extension(bridge_id: str, base_url: str | None) -> list[JsonDict]:
    url = codes().extensions["gateway_device"]
    return [{"url": url, "valueReference": gateway_ref(bridge_id, base_url)}]


def _assemble(parts: Iterable[tuple[str, Any]]) -> JsonDict:
    """A resource dict in the given key order, without empty elements."""
    return {k: v for k, v in parts if v not in (None, [], {})}


# -- value or data-absent-reason -------------------------------------------------------------


def data_absent_reason(special: str | None = None) -> JsonDict:
    """``dataAbsentReason`` for a missing value: NaN -> not-a-number, +INF ->
    positive-infinity, -INF -> negative-infinity, NRes/reserved/unknown -> error (PHD IG)."""
    table: dict[str, str] = codes().raw["data_absent_reason"]
    known = set(table.values())
    code = special if special in known else table.get(special or "", "error")
    return concept({"system": codes().systems["data_absent_reason"], "code": code})


def _value(value: float | None, kc: KindCodes, special: str | None) -> tuple[str, JsonDict]:
    if value is None:
        return "dataAbsentReason", data_absent_reason(special)
    return "valueQuantity", quantity(value, kc)


# -- one reading -----------------------------------------------------------------------------


def reading_to_observation(
    row: ReadingLike,
    *,
    base_url: str | None = None,
    special: str | None = None,
    mdc: Code | None = None,
) -> JsonDict:
    """One stored reading as an Observation dict (FHIR R4, Vital Signs + PHD IG).

    ``base_url`` makes references absolute. ``special`` names the IEEE 11073 special value of
    a reading without a value ("nan", "nres", "+inf", "-inf") or a data-absent-reason code;
    unknown -> ``error``. ``mdc`` overrides the kind's MDC code (pulse rate from a BP cuff).

    A reading flagged invalid *with* a value keeps its value (nothing is lost) and gets status
    ``entered-in-error`` with a note, which keeps it off clinical views as the PHD IG intends;
    one without a value gets ``dataAbsentReason`` instead of ``valueQuantity``. A waveform
    kind is refused: use :func:`chunk_to_observation`.
    """
    kc = codes().kind(row.kind)
    if row.kind in WAVEFORMS:
        raise FhirMappingError(f"kind {row.kind!r} is a waveform: map its SampleChunk instead")
    if row.unit != kc.ucum:
        raise FhirMappingError(f"{row.kind} must be in {kc.ucum!r}, the row says {row.unit!r}")
    flags = flag_list(row.flags)
    has_value = row.value is not None
    mdc_code = mdc or kc.mdc
    value_key, value = _value(row.value, kc, special)
    return _assemble(
        [
            ("resourceType", "Observation"),
            ("id", resource_id("r", getattr(row, "id", None))),
            ("meta", _meta([kc.profile, codes().profiles["phd_numeric"]], flags)),
            ("extension", _gateway_extension(row.bridge_id, base_url)),
            ("identifier", [reading_identifier(row.bridge_id, row.seq), phd_identifier(row, mdc_code.code)]),
            ("status", _status(flags, has_value)),
            ("category", _categories(kc.is_vital_sign, kc.category)),
            ("code", concept(*kc.codings(mdc_code), text=kc.display)),
            *_envelope(row, base_url).items(),
            (value_key, value),
            ("interpretation", _interpretation(flags)),
            ("note", _notes(flags, has_value)),
        ]
    )  # fmt: skip


# -- blood pressure panel --------------------------------------------------------------------


def _bp_component(row: ReadingLike) -> JsonDict:
    kc = codes().kind(row.kind)
    key, value = _value(row.value, kc, None)
    return {"code": concept(*kc.codings(), text=kc.display), key: value}


def _check_bp_group(rows: Sequence[ReadingLike]) -> list[ReadingLike]:
    by_kind = {r.kind: r for r in rows}
    if len(by_kind) != len(rows) or not set(by_kind) <= set(BP_KINDS):
        raise FhirMappingError(
            f"a BP panel takes one each of {BP_KINDS}, got {[r.kind for r in rows]}"
        )
    if "bp_systolic" not in by_kind or "bp_diastolic" not in by_kind:
        raise FhirMappingError("a BP panel needs both bp_systolic and bp_diastolic (bp profile)")
    if len({(r.patient_id, r.device_id, r.measured_at) for r in rows}) != 1:
        raise FhirMappingError("BP panel rows must share patient, device and measured_at")
    return [by_kind[k] for k in BP_KINDS if k in by_kind]


def bp_panel(rows: Sequence[ReadingLike], *, base_url: str | None = None) -> JsonDict:
    """Systolic + diastolic (+ mean) taken together -> one 85354-9 panel with components.

    The rows must share patient, device and ``measured_at``. Identifiers: one reading
    identifier per component row, in component order (systolic, diastolic, mean), then the PHD
    identifier (type 150020). Flags of all rows are merged on the panel.
    """
    ordered = _check_bp_group(rows)
    first, cm = ordered[0], codes()
    panel = cm.raw["bp_panel"]
    flags = list(dict.fromkeys(f for r in ordered for f in flag_list(r.flags)))
    has_values = all(r.value is not None for r in ordered)
    panel_codes = [
        Code(cm.systems["loinc"], **panel["loinc"]),
        Code(cm.systems["mdc"], **panel["mdc"]),
    ]
    idents = [reading_identifier(r.bridge_id, r.seq) for r in ordered]
    return _assemble(
        [
            ("resourceType", "Observation"),
            ("id", resource_id("bp", getattr(first, "id", None))),
            ("meta", _meta([panel["profile"], cm.profiles["phd_compound_numeric"]], flags)),
            ("extension", _gateway_extension(first.bridge_id, base_url)),
            ("identifier", [*idents, phd_identifier(first, panel["mdc"]["code"])]),
            ("status", _status(flags, has_values)),
            ("category", _categories(True)),
            ("code", concept(*(c.coding() for c in panel_codes), text=panel["display"])),
            *_envelope(first, base_url).items(),
            ("interpretation", _interpretation(flags)),
            ("note", _notes(flags, has_values)),
            ("component", [_bp_component(r) for r in ordered]),
        ]
    )  # fmt: skip


# -- many rows -----------------------------------------------------------------------------


def _group_key(row: ReadingLike) -> tuple[str, str, datetime]:
    return (row.patient_id, row.device_id, row.measured_at)


def _bp_groups(rows: Sequence[ReadingLike]) -> dict[tuple[str, str, datetime], list[ReadingLike]]:
    groups: dict[tuple[str, str, datetime], list[ReadingLike]] = {}
    for r in rows:
        if r.kind in BP_KINDS:
            groups.setdefault(_group_key(r), []).append(r)
    return {k: g for k, g in groups.items() if _is_panel(g)}


def _is_panel(group: Sequence[ReadingLike]) -> bool:
    kinds = [r.kind for r in group]
    return len(set(kinds)) == len(kinds) and {"bp_systolic", "bp_diastolic"} <= set(kinds)


def observations_from_rows(
    rows: Sequence[ReadingLike], *, base_url: str | None = None
) -> list[JsonDict]:
    """Map a batch of readings: BP components taken together (same patient, device and
    ``measured_at``, systolic and diastolic present, no kind twice) become one panel, all other
    rows map one-to-one. Pulse rate taken with a BP panel gets MDC 149546 (from the cuff).
    Output follows the order in which each observation's first row appears."""
    panels = _bp_groups(rows)
    cuff_pulse = codes().kind("pulse_rate").mdc_aliases[0]
    emitted: set[tuple[str, str, datetime]] = set()
    out: list[JsonDict] = []
    for r in rows:
        key = _group_key(r)
        if r.kind in BP_KINDS and key in panels:
            if key not in emitted:
                emitted.add(key)
                out.append(bp_panel(panels[key], base_url=base_url))
            continue
        mdc = cuff_pulse if r.kind == "pulse_rate" and key in panels else None
        out.append(reading_to_observation(r, base_url=base_url, mdc=mdc))
    return out
