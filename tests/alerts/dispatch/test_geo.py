"""Distances and bearings on the sphere."""

from __future__ import annotations

import math

import pytest

from alerts.dispatch.geo import bearing_deg, bounding_box, compass_point, haversine_m


def test_haversine_measures_arcs_of_the_mean_sphere() -> None:
    r = 6_371_008.8
    assert haversine_m(49.0, 18.0, 50.0, 18.0) == pytest.approx(math.pi * r / 180, rel=1e-9)
    assert haversine_m(0.0, 18.0, 90.0, 0.0) == pytest.approx(math.pi * r / 2, rel=1e-9)
    # along a parallel, a degree of longitude shrinks with cos(latitude) (to 0.1 % for 1°)
    assert haversine_m(49.8, 18.0, 49.8, 19.0) == pytest.approx(
        math.pi * r / 180 * math.cos(math.radians(49.8)), rel=1e-3
    )


def test_bearing_points_the_right_way() -> None:
    assert bearing_deg(49.0, 18.0, 49.01, 18.0) == pytest.approx(0.0, abs=0.01)
    assert bearing_deg(49.0, 18.0, 49.0, 18.01) == pytest.approx(90.0, abs=0.01)
    assert compass_point(bearing_deg(49.0, 18.0, 48.99, 17.99)) == "SW"


def test_the_bounding_box_contains_the_circle() -> None:
    box = bounding_box(49.8, 18.3, 1000.0)
    assert haversine_m(49.8, 18.3, box.max_lat, 18.3) == pytest.approx(1000.0, rel=1e-6)
    assert haversine_m(49.8, 18.3, 49.8, box.max_lon) >= 999.0
