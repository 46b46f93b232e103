"""Patients and devices (PHDs and gateways) as FHIR R4 resources (JSON dicts)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from patient_hub.fhir.common import (
    PHD_PREFIX,
    PHG_PREFIX,
    JsonDict,
    codes,
    concept,
    encode_id,
    patient_ref,
)
from patient_hub.fhir.errors import FhirMappingError


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
