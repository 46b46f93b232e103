"""FHIR Observation -> readings: the round trip of the mapping and PHD-IG bundle ingest.

Accepts what :mod:`patient_hub.fhir.mapping` writes and what a PHD-IG gateway sends: code by
MDC or LOINC (MDC preferred, it tells heart rate from pulse rate), a BP panel (one reading per
component), UCUM units we can convert (or the MDC unit codes of the reference), and
``dataAbsentReason`` instead of a value. Anything else raises FhirMappingError naming the
element.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from patient_hub.fhir.codes import kind_for_codings
from patient_hub.fhir.common import (
    PHD_PREFIX,
    PHG_PREFIX,
    codes,
    id_from_reference,
    parse_datetime,
)
from patient_hub.fhir.errors import FhirMappingError

Reading = dict[str, Any]

_IDENTITY: Callable[[float], float] = lambda v: v  # noqa: E731

#: (target UCUM unit, source unit) -> converter. Exact factors: 1 [lb_av] = 0.45359237 kg,
#: 1 kPa = 7.500615 mm[Hg], glucose molar mass 180.156 g/mol (mg/dL / 18.0156 = mmol/L).
_CONVERSIONS: dict[tuple[str, str], Callable[[float], float]] = {
    ("/min", "/min"): _IDENTITY,
    ("/min", "1/min"): _IDENTITY,
    ("/min", "{beats}/min"): _IDENTITY,
    ("/min", "{beat}/min"): _IDENTITY,
    ("/min", "{breaths}/min"): _IDENTITY,
    ("/min", "{breath}/min"): _IDENTITY,
    ("%", "%"): _IDENTITY,
    ("mm[Hg]", "mm[Hg]"): _IDENTITY,
    ("mm[Hg]", "kPa"): lambda v: v * 7.500615,
    ("Cel", "Cel"): _IDENTITY,
    ("Cel", "[degF]"): lambda v: (v - 32.0) * 5.0 / 9.0,
    ("kg", "kg"): _IDENTITY,
    ("kg", "g"): lambda v: v / 1000.0,
    ("kg", "[lb_av]"): lambda v: v * 0.45359237,
    ("mmol/L", "mmol/L"): _IDENTITY,
    ("mmol/L", "mg/dL"): lambda v: v / 18.0156,
    ("ms", "ms"): _IDENTITY,
    ("ms", "s"): lambda v: v * 1000.0,
}

#: MDC unit codes (MDC_DIM_*) -> UCUM, for gateways that send the MDC unit system.
_MDC_UNITS = {
    "266016": "mm[Hg]",  # MDC_DIM_MMHG
    "263875": "kg",  # MDC_DIM_KILO_G
    "262688": "%",  # MDC_DIM_PERCENT
    "264864": "/min",  # MDC_DIM_BEAT_PER_MIN
    "264928": "/min",  # MDC_DIM_RESP_PER_MIN
    "268192": "Cel",  # MDC_DIM_DEGC
}


def supported_units() -> dict[str, list[str]]:
    """UCUM units accepted per kernel unit (for docs and error messages)."""
    out: dict[str, list[str]] = {}
    for target, source in _CONVERSIONS:
        out.setdefault(target, []).append(source)
    return out


def _ucum_code(q: Mapping[str, Any], element: str) -> str:
    system, code = q.get("system"), q.get("code")
    if system == codes().systems["ucum"] and isinstance(code, str):
        return code
    if system == codes().systems["mdc"] and code in _MDC_UNITS:
        return _MDC_UNITS[code]
    raise FhirMappingError(
        f"{element}: unit must be a UCUM code (system {codes().systems['ucum']}), got "
        f"system={system!r} code={code!r}"
    )


def _convert(q: Mapping[str, Any], kind: str, element: str) -> float:
    target = codes().kind(kind).ucum
    source = _ucum_code(q, element)
    convert = _CONVERSIONS.get((target, source))
    if convert is None:
        ok = supported_units().get(target, [])
        raise FhirMappingError(f"{element}: {kind} in {source!r} is not supported; use one of {ok}")
    value = q.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FhirMappingError(f"{element}.value must be a number, got {value!r}")
    return float(convert(float(value)))


def _value_of(part: Mapping[str, Any], kind: str, element: str) -> tuple[float | None, str | None]:
    """(value in the kernel unit, data-absent-reason code) of an Observation or component."""
    if "valueQuantity" in part:
        return _convert(part["valueQuantity"], kind, f"{element}.valueQuantity"), None
    absent = part.get("dataAbsentReason")
    if isinstance(absent, Mapping):
        coding = (absent.get("coding") or [{}])[0]
        return None, str(coding.get("code") or "unknown")
    other = [k for k in part if k.startswith("value")]
    if other:
        raise FhirMappingError(
            f"{element}: {other[0]} is not supported for {kind}; use valueQuantity"
        )
    raise FhirMappingError(f"{element}: neither valueQuantity nor dataAbsentReason")


def _flags(obs: Mapping[str, Any]) -> list[str]:
    cm = codes()
    meta = obs.get("meta") or {}
    flags = [t["code"] for t in meta.get("tag", []) if t.get("system") == cm.local["reading_flag"]]
    if any(s.get("code") == "HTEST" for s in meta.get("security", [])):
        flags.append("simulated")
    if obs.get("status") == "entered-in-error":
        flags.append("invalid")
    if obs.get("status") == "preliminary" or _has_early_indication(obs):
        flags.append("early")
    return list(dict.fromkeys(flags))


def _has_early_indication(obs: Mapping[str, Any]) -> bool:
    system = codes().systems["measurement_status"]
    return any(
        c.get("system") == system and c.get("code") == "early-indication"
        for concept in obs.get("interpretation", [])
        for c in concept.get("coding", [])
    )


def _sources(obs: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(bridge_id, seq) of our reading identifiers, in order."""
    system = codes().local["reading_identifier"]
    out = []
    for ident in obs.get("identifier", []):
        if ident.get("system") == system:
            bridge, _, seq = str(ident.get("value", "")).rpartition("/")
            if bridge and seq.isdigit():
                out.append((bridge, int(seq)))
    return out


