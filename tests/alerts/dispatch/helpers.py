"""Shared builders for dispatch tests: a migrated database, responders placed around a point."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch.models import Aed, Responder
from patient_hub.access import Principal
from patient_hub.accounts.models import Role, User

#: Ostrava, Masarykovo náměstí.
CENTRE = (49.83570, 18.29250)
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Prague
DISPATCHER = Principal("usr_disp", "disp", Role.DISPATCHER)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m`` north and ``east_m`` east of (lat, lon)."""
    dlat = north_m / 111_195.0
    dlon = east_m / (111_195.0 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def responder_principal(i: int) -> Principal:
    return Principal(f"usr_r{i:03d}", f"r{i:03d}", Role.RESPONDER)


async def add_dispatcher(session: AsyncSession) -> None:
    session.add(User(id="usr_disp", username="disp", password_hash="x", role="dispatcher"))
    await session.flush()


async def add_responder(
    session: AsyncSession,
    i: int,
    distance_m: float,
    *,
    angle_deg: float = 0.0,
    on_duty: bool = True,
    position_age_s: float = 30.0,
    vetted_until: date | None = date(2027, 12, 31),
    incident_id: str | None = None,
) -> Principal:
    """A responder ``distance_m`` from CENTRE in direction ``angle_deg`` (0 = north)."""
    who = responder_principal(i)
    lat, lon = offset(
        *CENTRE,
        distance_m * math.cos(math.radians(angle_deg)),
        distance_m * math.sin(math.radians(angle_deg)),
    )
    session.add(User(id=who.user_id, username=who.username, password_hash="x", role="responder"))
    await session.flush()
    session.add(
        Responder(
            user_id=who.user_id,
            qualification="firefighter",
            vetted_until=vetted_until,
            on_duty=on_duty,
            latitude=lat,
            longitude=lon,
            position_at=NOW - timedelta(seconds=position_age_s),
            incident_id=incident_id,
        )
    )
    await session.flush()
    return who


def aed_at(aed_id: str, north_m: float, east_m: float, hours: str = "24/7") -> Aed:
    lat, lon = offset(*CENTRE, north_m, east_m)
    return Aed(
        id=aed_id,
        latitude=lat,
        longitude=lon,
        address=f"{aed_id} street",
        access_hours=hours,
        notes=f"{aed_id} lobby",
        timezone="Europe/Prague",
    )
