"""Responders: vetting, duty and last known position. Services never commit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch import repository as repo
from alerts.dispatch.models import Responder
from alerts.dispatch.notices import Notices
from alerts.dispatch.schemas import ResponderOut
from patient_hub.access import Principal
from patient_hub.accounts.models import Role, User
from telemed_core.errors import BusinessRuleViolation, Forbidden, InvalidInput, NotFound


async def _mine(session: AsyncSession, who: Principal) -> Responder:
    if who.role is not Role.RESPONDER:
        raise Forbidden("responders only")
    me = await repo.get_responder(session, who.user_id)
    if me is None:
        me = Responder(user_id=who.user_id, qualification="", on_duty=False)
        await repo.add_responder(session, me)
    return me


async def set_duty(session: AsyncSession, who: Principal, on_duty: bool, today: date) -> Responder:
    """Go on or off duty; on duty needs a vetting valid today."""
    me = await _mine(session, who)
    if on_duty and (me.vetted_until is None or me.vetted_until < today):
        when = f"expired on {me.vetted_until.isoformat()}" if me.vetted_until else "is missing"
        raise BusinessRuleViolation(f"your vetting {when}: ask the programme to renew it")
    me.on_duty = on_duty
    await repo.add(session, me)
    return me


async def set_position(
    session: AsyncSession, who: Principal, latitude: float, longitude: float, now: datetime
) -> tuple[Responder, Notices]:
    """Store the phone's position; a responder on an incident is shown moving to dispatchers."""
    me = await _mine(session, who)
    me.latitude, me.longitude, me.position_at = latitude, longitude, now
    await repo.add(session, me)
    notices = Notices()
    if me.incident_id is not None:
        notices.add(
            {"type": "position", "incident_id": me.incident_id, "responder_id": who.user_id,
             "latitude": latitude, "longitude": longitude, "at": now.isoformat()},
            dispatchers=True,
        )  # fmt: skip
    return me, notices


async def register(
    session: AsyncSession, username: str, qualification: str, vetted_until: date
) -> Responder:
    """Record (or renew) the vetting of the responder account ``username``."""
    user = await repo.user_by_name(session, username)
    if user is None:
        raise NotFound(f"no account {username!r}")
    if user.role != Role.RESPONDER.value:
        raise InvalidInput(f"{username!r} is a {user.role}, not a responder")
    me = await repo.get_responder(session, user.id)
    if me is None:
        me = Responder(user_id=user.id, on_duty=False)
    me.qualification, me.vetted_until = qualification, vetted_until
    await repo.add(session, me)
    return me


def responder_out(me: Responder, user: User | None = None, username: str = "") -> ResponderOut:
    return ResponderOut(
        user_id=me.user_id,
        username=user.username if user else username,
        qualification=me.qualification,
        vetted_until=me.vetted_until,
        on_duty=me.on_duty,
        latitude=me.latitude,
        longitude=me.longitude,
        position_at=me.position_at,
        incident_id=me.incident_id,
    )