def _common(obs: Mapping[str, Any]) -> Reading:
    effective = obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start")
    gateway = next(
        (e.get("valueReference") for e in obs.get("extension", [])
         if e.get("url") == codes().extensions["gateway_device"]),
        None,
    )  # fmt: skip
    return {
        "measured_at": parse_datetime(effective, "Observation.effective[x]"),
        "patient_id": id_from_reference(obs.get("subject"), "Patient", system_key="patient_identifier"),
        "device_id": id_from_reference(obs.get("device"), "Device", prefix=PHD_PREFIX,
                                       system_key="device_identifier"),
        "bridge_id": id_from_reference(gateway, "Device", prefix=PHG_PREFIX,
                                       system_key="bridge_identifier"),
        "flags": _flags(obs),
    }  # fmt: skip


def _reading(common: Reading, kind: str, value: float | None, absent: str | None) -> Reading:
    flags = list(common["flags"])
    if value is None and "invalid" not in flags:
        flags.append("invalid")
    out = {**common, "kind": kind, "value": value, "unit": codes().kind(kind).ucum, "flags": flags}
    if absent is not None:
        out["data_absent_reason"] = absent
    return out


def _is_bp_panel(obs: Mapping[str, Any]) -> bool:
    panel = codes().raw["bp_panel"]
    panel_codes = {panel["loinc"]["code"], panel["mdc"]["code"]}
    return any(c.get("code") in panel_codes for c in obs.get("code", {}).get("coding", []))


def _panel_readings(obs: Mapping[str, Any], common: Reading) -> list[Reading]:
    out = []
    for i, comp in enumerate(obs.get("component", [])):
        kind = kind_for_codings(comp.get("code", {}).get("coding", []))
        if kind not in ("bp_systolic", "bp_diastolic", "bp_mean"):
            continue  # other components (supplemental types, pulse) are not BP values
        value, absent = _value_of(comp, kind, f"Observation.component[{i}]")
        out.append(_reading(common, kind, value, absent))
    if not out:
        raise FhirMappingError("BP panel Observation has no systolic/diastolic/mean component")
    return out


def observation_to_readings(obs: Mapping[str, Any]) -> list[Reading]:
    """Readings in an Observation: one for a numeric, one per BP component for a panel.

    Each reading: ``kind``, ``value`` (kernel unit, None when absent), ``unit``,
    ``measured_at`` (UTC), ``patient_id``, ``device_id`` and ``bridge_id`` (None when the
    reference is not a literal one of ours, e.g. ``urn:uuid:`` in a transaction), ``flags``,
    ``data_absent_reason`` when there is no value, and ``bridge_id``/``seq`` from our
    identifier when present. Waveforms: use ``waveform.observation_to_chunk``.
    """
    if obs.get("resourceType") != "Observation":
        raise FhirMappingError(f"expected an Observation, got {obs.get('resourceType')!r}")
    if "valueSampledData" in obs:
        raise FhirMappingError("valueSampledData is a waveform: use observation_to_chunk")
    common = _common(obs)
    if _is_bp_panel(obs):
        readings = _panel_readings(obs, common)
    else:
        kind = kind_for_codings(obs.get("code", {}).get("coding", []))
        if kind is None:
            codings = [
                (c.get("system"), c.get("code")) for c in obs.get("code", {}).get("coding", [])
            ]
            raise FhirMappingError(
                f"Observation.code {codings} is not a supported kind (LOINC or MDC)"
            )
        value, absent = _value_of(obs, kind, "Observation")
        readings = [_reading(common, kind, value, absent)]
    return _with_sources(readings, _sources(obs))


def _with_sources(readings: list[Reading], sources: list[tuple[str, int]]) -> list[Reading]:
    if len(sources) != len(readings):
        return readings
    return [{**r, "bridge_id": b, "seq": s} for r, (b, s) in zip(readings, sources, strict=True)]
