"""An alert as a FHIR R4 ``Flag`` (read-only view; the REST API stays the place to act).

``Flag.status`` is active while the episode is open; ``period`` runs from opening to
resolution; priority uses the HL7 ``flag-priority`` extension (PH/PM/PL); ``code`` names the
rule in the platform's CodeSystem with the explanation as text; the subject is the Patient,
or the Location of a telemedpoint for a kiosk's own alarm.
"""

from __future__ import annotations

from typing import Any

from alerts.episodes.models import AlertEpisode
from patient_hub.fhir.common import fhir_datetime, patient_ref

RULE_SYSTEM = "https://telemed.example.org/fhir/CodeSystem/alert-rule"
PRIORITY_EXT = "http://hl7.org/fhir/StructureDefinition/flag-priority"
PRIORITY_SYSTEM = "http://hl7.org/fhir/flag-priority-code"
_PRIORITY = {"high": ("PH", "High priority"), "medium": ("PM", "Medium priority"),
             "low": ("PL", "Low priority")}  # fmt: skip
_CATEGORY = {"clinical": ("clinical", "Clinical"), "technical": ("admin", "Administrative"),
             "adherence": ("behavioral", "Behavioral")}  # fmt: skip


def alert_to_flag(ep: AlertEpisode, base_url: str | None = None) -> dict[str, Any]:
    code, display = _PRIORITY[ep.priority]
    cat_code, cat_display = _CATEGORY[ep.category]
    period: dict[str, str] = {"start": fhir_datetime(ep.opened_at)}
    if ep.resolved_at is not None:
        period["end"] = fhir_datetime(ep.resolved_at)
    why = str(ep.explanation.get("why") or ep.title)
    if ep.patient_id.startswith("telemedpoint:"):
        subject: dict[str, Any] = {"reference": f"Location/{ep.patient_id.split(':', 1)[1]}"}
    else:
        subject = patient_ref(ep.patient_id, base_url)
    return {
        "resourceType": "Flag",
        "id": f"alert-{ep.id}",
        "extension": [{
            "url": PRIORITY_EXT,
            "valueCodeableConcept": {"coding": [{"system": PRIORITY_SYSTEM, "code": code, "display": display}]},
        }],
        "status": "active" if ep.open_key is not None else "inactive",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/flag-category",
            "code": cat_code, "display": cat_display,
        }]}],
        "code": {"coding": [{"system": RULE_SYSTEM, "code": ep.rule, "display": ep.title}], "text": why},
        "subject": subject,
        "period": period,
    }  # fmt: skip
