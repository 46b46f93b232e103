"""Audit log entries as FHIR R4 ``AuditEvent`` resources (JSON dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from patient_hub.fhir.common import JsonDict, fhir_datetime, patient_ref

DCM = "http://dicom.nema.org/resources/ontology/DCM"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
#: Our actions as AuditEvent.action (C/R/U/D/E) and the RESTful interaction they were.
ACTION_CODES = {
    "create": ("C", "create"),
    "read": ("R", "read"),
    "search": ("E", "search-type"),
    "update": ("U", "update"),
    "delete": ("D", "delete"),
    "export": ("R", "read"),
    "login": ("E", "operation"),
}


class AuditEntryLike(Protocol):
    """What :func:`audit_event` reads (``patient_hub.audit.models.AuditEntry``)."""

    seq: int
    at: datetime
    actor: str
    actor_id: str | None
    action: str
    entity_type: str
    entity_id: str
    patient_id: str | None
    detail: str | None
    prev_hash: str
    hash: str


def audit_event(entry: AuditEntryLike) -> JsonDict:
    """One entry as an AuditEvent; the chain's hashes travel in ``entity.detail``."""
    action, interaction = ACTION_CODES.get(entry.action, ("E", "operation"))
    agent: JsonDict = {"who": {"display": entry.actor}, "requestor": True}
    if entry.actor_id:
        agent["who"]["identifier"] = {"system": "urn:telemed:user", "value": entry.actor_id}
    details = [{"type": "hash", "valueString": entry.hash}]
    details.append({"type": "prev_hash", "valueString": entry.prev_hash})
    if entry.detail:
        details.append({"type": "query", "valueString": entry.detail})
    entities: list[JsonDict] = [
        {
            "what": {"display": f"{entry.entity_type}/{entry.entity_id}"},
            "type": {"system": "urn:telemed:entity-type", "code": entry.entity_type},
            "detail": details,
        }
    ]
    if entry.patient_id:
        entities.insert(0, {"what": patient_ref(entry.patient_id), "role": _PATIENT_ROLE})
    return {
        "resourceType": "AuditEvent",
        "id": str(entry.seq),
        "type": {"system": DCM, "code": "110110", "display": "Patient Record"},
        "subtype": [{"system": INTERACTION, "code": interaction}],
        "action": action,
        "recorded": fhir_datetime(entry.at),
        "outcome": "0",
        "agent": [agent],
        "source": {"observer": {"display": "Telemed hub"}},
        "entity": entities,
    }


_PATIENT_ROLE = {
    "system": "http://terminology.hl7.org/CodeSystem/object-role",
    "code": "1",
    "display": "Patient",
}
