"""Subscription topics (the SubscriptionTopic artefacts, by bus topic) and the Backport IG's
constants."""

from __future__ import annotations

import json
from functools import lru_cache

from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS
from patient_hub.fhir.codes import CODES_PATH

MAX_EVENTS_PER_QUERY = 1000
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
CONTENTS = ("empty", "id-only", "full-resource")


@lru_cache(maxsize=1)
def topics() -> dict[str, str]:
    """Topic canonical URL -> bus topic it is fed from (``fhir/SubscriptionTopic-*.json``)."""
    out = {}
    for name, bus_topic in (("observation", TOPIC_READINGS), ("finding", TOPIC_FINDINGS)):
        path = CODES_PATH.parent / f"SubscriptionTopic-patient-{name}-new.json"
        out[json.loads(path.read_text(encoding="utf-8"))["url"]] = bus_topic
    return out


def topic_for(bus_topic: str) -> str:
    return next(url for url, t in topics().items() if t == bus_topic)
