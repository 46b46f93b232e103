"""Who gets an offer and which AED a runner fetches: pure ranking, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.dispatch.geo import TravelTime, haversine_m
from alerts.dispatch.hours import parse_hours
from alerts.dispatch.models import Aed


@dataclass(frozen=True, slots=True)
class Candidate:
    user_id: str
    distance_m: float
    travel_s: float


def nearest_responders(
    lat: float,
    lon: float,
    rows: Iterable[tuple[str, float, float]],
    radius_m: float,
    count: int,
    travel: TravelTime,
) -> list[Candidate]:
    """The ``count`` quickest to reach (lat, lon) among ``rows`` (user id, lat, lon) within
    ``radius_m`` of it (straight line), quickest first; ties by distance, then id."""
    inside = []
    for user_id, r_lat, r_lon in rows:
        d = haversine_m(r_lat, r_lon, lat, lon)
        if d <= radius_m:
            inside.append(Candidate(user_id, d, travel.seconds(r_lat, r_lon, lat, lon)))
    inside.sort(key=lambda c: (c.travel_s, c.distance_m, c.user_id))
    return inside[:count]


def aed_is_open(aed: Aed, at: datetime) -> bool:
    """Whether ``aed`` can be reached at ``at`` (UTC-aware), by its access hours in its zone."""
    return parse_hours(aed.access_hours).is_open(at.astimezone(ZoneInfo(aed.timezone)))


def aed_for_runner(
    aeds: Sequence[Aed],
    at: datetime,
    runner: tuple[float, float],
    incident: tuple[float, float],
    travel: TravelTime,
) -> Aed | None:
    """The AED open at ``at`` that gets the runner to the patient soonest: the least travel
    runner → AED → patient (for a runner standing at the patient's door, simply the AED
    nearest the patient)."""
    best: tuple[float, str, Aed] | None = None
    for aed in aeds:
        if not aed_is_open(aed, at):
            continue
        route_s = travel.seconds(*runner, aed.latitude, aed.longitude) + travel.seconds(
            aed.latitude, aed.longitude, *incident
        )
        if best is None or (route_s, aed.id) < best[:2]:
            best = (route_s, aed.id, aed)
    return best[2] if best else None
