"""Notification Bundles (pure): SubscriptionStatus (R4B, or the R4 backport Parameters)
and the focus resources."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patient_hub.fhir.common import fhir_datetime
from patient_hub.fhir.subscriptions.models import SubscriptionRow
from patient_hub.fhir.subscriptions.topics import BACKPORT


@dataclass(frozen=True, slots=True)
class Event:
    """One numbered event as notifications carry it."""

    number: int
    at: datetime
    focus: Mapping[str, Any]


def notification_bundle(
    sub: SubscriptionRow, kind: str, events: Sequence[Event], base_url: str, now: datetime, *,
    count: int | None = None, content: str | None = None, bundle_type: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A notification Bundle: the status first (``kind``: handshake, heartbeat,
    event-notification, query-status, query-event), then the focus resources when the content
    is ``full-resource``. R4B shape (``subscription-notification`` + SubscriptionStatus) unless
    the subscription asked for ``fhirVersion=4.0`` (``history`` + Parameters, Backport IG R4).
    ``count`` is eventsSinceSubscriptionStart (default: the subscription's count)."""
    base = base_url.rstrip("/")
    content = content or sub.content
    total = sub.events_count if count is None else count
    r4 = sub.fhir_version == "4.0"
    status = (_status_r4 if r4 else _status_r4b)(sub, kind, events, base, total, content)
    first: dict[str, Any] = {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status}
    if r4:  # history entries carry request and response
        first |= {"request": {"method": "GET", "url": f"{base}/Subscription/{sub.id}/$status"},
                  "response": {"status": "200"}}  # fmt: skip
    entries = [first]
    if content == "full-resource":
        for e in events:
            entry: dict[str, Any] = {
                "fullUrl": _focus_url(e.focus, base),
                "resource": dict(e.focus),
            }
            if r4:
                entry |= {"request": {"method": "POST", "url": e.focus["resourceType"]},
                          "response": {"status": "201"}}  # fmt: skip
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": bundle_type or ("history" if r4 else "subscription-notification"),
        "timestamp": fhir_datetime(now),
        "entry": entries,
    }


def _focus_url(focus: Mapping[str, Any], base: str) -> str:
    return f"{base}/{focus['resourceType']}/{focus['id']}"


def _status_r4b(
    sub: SubscriptionRow, kind: str, events: Sequence[Event], base: str, total: int, content: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "SubscriptionStatus",
        "status": sub.status,
        "type": kind,
        "eventsSinceSubscriptionStart": str(total),
        "subscription": {"reference": f"{base}/Subscription/{sub.id}"},
        "topic": sub.topic,
    }
    notes = []
    for e in events:
        note: dict[str, Any] = {"eventNumber": str(e.number), "timestamp": fhir_datetime(e.at)}
        if content != "empty":
            note["focus"] = {"reference": _focus_url(e.focus, base)}
        notes.append(note)
    if notes:
        out["notificationEvent"] = notes
    return out


def _status_r4(
    sub: SubscriptionRow, kind: str, events: Sequence[Event], base: str, total: int, content: str
) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{sub.id}"}},
        {"name": "topic", "valueCanonical": sub.topic},
        {"name": "status", "valueCode": sub.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(total)},
    ]
    for e in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(e.number)},
            {"name": "timestamp", "valueInstant": fhir_datetime(e.at)},
        ]
        if content != "empty":
            parts.append(
                {"name": "focus", "valueReference": {"reference": _focus_url(e.focus, base)}}
            )
        params.append({"name": "notification-event", "part": parts})
    profile = BACKPORT + "backport-subscription-status-r4"
    return {"resourceType": "Parameters", "meta": {"profile": [profile]}, "parameter": params}
