"""A posted Subscription -> what it asks for: topic, patient filter, channel, payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B.subscription import Subscription
from pydantic import ValidationError

from patient_hub.bus.base import TOPIC_READINGS
from patient_hub.fhir.common import id_from_reference
from patient_hub.fhir.subscriptions.topics import BACKPORT, CONTENTS, MAX_EVENTS_PER_QUERY, topics
from telemed_core.errors import BusinessRuleViolation, InvalidInput


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a client asked for, checked: one patient, optional code/category tokens."""

    topic: str
    patient_id: str
    filters: tuple[tuple[str, str], ...]
    content: str
    fhir_version: str  # "4.3": SubscriptionStatus notifications; "4.0": Parameters (R4)
    heartbeat_s: int | None
    max_count: int
    end: datetime | None


def _extension(element: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    return next(
        (e for e in (element or {}).get("extension", []) if e.get("url") == BACKPORT + name), None
    )


def parse_subscription(body: Any) -> SubscriptionSpec:
    """Validate a Backport-IG Subscription (R4B model); InvalidInput (400) or
    BusinessRuleViolation (422, e.g. a channel other than websocket) naming the element."""
    try:
        Subscription.model_validate(body)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidInput(f"not a valid Subscription: {details}") from None
    topic = body["criteria"]
    if topic not in topics():
        raise BusinessRuleViolation(f"unknown topic {topic!r}; one of {sorted(topics())}")
    channel = body["channel"]
    if channel.get("type") != "websocket":
        raise BusinessRuleViolation("only the websocket channel is supported")
    patient_id, filters = _filters(body.get("_criteria"), topic)
    content_ext = _extension(channel.get("_payload"), "backport-payload-content")
    content = (content_ext or {}).get("valueCode", "id-only")
    if content not in CONTENTS:
        raise InvalidInput(f"payload content {content!r} is not one of {CONTENTS}")
    heartbeat = (_extension(channel, "backport-heartbeat-period") or {}).get("valueUnsignedInt")
    max_count = (_extension(channel, "backport-max-count") or {}).get("valuePositiveInt", 100)
    end = body.get("end")
    return SubscriptionSpec(
        topic=topic,
        patient_id=patient_id,
        filters=filters,
        content=content,
        fhir_version="4.0" if "fhirVersion=4.0" in str(channel.get("payload", "")) else "4.3",
        heartbeat_s=int(heartbeat) if heartbeat else None,
        max_count=min(int(max_count), MAX_EVENTS_PER_QUERY),
        end=datetime.fromisoformat(end) if end else None,
    )


def _filters(criteria: Any, topic: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(patient id, other filters) from ``backport-filter-criteria`` (``Observation?patient=..``)."""
    allowed = (
        {"patient", "code", "category"}
        if topics()[topic] == TOPIC_READINGS
        else {"patient", "code"}
    )
    pairs: list[tuple[str, str]] = []
    for ext in (criteria or {}).get("extension", []):
        if ext.get("url") != BACKPORT + "backport-filter-criteria":
            continue
        rtype, _, query = str(ext.get("valueString", "")).partition("?")
        if rtype != "Observation":
            raise InvalidInput(
                f"filter {ext.get('valueString')!r}: the topic's resource is Observation"
            )
        pairs += parse_qsl(query, keep_blank_values=True)
    unknown = {k for k, _ in pairs} - allowed
    if unknown:
        raise InvalidInput(f"filters {sorted(unknown)} are not supported; use {sorted(allowed)}")
    patients = [v for k, v in pairs if k == "patient"]
    if len(patients) != 1:
        raise BusinessRuleViolation(
            "exactly one patient filter is required (Observation?patient=Patient/<id>)"
        )
    ref = {"reference": patients[0] if "/" in patients[0] else f"Patient/{patients[0]}"}
    patient_id = id_from_reference(ref, "Patient", system_key="patient_identifier")
    if patient_id is None:
        raise InvalidInput(f"patient filter {patients[0]!r} is not Patient/<id>")
    return patient_id, tuple((k, v) for k, v in pairs if k != "patient")  # fmt: skip
