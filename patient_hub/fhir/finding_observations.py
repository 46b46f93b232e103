"""Findings of the signal worker as FHIR R4 Observations (``f-<id>``, JSON dicts)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from patient_hub.fhir.common import (
    JsonDict,
    codes,
    concept,
    fhir_datetime,
    patient_ref,
)
from patient_hub.fhir.derived_observations import _observation_ref
from telemed_signal.findings import Finding, Severity

#: Unit of a finding value from the suffix of its key (STYLE.md: units in names).
_SUFFIX_UNITS = {
    "_bpm": ("/min", "beats/minute"),
    "_per_min": ("/min", "/min"),
    "_pct": ("%", "%"),
    "_s": ("s", "s"),
    "_ms": ("ms", "ms"),
    "_mmhg": ("mm[Hg]", "mmHg"),
    "_c": ("Cel", "C"),
    "_kg": ("kg", "kg"),
}
_INTERPRETATION = {Severity.HIGH: "AA", Severity.MEDIUM: "A", Severity.LOW: "A"}


def _unit_for(key: str) -> tuple[str, str] | None:
    return next((u for sfx, u in _SUFFIX_UNITS.items() if key.endswith(sfx)), None)


def finding_value(key: str, value: Any) -> JsonDict:
    """One ``Finding.values`` entry as an Observation.component coded by its key."""
    code = concept({"system": codes().local["finding_value"], "code": key}, text=key)
    if isinstance(value, bool):
        return {"code": code, "valueBoolean": value}
    if isinstance(value, int) and _unit_for(key) is None:
        return {"code": code, "valueInteger": value}
    if isinstance(value, int | float):
        if not math.isfinite(value):
            absent = concept(
                {"system": codes().systems["data_absent_reason"], "code": "not-a-number"}
            )
            return {"code": code, "dataAbsentReason": absent}
        q: JsonDict = {"value": value}
        unit = _unit_for(key)
        if unit:
            q |= {"unit": unit[1], "system": codes().systems["ucum"], "code": unit[0]}
        return {"code": code, "valueQuantity": q}
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return {"code": code, "valueString": text}


def _finding_interpretation(severity: Severity) -> list[JsonDict]:
    cm = codes()
    local = {"system": cm.local["finding_severity"], "code": str(severity)}
    v3 = _INTERPRETATION.get(severity)
    codings = [{"system": cm.systems["observation_interpretation"], "code": v3}] if v3 else []
    return [concept(*codings, local, text=f"{severity} priority")]


def finding_to_fhir(
    finding: Finding, *, derived_from: Sequence[str] = (), base_url: str | None = None
) -> JsonDict:
    """A Finding as an Observation (category ``finding``, code = finding kind).

    Why Observation and not DetectedIssue: R4 DetectedIssue is about conflicts with clinical
    *actions* (drug interactions, duplicate therapy); a finding is a statement about the
    patient's data, derived from observations (``derivedFrom``), which is how the reference
    (PHD IG, section 5.2) models processed device data. It also makes findings searchable with
    the same patient/code/category/date parameters and one SubscriptionTopic shape.

    An alert can show: ``method.text`` (the published method or rule), ``component`` (every
    value, coded by its key, with a UCUM unit from the key's suffix), ``note`` (the
    explanation), ``interpretation`` (severity: v3 AA/A plus our exact severity code) and
    ``effectivePeriod`` (no end while ongoing; status preliminary until it ends).
    """
    cm = codes()
    values = dict(finding.values)
    if finding.window_s is not None:
        values.setdefault("window_s", finding.window_s)
    period = {"start": fhir_datetime(finding.start)}
    if finding.end is not None:
        period["end"] = fhir_datetime(finding.end)
    ident = f"{finding.patient_id}/{finding.kind}/{fhir_datetime(finding.start)}"
    out: JsonDict = {
        "resourceType": "Observation",
        "identifier": [{"system": cm.local["finding_identifier"], "value": ident}],
        "status": "preliminary" if finding.end is None else "final",
        "category": [concept({"system": cm.local["finding_category"], "code": "finding"})],
        "code": concept({"system": cm.local["finding_kind"], "code": finding.kind},
                        text=finding.kind.replace("_", " ")),
        "subject": patient_ref(finding.patient_id, base_url),
        "effectivePeriod": period,
        "interpretation": _finding_interpretation(finding.severity),
        "note": [{"text": finding.explanation}] if finding.explanation else None,
        "method": {"text": finding.method},
        "derivedFrom": [_observation_ref(r, base_url) for r in derived_from] or None,
        "component": [finding_value(k, v) for k, v in values.items()] or None,
    }  # fmt: skip
    return {k: v for k, v in out.items() if v is not None}
