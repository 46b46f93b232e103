"""Derived observations (scores and rhythm measures computed by the hub) as FHIR R4
Observations (JSON dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from patient_hub.fhir.common import (
    JsonDict,
    category,
    codes,
    concept,
    device_ref,
    fhir_datetime,
    patient_ref,
)
from patient_hub.fhir.errors import FhirMappingError


def _observation_ref(ref: str, base_url: str | None) -> JsonDict:
    """``Observation/x`` (or an absolute URL) as given; a bare id gets ``Observation/``."""
    if "/" in ref:
        return {"reference": ref}
    root = f"{base_url.rstrip('/')}/" if base_url else ""
    return {"reference": f"{root}Observation/{ref}"}


def _news2_components(components: Mapping[str, float]) -> list[JsonDict]:
    system, ucum = codes().local["news2_parameter"], codes().systems["ucum"]
    return [
        {
            "code": concept({"system": system, "code": name}, text=f"NEWS2 {name} score"),
            "valueQuantity": {"value": score, "unit": "score", "system": ucum, "code": "{score}"},
        }
        for name, score in components.items()
    ]


def _af_components(value: float, spec: Mapping[str, Any]) -> list[JsonDict]:
    q = {"value": value, "unit": spec["unit_display"], "system": codes().systems["ucum"],
         "code": spec["ucum"]}  # fmt: skip
    return [
        {"code": concept(spec["rate_component"], text="Mean ventricular rate"), "valueQuantity": q}
    ]


def derived_observation(
    kind: str,
    value: float,
    unit: str,
    patient_id: str,
    at: datetime,
    derived_from: Sequence[str],
    *,
    end: datetime | None = None,
    components: Mapping[str, float] | None = None,
    device_id: str | None = None,
    method: str | None = None,
    base_url: str | None = None,
) -> JsonDict:
    """An Observation the hub computed, linked to its sources with ``derivedFrom``.

    Kinds (``codes.json`` ``derived``): ``heart_rate`` (HR from ECG, /min, Vital Signs
    heartrate profile), ``news2`` ({score}; ``components`` = sub-scores by chart row) and
    ``af_episode`` (value = mean ventricular rate in /min; ``valueCodeableConcept`` atrial
    fibrillation; ``at``..``end`` the episode, no end while ongoing). ``unit`` must be the
    kind's UCUM unit; ``derived_from`` holds references (``Observation/ecg-7``) or ids.
    """
    spec = codes().raw["derived"].get(kind)
    if spec is None:
        raise FhirMappingError(
            f"unknown derived kind {kind!r}; one of {sorted(codes().raw['derived'])}"
        )
    if unit != spec["ucum"]:
        raise FhirMappingError(f"derived {kind} must be in {spec['ucum']!r}, got {unit!r}")
    out: JsonDict = {
        "resourceType": "Observation",
        "meta": {"profile": [spec["profile"]]} if spec.get("profile") else None,
        "identifier": [_derived_identifier(kind, patient_id, at)],
        "status": "final" if kind != "af_episode" or end is not None else "preliminary",
        "category": [category(spec["category"])],
        "code": concept(*spec["coding"], text=spec["display"]),
        "subject": patient_ref(patient_id, base_url),
        **_effective(at, end),
        **_derived_value(kind, value, spec),
        "method": {"text": method} if method else None,
        "device": device_ref(device_id, base_url) if device_id else None,
        "derivedFrom": [_observation_ref(r, base_url) for r in derived_from] or None,
        "component": _derived_components(kind, value, spec, components),
    }
    return {k: v for k, v in out.items() if v is not None}


def _derived_identifier(kind: str, patient_id: str, at: datetime) -> JsonDict:
    value = f"{patient_id}/{kind}/{fhir_datetime(at)}"
    return {"system": codes().local["derived_identifier"], "value": value}


def _effective(at: datetime, end: datetime | None) -> JsonDict:
    if end is None:
        return {"effectiveDateTime": fhir_datetime(at)}
    return {"effectivePeriod": {"start": fhir_datetime(at), "end": fhir_datetime(end)}}


def _derived_value(kind: str, value: float, spec: Mapping[str, Any]) -> JsonDict:
    if kind == "af_episode":
        return {"valueCodeableConcept": concept(spec["value_concept"])}
    q = {"value": value, "unit": spec["unit_display"], "system": codes().systems["ucum"],
         "code": spec["ucum"]}  # fmt: skip
    return {"valueQuantity": q}


def _derived_components(
    kind: str, value: float, spec: Mapping[str, Any], components: Mapping[str, float] | None
) -> list[JsonDict] | None:
    if kind == "af_episode":
        return _af_components(value, spec)
    if kind == "news2" and components:
        return _news2_components(components)
    return None
