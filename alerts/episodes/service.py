"""Episodes from triggers: open, add evidence, fold into a cardiac arrest, clear (never commits).

Idempotent: evidence is recorded by key, so reprocessing the same finding or reading changes
nothing and pages nobody again; the unique ``open_key`` makes one open episode per
(patient, rule) even when two consumers race.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.engine.conditions import Trigger
from alerts.episodes import repository as repo
from alerts.episodes.models import AlertEpisode
from alerts.episodes.views import AlertInfo, alert_info
from alerts.escalation import repository as timers
from alerts.policy.rules import (
    ARREST_FOLD_S,
    CARDIAC_ARREST,
    CHAINS,
    FINDING_RULES,
    Chain,
    Priority,
    chain_for,
)
from telemed_core.errors import NotFound

SYSTEM = "system"
MAX_CONTRIBUTING = 50
_RANK = {Priority.HIGH.value: 3, Priority.MEDIUM.value: 2, Priority.LOW.value: 1}


async def get_alert(session: AsyncSession, alert_id: int) -> AlertInfo:
    """Kind, priority, patient and state of an alert (the hook for other packages).

    Raises NotFound for an unknown id. Access control is the caller's: check the patient.
    """
    ep = await repo.get(session, alert_id)
    if ep is None:
        raise NotFound(f"no alert {alert_id}")
    return alert_info(ep)


async def apply(session: AsyncSession, trigger: Trigger, now: datetime) -> list[AlertEpisode]:
    """Apply one trigger; return the episodes whose visible state changed."""
    if trigger.action == "clear":
        return await _clear(session, trigger, now)
    if trigger.absorbed_by_arrest:
        arrest = await repo.get_open(session, trigger.patient_id, CARDIAC_ARREST)
        if arrest is not None and _near(arrest, trigger.at):
            return [arrest] if _add_evidence(arrest, trigger, now) else []
    ep = await repo.get_open(session, trigger.patient_id, trigger.rule)
    if ep is not None:
        return [ep] if _add_evidence(ep, trigger, now) else []
    if not trigger.opens_episode:  # another path owns the opening (e.g. desaturation)
        return []
    last = await repo.latest_closed(session, trigger.patient_id, trigger.rule)
    if last is not None and trigger.evidence_key in last.evidence:
        return []  # an update of evidence of a closed episode (a finding's end) reopens nothing
    ep = await _open(session, trigger, now)
    if ep is None:  # opened meanwhile by another writer: add to it
        ep = await repo.get_open(session, trigger.patient_id, trigger.rule)
        return [ep] if ep is not None and _add_evidence(ep, trigger, now) else []
    changed = [ep]
    if trigger.rule == CARDIAC_ARREST:
        changed += await _fold_into_arrest(session, ep, now)
    return changed


def _near(arrest: AlertEpisode, at: datetime) -> bool:
    return at >= arrest.opened_at - timedelta(seconds=ARREST_FOLD_S)


async def _open(session: AsyncSession, t: Trigger, now: datetime) -> AlertEpisode | None:
    chain = chain_for(t.category, t.priority)
    state = "pending" if t.hold_s > 0 else "active"
    explanation = {
        **t.detail,
        "title": t.title,
        "values": t.values,
        "first_evidence_at": t.at.isoformat(),
        "latching": t.latching or t.priority is Priority.HIGH,
        "contributing": [_contribution(t)],
        "suppressed_duplicates": 0,
    }
    ep = await repo.insert_open(
        session,
        {
            "open_key": repo.open_key(t.patient_id, t.rule),
            "patient_id": t.patient_id,
            "rule": t.rule,
            "kind": t.rule,
            "category": t.category.value,
            "priority": t.priority.value,
            "state": state,
            "condition": "present",
            "title": t.title,
            "chain": chain.name,
            "tier": 0,
            "opened_at": now,
            "updated_at": now,
            "evidence": [t.evidence_key],
            "explanation": explanation,
        },
    )
    if ep is None:
        return None
    await repo.add_event(session, ep.id, now, SYSTEM, "raised", {"evidence": t.evidence_key})
    if state == "pending":
        due = now + timedelta(seconds=t.hold_s)
        await timers.schedule(session, f"deliver|{ep.id}|0", "deliver", due, {"alert_id": ep.id})
    else:
        await schedule_escalation(session, ep, now)
    return ep


async def schedule_escalation(session: AsyncSession, ep: AlertEpisode, now: datetime) -> None:
    """The acknowledgement timer of the episode's current tier."""
    due = now + timedelta(seconds=chain_for_episode(ep).timeout(ep.tier))
    key = f"escalate|{ep.id}|{ep.tier}"
    await timers.schedule(session, key, "escalate", due, {"alert_id": ep.id, "tier": ep.tier})


