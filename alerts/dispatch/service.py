"""Incident lifecycle and phased offers. Services never commit; they collect notices that the
boundary publishes after the commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch import repository as repo
from alerts.dispatch.aed_import import AedRecord
from alerts.dispatch.geo import valid_position
from alerts.dispatch.models import Aed, Incident, IncidentEvent, Offer
from alerts.dispatch.notices import Notices
from alerts.dispatch.policy import DispatchPolicy
from alerts.dispatch.selection import aed_for_runner, nearest_responders
from alerts.dispatch.views import offer_view
from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from telemed_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from telemed_core.ids import new_id

#: Incident states in the order an incident walks them (the incident shows the furthest).
PROGRESS = ("offering", "accepted", "en_route", "on_scene", "cpr_started", "aed_attached")
RESPONDER_STATUSES = ("en_route", "on_scene", "cpr_started", "aed_attached")
OUTCOMES = ("handed_over", "stood_down", "cancelled")


def event(
    inc: Incident, at: datetime, actor: str | None, kind: str, detail: str = ""
) -> IncidentEvent:
    return IncidentEvent(incident_id=inc.id, at=at, actor_id=actor, kind=kind, detail=detail)


async def create_incident(
    session: AsyncSession,
    policy: DispatchPolicy,
    who: Principal,
    *,
    latitude: float,
    longitude: float,
    address: str,
    summary: str,
    now: datetime,
    patient_id: str | None = None,
    alert_id: str | None = None,
) -> tuple[Incident, Notices]:
    """Open an incident at a place and send the first phase of offers."""
    if not valid_position(latitude, longitude):
        raise InvalidInput("latitude must be within ±90 and longitude within ±180 degrees")
    if not address.strip():
        raise InvalidInput("the address is required: it is where the responders go")
    inc = Incident(
        id=new_id("inc"),
        state="offering",
        latitude=latitude,
        longitude=longitude,
        address=address.strip()[:300],
        summary=summary.strip()[:300],
        patient_id=patient_id,
        alert_id=alert_id,
        created_by=who.user_id,
        created_at=now,
        phase=0,
        accepted=0,
        max_accept=policy.max_accept,
    )
    await repo.add(session, inc)
    source = f"from alert {alert_id}" if alert_id else f"by {who.role.value}"
    await repo.add(session, event(inc, now, who.user_id, "created", f"{address} ({source})"))
    notices = Notices()
    notices.event(inc.id, "created", address)
    await run_phase(session, policy, inc, 0, now, notices)
    return inc, notices


async def run_phase(
    session: AsyncSession,
    policy: DispatchPolicy,
    inc: Incident,
    phase: int,
    now: datetime,
    notices: Notices,
) -> None:
    """Offer the incident to the next nearest responders; widen at once while nobody is found."""
    while phase < policy.max_phases:
        inc.phase = phase
        if await _offer_nearest(session, policy, inc, policy.count_of(phase), now, notices):
            return
        phase += 1
    inc.next_phase_at = None
    detail = f"no available responder within {policy.radius_of(policy.max_phases - 1):.0f} m"
    await repo.add(session, event(inc, now, None, "exhausted", detail))
    notices.event(inc.id, "exhausted", detail)


async def _offer_nearest(
    session: AsyncSession,
    policy: DispatchPolicy,
    inc: Incident,
    count: int,
    now: datetime,
    notices: Notices,
) -> int:
    """Offer to up to ``count`` nearest candidates within the current phase's radius; each
    offer lives ``phase_s`` and the phase lasts until the last of them expires."""
    radius = policy.radius_of(inc.phase)
    fresh_since = now - timedelta(seconds=policy.position_max_age_s)
    rows = await repo.candidates(session, inc, radius, fresh_since, now.date(), now)
    chosen = nearest_responders(inc.latitude, inc.longitude, rows, radius, count, policy.travel)
    if not chosen:
        return 0
    expires = now + timedelta(seconds=policy.phase_s)
    inc.next_phase_at = max(expires, inc.next_phase_at or expires)
    offers = [
        Offer(incident_id=inc.id, responder_id=c.user_id, state="offered", phase=inc.phase,
              distance_m=round(c.distance_m, 1), offered_at=now, expires_at=expires)
        for c in chosen
    ]  # fmt: skip
    await repo.add(session, *offers)
    detail = f"phase {inc.phase + 1}: {len(chosen)} within {radius:.0f} m"
    await repo.add(session, event(inc, now, None, "offered", detail))
    notices.event(inc.id, "offered", detail)
    where = {uid: (lat, lon) for uid, lat, lon in rows}
    for offer in offers:
        lat, lon = where[offer.responder_id]
        frame = {"type": "offer", "offer": offer_view(offer, inc, lat, lon)}
        notices.add(frame, (offer.responder_id,))
    return len(chosen)


async def advance_due(session: AsyncSession, policy: DispatchPolicy, now: datetime) -> Notices:
    """End the phases that are due: expire their open offers and, while places are left,
    offer to the next ring of responders."""
    notices = Notices()
    for inc in await repo.due_incidents(session, now):
        expired = await repo.end_pending(session, inc.id, "expired", now, expired_only=True)
        for user_id in expired:
            notices.add(
                {"type": "offer_closed", "incident_id": inc.id, "reason": "expired"}, (user_id,)
            )
        if expired:
            await repo.add(
                session, event(inc, now, None, "expired", f"{len(expired)} offers unanswered")
            )
            notices.event(inc.id, "expired", f"{len(expired)} offers unanswered")
        await _next_phase_or_stop(session, policy, inc, now, notices)
    return notices


async def _next_phase_or_stop(
    session: AsyncSession, policy: DispatchPolicy, inc: Incident, now: datetime, notices: Notices
) -> None:
    if inc.accepted < inc.max_accept and inc.phase + 1 < policy.max_phases:
        await run_phase(session, policy, inc, inc.phase + 1, now, notices)
    else:
        inc.next_phase_at = None


async def _open_incident(session: AsyncSession, incident_id: str) -> Incident:
    inc = await repo.lock_incident(session, incident_id)
    if inc is None:
        raise NotFound(f"no incident {incident_id!r}")
    return inc


async def _my_offer(session: AsyncSession, who: Principal, inc: Incident, now: datetime) -> Offer:
    if who.role is not Role.RESPONDER:
        raise Forbidden("only responders answer offers")
    offer = await repo.offer_of(session, inc.id, who.user_id)
    if offer is None:
        raise NotFound(f"no incident {inc.id!r}")  # no offer: the incident does not exist for them
    if inc.state == "closed":
        raise Conflict("the incident is closed; you have been stood down")
    if offer.state != "offered" or offer.expires_at <= now:
        raise Conflict(f"this offer is no longer open ({_why(offer, now)})")
    return offer


def _why(offer: Offer, now: datetime) -> str:
    if offer.state == "offered":
        return "it expired"
    return {"filled": "all places are taken"}.get(offer.state, offer.state)


async def accept(
    session: AsyncSession, policy: DispatchPolicy, who: Principal, incident_id: str, now: datetime
) -> tuple[Offer, Notices]:
    """Take one of the K places: the first goes to the patient, the next fetches an AED."""
    inc = await _open_incident(session, incident_id)
    offer = await _my_offer(session, who, inc, now)
    place = await repo.take_place(session, inc.id)
    if place is None:
        raise Conflict(f"all {inc.max_accept} places are taken; thank you, you are not needed")
    if not await repo.bind_responder(session, who.user_id, inc.id):
        raise Conflict("you are already on another incident")
    inc.accepted = place
    offer.state, offer.answered_at, offer.task = "accepted", now, "cpr"
    if place > 1:
        await _send_for_aed(session, policy, inc, offer, who.user_id, now)
    if inc.state == "offering":
        inc.state = "accepted"
    notices = Notices()
    detail = f"{who.username}: " + ("CPR" if offer.task == "cpr" else f"fetch AED {offer.aed_id}")
    await repo.add(session, event(inc, now, who.user_id, "accepted", detail))
    notices.event(inc.id, "accepted", detail)
    notices.add({"type": "incident", "incident_id": inc.id, "kind": "accepted"}, (who.user_id,))
    if place >= inc.max_accept:
        inc.next_phase_at = None
        for user_id in await repo.end_pending(session, inc.id, "filled", now, expired_only=False):
            notices.add(
                {"type": "offer_closed", "incident_id": inc.id, "reason": "filled"}, (user_id,)
            )
    return offer, notices


async def _send_for_aed(
    session: AsyncSession,
    policy: DispatchPolicy,
    inc: Incident,
    offer: Offer,
    user_id: str,
    now: datetime,
) -> None:
    me = await repo.get_responder(session, user_id)
    start = (
        (me.latitude, me.longitude)
        if me and me.latitude is not None and me.longitude is not None
        else (inc.latitude, inc.longitude)
    )
    aeds = await repo.aeds_near(session, inc.latitude, inc.longitude, policy.aed_radius_m)
    aed = aed_for_runner(aeds, now, start, (inc.latitude, inc.longitude), policy.travel)
    if aed is not None:
        offer.task, offer.aed_id = "aed", aed.id


async def decline(
    session: AsyncSession, policy: DispatchPolicy, who: Principal, incident_id: str, now: datetime
) -> Notices:
    """Decline at once; when the phase has nobody left to answer, the next ring is offered."""
    inc = await _open_incident(session, incident_id)
    offer = await _my_offer(session, who, inc, now)
    offer.state, offer.answered_at = "declined", now
    notices = Notices()
    await repo.add(session, event(inc, now, who.user_id, "declined", who.username))
    notices.event(inc.id, "declined", who.username)
    await session.flush()
    if inc.accepted >= inc.max_accept:
        return notices
    # A decline passes the offer to the next nearest in the same ring; when the ring is
    # empty and nobody else in it is still deciding, the next ring is offered at once.
    if not await _offer_nearest(session, policy, inc, 1, now, notices) and not (
        await repo.phase_open(session, inc.id, inc.phase, now)
    ):
        await _next_phase_or_stop(session, policy, inc, now, notices)
    return notices


async def set_status(
    session: AsyncSession, who: Principal, incident_id: str, status: str, now: datetime
) -> Notices:
    """A responder reports progress (en route, on scene, CPR started, AED attached)."""
    if status not in RESPONDER_STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {list(RESPONDER_STATUSES)}")
    inc = await _open_incident(session, incident_id)
    offer = await repo.offer_of(session, inc.id, who.user_id)
    if offer is None or offer.state != "accepted" or inc.state == "closed":
        raise NotFound(f"no incident {incident_id!r}")
    offer.status = status
    if PROGRESS.index(status) > PROGRESS.index(inc.state):
        inc.state = status
    notices = Notices()
    detail = who.username
    await repo.add(session, event(inc, now, who.user_id, status, detail))
    notices.event(inc.id, status, detail)
    return notices


async def close(
    session: AsyncSession, who: Principal, incident_id: str, outcome: str, now: datetime
) -> Notices:
    """End the incident (handed over to the ambulance, stood down or cancelled); every
    responder is stood down and loses access to it."""
    if outcome not in OUTCOMES:
        raise InvalidInput(f"unknown outcome {outcome!r}; one of {list(OUTCOMES)}")
    inc = await _open_incident(session, incident_id)
    if inc.state == "closed":
        raise Conflict(f"incident {incident_id!r} is already closed ({inc.outcome})")
    pending = await repo.end_pending(session, inc.id, "withdrawn", now, expired_only=False)
    accepted = [o.responder_id for o in await repo.accepted_offers(session, inc.id)]
    await repo.release_responders(session, inc.id)
    inc.state, inc.outcome, inc.closed_at, inc.next_phase_at = "closed", outcome, now, None
    notices = Notices()
    detail = f"{outcome.replace('_', ' ')} by {who.username}"
    await repo.add(session, event(inc, now, who.user_id, "closed", detail))
    notices.event(inc.id, "closed", detail)
    notices.add(
        {"type": "closed", "incident_id": inc.id, "outcome": outcome}, tuple(pending + accepted)
    )
    return notices


def require_dispatcher(who: Principal) -> None:
    if who.role not in (Role.DISPATCHER, Role.ADMIN):
        raise Forbidden("dispatchers only")


async def import_aeds(session: AsyncSession, records: list[AedRecord], timezone: str) -> int:
    """Insert or update the AEDs by id (the registry file is the truth for what it lists)."""
    for r in records:
        await repo.upsert_aed(
            session,
            Aed(id=r.id, latitude=r.latitude, longitude=r.longitude, address=r.address,
                access_hours=r.access_hours, notes=r.notes, timezone=timezone),
        )  # fmt: skip
    await session.flush()
    return len(records)
