"""All SQL of dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch.geo import bounding_box
from alerts.dispatch.models import Aed, Incident, IncidentEvent, IncidentView, Offer, Responder
from patient_hub.accounts.models import User
from patient_hub.findings.models import FindingRow

OPEN_STATES = ("offering", "accepted", "en_route", "on_scene", "cpr_started", "aed_attached")


async def get_responder(session: AsyncSession, user_id: str) -> Responder | None:
    return await session.get(Responder, user_id)


async def add_responder(session: AsyncSession, responder: Responder) -> None:
    session.add(responder)
    await session.flush()


async def username_of(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {uid: name for uid, name in rows}


async def candidates(
    session: AsyncSession,
    incident: Incident,
    radius_m: float,
    fresh_since: datetime,
    today: date,
    now: datetime,
) -> Sequence[tuple[str, float, float]]:
    """(user id, lat, lon) of responders who may get an offer of ``incident``: on duty, vetted,
    fresh position inside the radius's box, on no incident, no live offer anywhere, never
    offered this incident."""
    box = bounding_box(incident.latitude, incident.longitude, radius_m)
    offered_here = exists().where(
        Offer.responder_id == Responder.user_id, Offer.incident_id == incident.id
    )
    pending_elsewhere = exists().where(
        Offer.responder_id == Responder.user_id, Offer.state == "offered", Offer.expires_at > now
    )
    stmt = (
        select(Responder.user_id, Responder.latitude, Responder.longitude)
        .join(User, User.id == Responder.user_id)
        .where(
            User.active.is_(True),
            Responder.on_duty.is_(True),
            Responder.incident_id.is_(None),
            Responder.vetted_until >= today,
            Responder.position_at >= fresh_since,
            Responder.latitude.between(box.min_lat, box.max_lat),
            Responder.longitude.between(box.min_lon, box.max_lon),
            ~offered_here,
            ~pending_elsewhere,
        )
    )
    rows = await session.execute(stmt)
    # The WHERE clause excludes NULL positions.
    return [(uid, lat or 0.0, lon or 0.0) for uid, lat, lon in rows]


async def aeds_near(
    session: AsyncSession, lat: float, lon: float, radius_m: float
) -> Sequence[Aed]:
    box = bounding_box(lat, lon, radius_m)
    stmt = select(Aed).where(
        Aed.latitude.between(box.min_lat, box.max_lat),
        Aed.longitude.between(box.min_lon, box.max_lon),
    )
    return (await session.scalars(stmt)).all()


async def upsert_aed(session: AsyncSession, aed: Aed) -> None:
    await session.merge(aed)


async def get_incident(session: AsyncSession, incident_id: str) -> Incident | None:
    return await session.get(Incident, incident_id)


async def lock_incident(session: AsyncSession, incident_id: str) -> Incident | None:
    """The incident, row-locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    stmt = (
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).first()


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


