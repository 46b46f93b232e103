"""ORM rows → API shapes (who sees what is decided in ``queries.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerts.dispatch.geo import bearing_deg, compass_point, haversine_m
from alerts.dispatch.models import Aed, Incident, IncidentEvent, Offer, Responder
from alerts.dispatch.schemas import AedOut, EventOut, IncidentOut, OfferOut, OfferRow


def offer_out(offer: Offer, inc: Incident, lat: float | None, lon: float | None) -> OfferOut:
    """An offer as the responder sees it before accepting: how far and which way, no address."""
    bearing = (
        None if lat is None or lon is None else bearing_deg(lat, lon, inc.latitude, inc.longitude)
    )
    return OfferOut(
        incident_id=inc.id,
        state=offer.state,
        summary="Suspected cardiac arrest",
        distance_m=offer.distance_m,
        bearing_deg=None if bearing is None else round(bearing),
        direction=None if bearing is None else compass_point(bearing),
        offered_at=offer.offered_at,
        expires_at=offer.expires_at,
    )


def offer_view(offer: Offer, inc: Incident, lat: float | None, lon: float | None) -> dict[str, Any]:
    return offer_out(offer, inc, lat, lon).model_dump(mode="json")


def aed_out(aed: Aed) -> AedOut:
    return AedOut(
        id=aed.id,
        latitude=aed.latitude,
        longitude=aed.longitude,
        address=aed.address,
        access_hours=aed.access_hours,
        notes=aed.notes,
    )


def incident_base(inc: Incident) -> IncidentOut:
    return IncidentOut(
        id=inc.id,
        state=inc.state,
        outcome=inc.outcome,
        latitude=inc.latitude,
        longitude=inc.longitude,
        address=inc.address,
        summary=inc.summary,
        created_at=inc.created_at,
        closed_at=inc.closed_at,
        accepted=inc.accepted,
        max_accept=inc.max_accept,
        phase=inc.phase,
    )


def for_responder(
    inc: Incident, offer: Offer, me: Responder | None, aed: Aed | None
) -> IncidentOut:
    out = incident_base(inc)
    out.task, out.status = offer.task, offer.status
    out.aed = aed_out(aed) if aed else None
    if me is not None and me.latitude is not None and me.longitude is not None:
        b = bearing_deg(me.latitude, me.longitude, inc.latitude, inc.longitude)
        out.distance_m = round(haversine_m(me.latitude, me.longitude, inc.latitude, inc.longitude))
        out.bearing_deg, out.direction = round(b), compass_point(b)
        out.me = (me.latitude, me.longitude)
    return out


def for_dispatcher(
    inc: Incident,
    offers: Sequence[Offer],
    responders: Mapping[str, Responder],
    names: Mapping[str, str],
    events: Sequence[IncidentEvent],
    aeds: Sequence[Aed],
) -> IncidentOut:
    out = incident_base(inc)
    out.patient_id, out.alert_id = inc.patient_id, inc.alert_id
    out.offers = [_offer_row(o, responders.get(o.responder_id), names) for o in offers]
    out.events = [
        EventOut(at=e.at, kind=e.kind, actor=names.get(e.actor_id or ""), detail=e.detail)
        for e in events
    ]
    out.aeds = [aed_out(a) for a in aeds]
    return out


def _offer_row(o: Offer, r: Responder | None, names: Mapping[str, str]) -> OfferRow:
    return OfferRow(
        responder_id=o.responder_id,
        username=names.get(o.responder_id, o.responder_id),
        state=o.state,
        phase=o.phase,
        distance_m=o.distance_m,
        task=o.task,
        aed_id=o.aed_id,
        status=o.status,
        latitude=r.latitude if r else None,
        longitude=r.longitude if r else None,
        position_at=r.position_at if r else None,
    )
