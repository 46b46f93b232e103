"""Reads of incident data, by role and relation; every read of an incident is recorded.

A responder sees an incident only through their own offer (distance and direction) and, once
they accepted, the incident itself until it closes; afterwards it is a 404, as for an incident
that does not exist. Dispatchers (and admins) see every incident.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch import repository as repo
from alerts.dispatch.models import Aed, Incident
from alerts.dispatch.policy import DispatchPolicy
from alerts.dispatch.schemas import CurrentOut, IncidentOut
from alerts.dispatch.selection import aed_for_runner
from alerts.dispatch.views import for_dispatcher, for_responder, incident_base, offer_out
from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from telemed_core.errors import Forbidden, NotFound


async def incident_for(
    session: AsyncSession, policy: DispatchPolicy, who: Principal, incident_id: str, now: datetime
) -> IncidentOut:
    """The incident as ``who`` may see it; NotFound when they may not (no existence leak)."""
    inc = await repo.get_incident(session, incident_id)
    if inc is None:
        raise NotFound(f"no incident {incident_id!r}")
    if who.role is Role.RESPONDER:
        out = await _responder_view(session, policy, who, inc, now)
    elif who.role in (Role.DISPATCHER, Role.ADMIN):
        out = await dispatcher_view(session, policy, inc)
    else:
        raise NotFound(f"no incident {incident_id!r}")
    await repo.record_view(session, inc.id, who.user_id, now, "incident")
    return out


async def _responder_view(
    session: AsyncSession, policy: DispatchPolicy, who: Principal, inc: Incident, now: datetime
) -> IncidentOut:
    """The runner sees the AED to fetch; the CPR responder the AED nearest the patient that
    is open now (someone may bring it), so that a lone responder still knows where it is."""
    offer = await repo.offer_of(session, inc.id, who.user_id)
    if offer is None or offer.state != "accepted" or inc.state == "closed":
        raise NotFound(f"no incident {inc.id!r}")
    me = await repo.get_responder(session, who.user_id)
    if offer.aed_id:
        aed = await session.get(Aed, offer.aed_id)
    else:
        here = (inc.latitude, inc.longitude)
        near = await repo.aeds_near(session, *here, policy.aed_radius_m)
        aed = aed_for_runner(near, now, here, here, policy.travel)
    return for_responder(inc, offer, me, aed)


async def dispatcher_view(
    session: AsyncSession, policy: DispatchPolicy, inc: Incident
) -> IncidentOut:
    offers = await repo.offers_of_incident(session, inc.id)
    ids = [o.responder_id for o in offers]
    responders = {r.user_id: r for r in await repo.responders_by_id(session, ids)}
    events = await repo.events_of(session, inc.id)
    actors = {e.actor_id for e in events if e.actor_id}
    names = await repo.username_of(session, sorted(set(ids) | actors))
    aeds = await repo.aeds_near(session, inc.latitude, inc.longitude, policy.aed_radius_m)
    return for_dispatcher(inc, offers, responders, names, events, aeds)


async def incidents_for_dispatcher(
    session: AsyncSession, who: Principal, now: datetime
) -> list[IncidentOut]:
    """Open incidents and those closed in the last 12 h (the console's list)."""
    if who.role not in (Role.DISPATCHER, Role.ADMIN):
        raise Forbidden("dispatchers only")
    rows = await repo.open_incidents(session, now - timedelta(hours=12))
    for inc in rows:
        await repo.record_view(session, inc.id, who.user_id, now, "list")
    return [incident_base(inc) for inc in rows]


async def current_for_responder(
    session: AsyncSession, policy: DispatchPolicy, who: Principal, now: datetime
) -> CurrentOut:
    """The responder's open offers and the incident they are on (what a reconnecting page needs)."""
    if who.role is not Role.RESPONDER:
        raise Forbidden("responders only")
    me = await repo.get_responder(session, who.user_id)
    lat, lon = (me.latitude, me.longitude) if me else (None, None)
    offers = []
    for offer in await repo.live_offers_of(session, who.user_id, now):
        inc = await repo.get_incident(session, offer.incident_id)
        if inc is not None and inc.state != "closed":
            offers.append(offer_out(offer, inc, lat, lon))
            await repo.record_view(session, inc.id, who.user_id, now, "offer")
    incident = None
    if me is not None and me.incident_id is not None:
        inc = await repo.get_incident(session, me.incident_id)
        if inc is not None:
            incident = await _responder_view(session, policy, who, inc, now)
            await repo.record_view(session, inc.id, who.user_id, now, "incident")
    return CurrentOut(
        on_duty=bool(me and me.on_duty),
        position_at=me.position_at if me else None,
        offers=offers,
        incident=incident,
    )
