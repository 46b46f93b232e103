"""What people do with an alert: accept, reject, pause, resolve; delivery and read receipts.

Each action checks that the person may see the patient (a 404 otherwise, so existence does not
leak) and is in the alert's escalation chain, then checks the state. A rejected action changes
nothing. Resolve beats a late accept: accepting a resolved alert is a 409.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.episodes import repository as repo
from alerts.episodes.models import AlertEpisode
from alerts.episodes.service import chain_for_episode, close, schedule_escalation
from alerts.escalation import repository as timers
from alerts.policy.rules import Outcome
from patient_hub.access import Principal, visible_patient_ids
from patient_hub.accounts.models import Role
from telemed_core.errors import BusinessRuleViolation, Conflict, Forbidden, NotFound

ACTIVE = ("active", "delivered")


async def alert_subjects(session: AsyncSession, who: Principal) -> set[str] | None:
    """Whose alerts ``who`` sees: the patients they may see, plus their telemedpoint's own
    alarms for a nurse; None means all (admin); nothing for patients, responders, dispatchers."""
    if who.role in (Role.PATIENT, Role.RESPONDER, Role.DISPATCHER):
        return set()
    return await screen_subjects(session, who)


async def screen_subjects(session: AsyncSession, who: Principal) -> set[str] | None:
    """What a live screen of ``who`` may receive: their visible patients, plus their
    telemedpoint's own alarms for a nurse (None: everything)."""
    visible = await visible_patient_ids(session, who)
    if visible is not None and who.role is Role.NURSE and who.telemedpoint_id:
        visible.add(f"telemedpoint:{who.telemedpoint_id}")
    return visible


async def visible_alert(
    session: AsyncSession, who: Principal, alert_id: int, *, lock: bool = False
) -> AlertEpisode:
    """The alert if ``who`` may see its patient; NotFound otherwise (no existence leak)."""
    ep = await repo.get(session, alert_id, lock=lock)
    subjects = await alert_subjects(session, who)
    if ep is None or (subjects is not None and ep.patient_id not in subjects):
        raise NotFound(f"no alert {alert_id}")
    if who.role is Role.CARDIOLOGIST and ep.category != "clinical":
        raise NotFound(f"no alert {alert_id}")
    return ep


async def _actionable(session: AsyncSession, who: Principal, alert_id: int) -> AlertEpisode:
    ep = await visible_alert(session, who, alert_id, lock=True)
    if who.role is not Role.ADMIN and who.role.value not in chain_for_episode(ep).roles:
        raise Forbidden(f"a {who.role.value} does not act on {ep.category} alerts")
    if ep.state == "pending":
        raise NotFound(f"no alert {alert_id}")
    if ep.state == "resolved":
        raise Conflict(f"alert {alert_id} was already resolved by {ep.resolved_by}")
    if ep.state == "merged":
        raise Conflict(f"alert {alert_id} is part of alert {ep.merged_into}")
    return ep


async def accept(
    session: AsyncSession, who: Principal, alert_id: int, now: datetime
) -> tuple[AlertEpisode, bool]:
    """Take responsibility; returns (episode, changed). Accepting twice is a no-op."""
    ep = await _actionable(session, who, alert_id)
    if ep.state == "accepted":
        if ep.accepted_by == who.username:
            return ep, False
        raise Conflict(f"alert {alert_id} was already accepted by {ep.accepted_by}")
    ep.state, ep.accepted_at, ep.accepted_by, ep.updated_at = "accepted", now, who.username, now
    await repo.add_event(session, ep.id, now, who.username, "accepted", {"tier": ep.tier})
    await timers.cancel_for_alert(session, ep.id, now, who.username)
    return ep, True


async def reject(
    session: AsyncSession, who: Principal, alert_id: int, now: datetime, reason: str = ""
) -> AlertEpisode:
    """Decline responsibility: the alert passes to the next tier at once."""
    ep = await _actionable(session, who, alert_id)
    if ep.state not in ACTIVE:
        raise Conflict(f"alert {alert_id} is {ep.state}; only an unaccepted alert can be rejected")
    await timers.cancel_for_alert(session, ep.id, now, who.username)
    chain = chain_for_episode(ep)
    ep.tier = min(ep.tier + 1, len(chain.roles) - 1)
    ep.updated_at = now
    detail = {"reason": reason, "to_tier": ep.tier, "to_roles": list(chain.targets(ep.tier))}
    await repo.add_event(session, ep.id, now, who.username, "rejected", detail)
    await schedule_escalation(session, ep, now)
    return ep


async def pause(
    session: AsyncSession,
    who: Principal,
    alert_id: int,
    now: datetime,
    reason: str,
    duration_s: float,
) -> AlertEpisode:
    """Pause escalation for ``duration_s`` with a mandatory reason; it expires by itself."""
    if not reason.strip():
        raise BusinessRuleViolation("a pause needs a reason")
    ep = await _actionable(session, who, alert_id)
    limit = chain_for_episode(ep).max_pause_s
    if not 0 < duration_s <= limit:
        raise BusinessRuleViolation(
            f"a pause of a {ep.priority} alert lasts more than 0 s and at most {limit:g} s"
        )
    until = now + timedelta(seconds=duration_s)
    ep.paused_until, ep.pause_reason, ep.paused_by, ep.updated_at = until, reason, who.username, now
    detail = {"reason": reason, "until": until.isoformat()}
    await repo.add_event(session, ep.id, now, who.username, "paused", detail)
    key = f"pause|{ep.id}|{until.isoformat()}"
    await timers.schedule(session, key, "pause_expiry", until, {"alert_id": ep.id})
    return ep


async def resolve(
    session: AsyncSession, who: Principal, alert_id: int, now: datetime, outcome: str, note: str
) -> AlertEpisode:
    """Close the alert with what was done about it."""
    try:
        chosen = Outcome(outcome)
    except ValueError:
        options = ", ".join(o.value for o in Outcome)
        raise BusinessRuleViolation(f"unknown outcome {outcome!r}; one of {options}") from None
    ep = await _actionable(session, who, alert_id)
    ep.paused_until = None
    await close(session, ep, now, who.username, chosen.value, note)
    return ep


async def receipt(
    session: AsyncSession,
    alert_id: int,
    username: str,
    action: str,
    now: datetime,
    subjects: set[str] | None,
) -> AlertEpisode | None:
    """Record that a screen showed (``delivered``) or its user opened (``read``) an alert.

    Once per (alert, user, action); an alert the user may not see (``subjects``) is ignored.
    Returns the episode when its state changed (its first delivery).
    """
    ep = await repo.get(session, alert_id, lock=True)
    if ep is None or (subjects is not None and ep.patient_id not in subjects):
        return None
    recorded = await repo.add_event(
        session, alert_id, now, username, action, once_key=f"{alert_id}|{action}|{username}"
    )
    if not recorded or action != "delivered" or ep.state != "active":
        return None
    ep.state, ep.delivered_at, ep.updated_at = "delivered", now, now
    return ep