def chain_for_episode(ep: AlertEpisode) -> Chain:
    return CHAINS[ep.chain]


def _contribution(t: Trigger) -> dict[str, Any]:
    return {
        "kind": t.source_kind,
        "at": t.at.isoformat(),
        "why": t.detail.get("why", ""),
        "values": t.values,
    }


def _add_evidence(ep: AlertEpisode, t: Trigger, now: datetime) -> bool:
    """Add a trigger's evidence to an open episode; False when it was already there."""
    if t.evidence_key in ep.evidence:
        return False
    ep.evidence = [*ep.evidence, t.evidence_key][-500:]
    expl = dict(ep.explanation)
    expl["suppressed_duplicates"] = int(expl.get("suppressed_duplicates", 0)) + 1
    contributing = list(expl.get("contributing", []))
    if len(contributing) < MAX_CONTRIBUTING:
        contributing.append(_contribution(t))
    expl["contributing"] = contributing
    changed = False
    if _RANK[t.priority.value] > _RANK[ep.priority]:  # a rapid limit or a worse finding
        ep.priority = t.priority.value
        ep.chain = chain_for(t.category, t.priority).name
        expl["latching"] = expl.get("latching") or t.priority is Priority.HIGH
        changed = True
    if ep.condition != "present":
        ep.condition, changed = "present", True
    ep.explanation = expl
    ep.updated_at = now
    return changed or t.rule == CARDIAC_ARREST


async def _fold_into_arrest(
    session: AsyncSession, arrest: AlertEpisode, now: datetime
) -> list[AlertEpisode]:
    """Rhythm episodes opened around the arrest become its contributing findings."""
    since = arrest.opened_at - timedelta(seconds=ARREST_FOLD_S)
    folded: list[AlertEpisode] = []
    for ep in await repo.open_of_patient(session, arrest.patient_id, since):
        if ep.id == arrest.id or ep.category != "clinical" or ep.rule in ("desaturation",):
            continue
        rule = next((r for r in FINDING_RULES.values() if r.name == ep.rule), None)
        if rule is None or not rule.absorbed_by_arrest:
            continue
        expl = dict(arrest.explanation)
        expl["contributing"] = [
            *expl.get("contributing", []),
            *ep.explanation.get("contributing", []),
        ]
        expl["suppressed_duplicates"] = int(expl.get("suppressed_duplicates", 0)) + 1
        expl.setdefault("merged_episodes", []).append(ep.id)
        arrest.explanation = expl
        arrest.evidence = [*arrest.evidence, *ep.evidence][-500:]
        ep.state, ep.open_key, ep.merged_into = "merged", None, arrest.id
        ep.outcome, ep.resolved_at, ep.resolved_by, ep.updated_at = "merged", now, SYSTEM, now
        await repo.add_event(session, ep.id, now, SYSTEM, "merged", {"into": arrest.id})
        await timers.cancel_for_alert(session, ep.id, now, SYSTEM)
        folded.append(ep)
    return folded


async def _clear(session: AsyncSession, t: Trigger, now: datetime) -> list[AlertEpisode]:
    """The condition ended: a latched episode stays open for a person; others resolve."""
    ep = await repo.get_open(session, t.patient_id, t.rule)
    if ep is None or ep.condition == "cleared":
        return []
    ep.condition, ep.updated_at = "cleared", now
    await repo.add_event(session, ep.id, now, SYSTEM, "condition_cleared", {"why": t.detail["why"]})
    if not ep.explanation.get("latching") and ep.state in ("pending", "active", "delivered"):
        await close(session, ep, now, SYSTEM, "condition_cleared")
    return [ep]


async def close(
    session: AsyncSession, ep: AlertEpisode, now: datetime, actor: str, outcome: str, note: str = ""
) -> None:
    """Resolve an episode: record who and the outcome; stop its timers."""
    ep.state, ep.open_key, ep.outcome = "resolved", None, outcome
    ep.resolved_at, ep.resolved_by, ep.updated_at = now, actor, now
    detail: dict[str, Any] = {"outcome": outcome}
    if note:
        detail["note"] = note
    await repo.add_event(session, ep.id, now, actor, "resolved", detail)
    await timers.cancel_for_alert(session, ep.id, now, actor)
