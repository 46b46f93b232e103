"""Patients, devices, findings and derived observations as FHIR R4 resources (JSON dicts)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from patient_hub.fhir.common import (
    PHD_PREFIX,
    PHG_PREFIX,
    JsonDict,
    category,
    codes,
    concept,
    device_ref,
    encode_id,
    fhir_datetime,
    patient_ref,
)
from patient_hub.fhir.errors import FhirMappingError
from telemed_signal.findings import Finding, Severity


class PatientLike(Protocol):
    """What :func:`patient_to_fhir` reads (``patient_hub.patients.models.Patient``)."""

    @property
    def id(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def programme(self) -> str: ...
    @property
    def telemedpoint_id(self) -> str | None: ...
    @property
    def family_name(self) -> str | None: ...
    @property
    def given_name(self) -> str | None: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def sex(self) -> str | None: ...
    @property
    def national_id(self) -> str | None: ...
    @property
    def address_line(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def home_latitude(self) -> float | None: ...
    @property
    def home_longitude(self) -> float | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def treating_doctor(self) -> str | None: ...
    @property
    def is_test(self) -> bool: ...


#: Czech birth number (rodné číslo), as the Czech core IG names it (CZ_Rodcis_Identifier).
BIRTH_NUMBER_SYSTEM = "https://ncez.mzcr.cz/fhir/sid/rcis"
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"
#: Test data: v3 ActReason HTEST, as a security label (simulated patients and their data).
HTEST = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
         "display": "test health data"}  # fmt: skip


def _logical_id(raw: str, prefix: str = "") -> str:
    fhir_id = encode_id(raw, prefix)
    if fhir_id is None:
        raise FhirMappingError(f"id {raw!r} is too long for a FHIR id (64 characters)")
    return fhir_id


def _local_identifier(key: str, value: str) -> JsonDict:
    return {"system": codes().local[key], "value": value}


def patient_to_fhir(patient: PatientLike) -> JsonDict:
    """A Patient: our identifier and the birth number, the name (``text`` and its parts),
    telecom, gender, birthDate, the home address with its geolocation, the treating doctor as
    ``generalPractitioner``, the programme as a ``meta.tag``, test data as the HTEST security
    label, and the telemedpoint as ``managingOrganization`` (by identifier)."""
    meta: JsonDict = {"tag": [{"system": codes().local["programme"], "code": patient.programme}]}
    if patient.is_test:
        meta["security"] = [HTEST]
    out: JsonDict = {
        "resourceType": "Patient",
        "id": _logical_id(patient.id),
        "meta": meta,
        "identifier": _patient_identifiers(patient),
        "active": True,
        "name": [_human_name(patient)],
    }
    if patient.phone:
        out["telecom"] = [{"system": "phone", "value": patient.phone, "use": "home"}]
    if patient.sex:
        out["gender"] = patient.sex
    if patient.birth_date:
        out["birthDate"] = patient.birth_date.isoformat()
    address = _address(patient)
    if address:
        out["address"] = [address]
    if patient.treating_doctor:
        out["generalPractitioner"] = [{"display": patient.treating_doctor}]
    if patient.telemedpoint_id:
        ident = _local_identifier("telemedpoint_identifier", patient.telemedpoint_id)
        out["managingOrganization"] = {"identifier": ident}
    return out


def _patient_identifiers(patient: PatientLike) -> list[JsonDict]:
    identifiers = [_local_identifier("patient_identifier", patient.id)]
    if patient.national_id:
        identifiers.append(
            {"use": "official", "system": BIRTH_NUMBER_SYSTEM, "value": patient.national_id}
        )
    return identifiers


def _human_name(patient: PatientLike) -> JsonDict:
    name: JsonDict = {"text": patient.display_name}
    if patient.family_name or patient.given_name:
        name = {"use": "official", **name}
    if patient.family_name:
        name["family"] = patient.family_name
    if patient.given_name:
        name["given"] = patient.given_name.split()
    return name


def _address(patient: PatientLike) -> JsonDict | None:
    address: JsonDict = {}
    if patient.address_line:
        address["line"] = [patient.address_line]
    for key, value in (
        ("city", patient.city), ("postalCode", patient.postal_code), ("country", patient.country)
    ):  # fmt: skip
        if value:
            address[key] = value
    if patient.home_latitude is not None and patient.home_longitude is not None:
        address["extension"] = [
            {
                "url": GEOLOCATION,
                "extension": [
                    {"url": "latitude", "valueDecimal": patient.home_latitude},
                    {"url": "longitude", "valueDecimal": patient.home_longitude},
                ],
            }
        ]
    if not address:
        return None
    return {"use": "home", **address}


# -- devices -------------------------------------------------------------------------------

_ZERO_EUI64 = "00-00-00-00-00-00-00-00"


def _typed_identifier(code: str, system: str, value: str) -> JsonDict:
    cm = codes()
    coding = {"system": cm.systems["continua_device_identifiers"], "code": code}
    return {"type": {"coding": [coding]}, "system": system, "value": value}


def _eui(text: str, octets: int) -> str:
    """EUI-64 / EUI-48 as upper-case dash-separated hex (``00-1C-05-FF-E8-74``)."""
    digits = "".join(ch for ch in text if ch.isalnum()).upper()
    if len(digits) != 2 * octets or any(ch not in "0123456789ABCDEF" for ch in digits):
        raise FhirMappingError(f"{text!r} is not an EUI-{octets * 8} address")
    return "-".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def device_specializations(kinds: Iterable[str]) -> list[JsonDict]:
    """Device.specialization entries (MDC_DEV_SPEC_PROFILE_*) for the kinds a device reports."""
    cm = codes()
    wanted = set(kinds)
    specs = [
        s for s in cm.raw["device_specializations"].values() if wanted & set(s.get("kinds", []))
    ]
    specs = specs or [cm.raw["device_specializations"]["generic"]]
    mdc = cm.systems["mdc"]
    return [
        {"systemType": concept({"system": mdc, "code": s["code"], "display": s["display"]})}
        for s in specs
    ]


def device_to_fhir(
    device_id: str,
    bridge_id: str,
    patient_id: str,
    *,
    kinds: Iterable[str] = (),
    bt_address: str | None = None,
    system_id: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    serial_number: str | None = None,
    base_url: str | None = None,
) -> JsonDict:
    """A PHD Device (PHD IG ``PhdDevice``, R4 shape).

    Identifiers: ours (``local.device_identifier``), the EUI-64 System-Id (``SYSID``; all
    zeros when unknown, as the IG says for devices without one) and, when known, the Bluetooth
    MAC (``BTMAC``). ``type`` is MDC 65573 (simple MDS), ``specialization`` follows the kinds
    the device reports. R4 Device has no gateway element (each Observation names its gateway
    in the ``observation-gatewayDevice`` extension), so the bridge is only noted in ``note``.
    """
    cm = codes()
    idents = [
        _local_identifier("device_identifier", device_id),
        _typed_identifier(
            "SYSID", cm.systems["eui64"], _eui(system_id, 8) if system_id else _ZERO_EUI64
        ),
    ]
    if bt_address:
        idents.append(_typed_identifier("BTMAC", cm.systems["bluetooth_mac"], _eui(bt_address, 6)))
    device_type = cm.raw["device_type"]
    out: JsonDict = {
        "resourceType": "Device",
        "id": _logical_id(device_id, PHD_PREFIX),
        # PhdDevice requires manufacturer and modelNumber: claim it only when we know them
        "meta": {"profile": [cm.profiles["phd_device"]]} if manufacturer and model else None,
        "identifier": idents,
        "status": "active",
        "manufacturer": manufacturer,
        "serialNumber": serial_number,
        "modelNumber": model,
        "type": concept({"system": cm.systems["mdc"], **device_type}, text="Personal health device"),
        "specialization": device_specializations(kinds),
        "patient": patient_ref(patient_id, base_url),
        "note": [{"text": f"Read by bridge {bridge_id}"}],
    }  # fmt: skip
    return {k: v for k, v in out.items() if v is not None}


def gateway_to_fhir(
    bridge_id: str,
    *,
    patient_id: str | None = None,
    telemedpoint_id: str | None = None,
    base_url: str | None = None,
) -> JsonDict:
    """The bridge as a gateway Device (PHD ``PhgDevice``), the target of the observations'
    ``observation-gatewayDevice`` extension. A home gateway names its patient."""
    out: JsonDict = {
        "resourceType": "Device",
        "id": _logical_id(bridge_id, PHG_PREFIX),
        "meta": {"profile": [codes().profiles["phg_device"]]},
        "identifier": [_local_identifier("bridge_identifier", bridge_id)],
        "status": "active",
        "deviceName": [{"name": f"telemed bridge {bridge_id}", "type": "user-friendly-name"}],
    }  # fmt: skip
    if patient_id:
        out["patient"] = patient_ref(patient_id, base_url)
    if telemedpoint_id:
        ident = _local_identifier("telemedpoint_identifier", telemedpoint_id)
        out["owner"] = {"identifier": ident}
    return out


# -- findings ------------------------------------------------------------------------------

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


# -- derived observations ----------------------------------------------------------------------


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
