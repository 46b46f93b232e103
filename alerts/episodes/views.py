"""An episode as the bus, the screens and the API carry it (plain JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.episodes.models import AlertEpisode
from alerts.policy.rules import CARDIAC_ARREST, CHAINS

#: Bus topic of alert changes; every API process tails it to push them to its screens.
TOPIC_ALERTS = "alerts"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def alert_json(ep: AlertEpisode) -> dict[str, Any]:
    chain = CHAINS[ep.chain]
    return {
        "id": ep.id,
        "patient_id": ep.patient_id,
        "rule": ep.rule,
        "kind": ep.kind,
        "category": ep.category,
        "priority": ep.priority,
        "state": ep.state,
        "condition": ep.condition,
        "title": ep.title,
        "chain": ep.chain,
        "tier": ep.tier,
        "target_roles": list(chain.targets(ep.tier)),
        "opened_at": _iso(ep.opened_at),
        "updated_at": _iso(ep.updated_at),
        "delivered_at": _iso(ep.delivered_at),
        "accepted_at": _iso(ep.accepted_at),
        "accepted_by": ep.accepted_by,
        "resolved_at": _iso(ep.resolved_at),
        "resolved_by": ep.resolved_by,
        "outcome": ep.outcome,
        "paused_until": _iso(ep.paused_until),
        "pause_reason": ep.pause_reason,
        "paused_by": ep.paused_by,
        "merged_into": ep.merged_into,
        "explanation": ep.explanation,
    }


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """What other packages (first-responder dispatch) need to know about an alert."""

    id: int
    kind: str
    priority: str
    patient_id: str
    state: str
    accepted_by: str | None

    @property
    def is_cardiac_arrest(self) -> bool:
        """A high-priority cardiac-arrest episode (VF or asystole, with its folded rhythms)."""
        return self.kind == CARDIAC_ARREST and self.priority == "high"

    @property
    def confirmed(self) -> bool:
        """A clinician has accepted it (the hook for dispatching first responders)."""
        return self.state == "accepted"


def alert_info(ep: AlertEpisode) -> AlertInfo:
    return AlertInfo(ep.id, ep.kind, ep.priority, ep.patient_id, ep.state, ep.accepted_by)
