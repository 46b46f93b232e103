"""A patient's alert episodes and the reminders they were sent, for the patient view, the
portal (``/me``: the patient's own) and the period report."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import groupby
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from alerts.episodes import repository as episodes_repo
from alerts.episodes.models import AlertEpisode
from alerts.notify import repository as notify_repo
from alerts.notify.models import NotificationRow
from clinician_api.deps import CurrentPrincipal, Session
from patient_hub.access import require_patient
from patient_hub.audit import service as audit
from telemed_core.values import utc_now

router = APIRouter(tags=["patients"])
Days = Annotated[int, Query(ge=1, le=366, description="the last N days")]


class EpisodeOut(BaseModel):
    id: int
    title: str
    kind: str
    category: str
    priority: str
    state: str
    opened_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    outcome: str | None
    why: str  # English, as the rule wrote it
    why_key: str  # telemed_core.explanations key ("" for older alerts), for the reader's language
    why_args: dict[str, Any]


class Delivery(BaseModel):
    channel: str
    status: str


class ReminderOut(BaseModel):
    at: datetime
    subject: str
    body: str
    deliveries: list[Delivery]


def episode_out(ep: AlertEpisode) -> EpisodeOut:
    return EpisodeOut(
        id=ep.id, title=ep.title, kind=ep.kind, category=ep.category, priority=ep.priority,
        state=ep.state, opened_at=ep.opened_at, accepted_by=ep.accepted_by,
        accepted_at=ep.accepted_at, resolved_at=ep.resolved_at, outcome=ep.outcome,
        why=str(ep.explanation.get("why") or ""), why_key=str(ep.explanation.get("why_key") or ""),
        why_args=dict(ep.explanation.get("why_args") or {}),
    )  # fmt: skip


def reminders_out(rows: list[NotificationRow]) -> list[ReminderOut]:
    """One reminder per moment it was queued, with the channels it went to."""
    out = []
    for (at, subject, body), same in groupby(rows, key=lambda r: (r.created_at, r.subject, r.body)):
        deliveries = [Delivery(channel=r.channel, status=r.status) for r in same]
        out.append(ReminderOut(at=at, subject=subject, body=body, deliveries=deliveries))
    return out


@router.get("/api/patients/{patient_id}/episodes", response_model=list[EpisodeOut])
async def episodes(
    patient_id: str, session: Session, who: CurrentPrincipal, days: Days = 30
) -> list[EpisodeOut]:
    """Alert episodes opened for the patient in the last ``days`` days, newest first, with who
    accepted them and how they ended (the patient sees their own)."""
    await require_patient(session, who, patient_id)
    until = utc_now()
    rows = await episodes_repo.of_patient_between(
        session, patient_id, until - timedelta(days=days), until
    )
    await audit.record(
        session, actor=who, action="read", entity_type="AlertEpisode", entity_id=patient_id,
        patient_id=patient_id, detail={"days": days, "rows": len(rows)},
    )  # fmt: skip
    return [episode_out(ep) for ep in reversed(rows)]


@router.get("/api/patients/{patient_id}/reminders", response_model=list[ReminderOut])
async def reminders(
    patient_id: str, session: Session, who: CurrentPrincipal, days: Days = 30
) -> list[ReminderOut]:
    """Measurement reminders sent to the patient in the last ``days`` days, newest first, each
    with its channels and whether it went out."""
    await require_patient(session, who, patient_id)
    until = utc_now()
    rows = await notify_repo.reminders_of(session, patient_id, until - timedelta(days=days), until)
    await audit.record(
        session, actor=who, action="read", entity_type="Notification", entity_id=patient_id,
        patient_id=patient_id, detail={"days": days, "rows": len(rows)},
    )  # fmt: skip
    return list(reversed(reminders_out(list(rows))))
