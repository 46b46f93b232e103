"""Step 1 (pure): validate a Bundle's entries and map each to a planned item."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B.bundle import BundleEntry
from pydantic import ValidationError

from patient_hub.fhir.common import (
    PHD_PREFIX,
    PHG_PREFIX,
    codes,
    id_from_reference,
)
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.inverse import observation_to_readings
from patient_hub.fhir.transaction.plan import (
    MAX_ENTRIES,
    Plan,
    Token,
    _at,
    _DeviceItem,
    _ObservationItem,
    _PatientItem,
    _SkippedItem,
)
from telemed_core.errors import (
    BusinessRuleViolation,
    InvalidInput,
    TelemedError,
)

_PHG_PROFILE = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"
_PHG_TYPE = "531981"  # MDC_MOC_VMS_MDS_AHD, a Continua gateway
_COINCIDENT = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"
#: MDC_ATTR_TIME_ABS, _BO, _REL, _REL_HI_RES: the coincident time stamp's codes (PHD IG).
_TIME_CODES = frozenset({"67975", "68226", "67983", "68072"})


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