async def due_incidents(
    session: AsyncSession, now: datetime, limit: int = 50
) -> Sequence[Incident]:
    """Open incidents whose phase ended, locked; another process skips them (SKIP LOCKED)."""
    stmt = (
        select(Incident)
        .where(Incident.state.in_(OPEN_STATES), Incident.next_phase_at <= now)
        .order_by(Incident.next_phase_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).all()


async def any_due(session: AsyncSession, now: datetime) -> bool:
    stmt = select(exists().where(Incident.state.in_(OPEN_STATES), Incident.next_phase_at <= now))
    return bool(await session.scalar(stmt))


async def take_place(session: AsyncSession, incident_id: str) -> int | None:
    """Count one acceptance if a place is left; the new count, or None when all K are taken.

    One conditional UPDATE: on PostgreSQL a concurrent one waits for the row lock and then
    re-checks ``accepted < max_accept`` against the committed value, so at most K succeed.
    """
    stmt = (
        update(Incident)
        .where(
            Incident.id == incident_id,
            Incident.accepted < Incident.max_accept,
            Incident.state.in_(OPEN_STATES),
        )
        .values(accepted=Incident.accepted + 1)
        .returning(Incident.accepted)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def bind_responder(session: AsyncSession, user_id: str, incident_id: str) -> bool:
    """Put the responder on the incident unless they are on one already."""
    stmt = (
        update(Responder)
        .where(Responder.user_id == user_id, Responder.incident_id.is_(None))
        .values(incident_id=incident_id)
        .returning(Responder.user_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def release_responders(session: AsyncSession, incident_id: str) -> None:
    await session.execute(
        update(Responder).where(Responder.incident_id == incident_id).values(incident_id=None)
    )


async def offer_of(session: AsyncSession, incident_id: str, user_id: str) -> Offer | None:
    stmt = (
        select(Offer)
        .where(Offer.incident_id == incident_id, Offer.responder_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).first()


async def offers_of_incident(session: AsyncSession, incident_id: str) -> Sequence[Offer]:
    stmt = select(Offer).where(Offer.incident_id == incident_id).order_by(Offer.id)
    return (await session.scalars(stmt)).all()


async def live_offers_of(session: AsyncSession, user_id: str, now: datetime) -> Sequence[Offer]:
    stmt = (
        select(Offer)
        .where(Offer.responder_id == user_id, Offer.state == "offered", Offer.expires_at > now)
        .order_by(Offer.offered_at)
    )
    return (await session.scalars(stmt)).all()


async def end_pending(
    session: AsyncSession, incident_id: str, state: str, now: datetime, *, expired_only: bool
) -> list[str]:
    """Move the incident's open offers to ``state``; the responders concerned."""
    cond = [Offer.incident_id == incident_id, Offer.state == "offered"]
    if expired_only:
        cond.append(Offer.expires_at <= now)
    stmt = (
        update(Offer)
        .where(and_(*cond))
        .values(state=state, answered_at=now)
        .returning(Offer.responder_id)
    )
    return list((await session.execute(stmt)).scalars())


async def phase_open(session: AsyncSession, incident_id: str, phase: int, now: datetime) -> bool:
    """Whether any offer of this phase still waits for an answer."""
    stmt = select(
        exists().where(
            Offer.incident_id == incident_id,
            Offer.phase == phase,
            Offer.state == "offered",
            Offer.expires_at > now,
        )
    )
    return bool(await session.scalar(stmt))


async def accepted_offers(session: AsyncSession, incident_id: str) -> Sequence[Offer]:
    stmt = (
        select(Offer)
        .where(Offer.incident_id == incident_id, Offer.state == "accepted")
        .order_by(Offer.answered_at)
    )
    return (await session.scalars(stmt)).all()


async def events_of(session: AsyncSession, incident_id: str) -> Sequence[IncidentEvent]:
    stmt = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    )
    return (await session.scalars(stmt)).all()


async def responders_by_id(session: AsyncSession, ids: Sequence[str]) -> Sequence[Responder]:
    return (await session.scalars(select(Responder).where(Responder.user_id.in_(ids)))).all()


async def open_incidents(session: AsyncSession, since: datetime) -> Sequence[Incident]:
    """Open incidents and those closed since ``since``, newest first."""
    stmt = (
        select(Incident)
        .where(or_(Incident.state.in_(OPEN_STATES), Incident.closed_at >= since))
        .order_by(Incident.created_at.desc())
        .limit(100)
    )
    return (await session.scalars(stmt)).all()


async def record_view(
    session: AsyncSession, incident_id: str, user_id: str, at: datetime, what: str
) -> None:
    session.add(IncidentView(incident_id=incident_id, user_id=user_id, at=at, what=what))
    await session.flush()


async def user_by_name(session: AsyncSession, username: str) -> User | None:
    return (await session.scalars(select(User).where(User.username == username))).first()


async def open_incident_of_patient(session: AsyncSession, patient_id: str) -> Incident | None:
    stmt = select(Incident).where(
        Incident.patient_id == patient_id, Incident.state.in_(OPEN_STATES)
    )
    return (await session.scalars(stmt.limit(1))).first()


async def finding_by_key(session: AsyncSession, key: str) -> FindingRow | None:
    return (await session.scalars(select(FindingRow).where(FindingRow.key == key))).first()
