"""Firing durable timers: delayed delivery, escalation, pause expiry (never commits).

A timer is claimed and its effect written in one transaction, so a crash before the commit
leaves it due (fired again later, once) and a commit means it fired. Two processes never take
the same timer (``claim_due``). Handlers of other timer kinds (adherence checks) register in
``HANDLERS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.engine.conditions import Trigger
from alerts.episodes import repository as repo
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEpisode
from alerts.escalation import repository as timers
from alerts.escalation.models import AlertTimer
from alerts.policy.rules import Category, Priority
from telemed_core.explanations import why as explain_why

Handler = Callable[[AsyncSession, AlertTimer, datetime], Awaitable[list[AlertEpisode]]]
HANDLERS: dict[str, Handler] = {}


async def run_due(
    session: AsyncSession, now: datetime, worker: str, limit: int = 100
) -> list[AlertEpisode]:
    """Fire the timers due at ``now``; return the episodes that changed."""
    changed: list[AlertEpisode] = []
    for timer in await timers.claim_due(session, now, limit):
        timer.done_at, timer.done_by = now, worker
        handler = HANDLERS.get(timer.kind)
        if handler is not None:
            changed += await handler(session, timer, now)
    return changed


async def _open_episode(session: AsyncSession, timer: AlertTimer) -> AlertEpisode | None:
    ep = await repo.get(session, int(timer.payload["alert_id"]), lock=True)
    return ep if ep is not None and ep.open_key is not None else None


async def _deliver(session: AsyncSession, timer: AlertTimer, now: datetime) -> list[AlertEpisode]:
    """The hold of a pending episode is over and nothing absorbed it: page."""
    ep = await _open_episode(session, timer)
    if ep is None or ep.state != "pending":
        return []
    ep.state, ep.updated_at = "active", now
    await repo.add_event(session, ep.id, now, episodes.SYSTEM, "activated", {})
    await episodes.schedule_escalation(session, ep, now)
    return [ep]


async def _escalate(session: AsyncSession, timer: AlertTimer, now: datetime) -> list[AlertEpisode]:
    """No one accepted within the tier's timeout: page the next tier."""
    ep = await _open_episode(session, timer)
    if ep is None or ep.state not in ("active", "delivered") or ep.tier != timer.payload["tier"]:
        return []
    if ep.paused_until is not None and ep.paused_until > now:
        return []  # the pause's expiry re-arms the escalation
    chain = episodes.chain_for_episode(ep)
    if ep.tier + 1 >= len(chain.roles):
        await repo.add_event(session, ep.id, now, episodes.SYSTEM, "unanswered", {"tier": ep.tier})
        return await _undelivered(session, ep, now)
    ep.tier, ep.updated_at = ep.tier + 1, now
    detail = {"to_tier": ep.tier, "to_roles": list(chain.targets(ep.tier))}
    await repo.add_event(session, ep.id, now, episodes.SYSTEM, "escalated", detail)
    await episodes.schedule_escalation(session, ep, now)
    return [ep]


async def _undelivered(
    session: AsyncSession, ep: AlertEpisode, now: datetime
) -> list[AlertEpisode]:
    """A high alert no screen ever showed, after the whole chain: a technical alarm."""
    if ep.priority != Priority.HIGH.value or ep.delivered_at is not None:
        return []
    trigger = Trigger(
        patient_id=ep.patient_id,
        rule="undelivered_alert",
        title="High alert not delivered",
        action="raise",
        at=now,
        priority=Priority.HIGH,
        category=Category.TECHNICAL,
        evidence_key=f"undelivered|{ep.id}",
        source_kind="alert",
        values={"alert_id": ep.id},
        detail=explain_why("undelivered", alert_id=ep.id, title_text=ep.title),
    )
    return await episodes.apply(session, trigger, now)


async def _pause_expiry(
    session: AsyncSession, timer: AlertTimer, now: datetime
) -> list[AlertEpisode]:
    ep = await _open_episode(session, timer)
    if ep is None or ep.paused_until is None or ep.paused_until > now:
        return []
    ep.paused_until, ep.updated_at = None, now
    await repo.add_event(session, ep.id, now, episodes.SYSTEM, "pause_expired", {})
    if ep.state in ("active", "delivered"):  # the tier gets its full timeout again
        key = f"escalate|{ep.id}|{ep.tier}|after-pause-{now.isoformat()}"
        due = now + timedelta(seconds=episodes.chain_for_episode(ep).timeout(ep.tier))
        await timers.schedule(session, key, "escalate", due, {"alert_id": ep.id, "tier": ep.tier})
    return [ep]


HANDLERS.update({"deliver": _deliver, "escalate": _escalate, "pause_expiry": _pause_expiry})
