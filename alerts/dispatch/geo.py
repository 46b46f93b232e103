"""Distances and directions on the WGS 84 sphere, and the travel-time port.

Pure functions, no I/O. Haversine on a sphere of the mean Earth radius is within 0.5 % of the
ellipsoidal distance, far below the uncertainty of a phone's position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north, in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def compass_point(bearing: float) -> str:
    """The nearest of the eight compass points (N, NE, ... NW) for a bearing in degrees."""
    return _COMPASS[round(bearing / 45.0) % 8]


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Degrees; a square around a point that contains every point within a radius."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


def bounding_box(lat: float, lon: float, radius_m: float) -> BoundingBox:
    """The box that contains the circle of ``radius_m`` around (lat, lon); an index pre-filter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_m / (EARTH_RADIUS_M * coslat)))
    return BoundingBox(lat - dlat, lat + dlat, lon - dlon, lon + dlon)


def valid_position(lat: float, lon: float) -> bool:
    """True for finite WGS 84 degrees (latitude within ±90, longitude within ±180)."""
    return (
        math.isfinite(lat)
        and math.isfinite(lon)
        and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
    )


class TravelTime(Protocol):
    """How long a responder needs to reach a place; selection ranks candidates by it.

    Today straight-line distance at a fixed speed; a routed estimate (walk, bike, car against
    the ambulance's ETA) can replace it without touching the dispatch logic.
    """

    def seconds(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float: ...


@dataclass(frozen=True, slots=True)
class StraightLine:
    """Travel time along the great circle at ``speed_m_s`` (1.4 m/s: a brisk walk)."""

    speed_m_s: float = 1.4

    def seconds(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        return haversine_m(lat1, lon1, lat2, lon2) / self.speed_m_s
