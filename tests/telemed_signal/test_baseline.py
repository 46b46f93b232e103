"""Per-patient robust baseline: readiness, median/MAD z-scores, window, checkpoints."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed_signal.baseline import RobustBaseline
from telemed_signal.findings import Severity

T0 = datetime(2025, 2, 1, 7, 0, tzinfo=UTC)
WEEK = [80.0, 80.2, 79.8, 80.1, 79.9, 80.0, 80.3]  # median 80.0, MAD 0.1


def weight_baseline(**kwargs: Any) -> RobustBaseline:
    return RobustBaseline("p1", "body_weight", value_key="weight_kg", min_scale=0.1, **kwargs)


def fed(
    values: list[float], baseline: RobustBaseline | None = None, step_h: float = 24
) -> RobustBaseline:
    baseline = baseline or weight_baseline()
    for i, v in enumerate(values):
        baseline.update(v, T0 + timedelta(hours=i * step_h))
    return baseline


def test_not_ready_until_min_values() -> None:
    baseline = fed(WEEK[:6])
    assert not baseline.ready
    assert baseline.deviation(85.0) is None
    assert baseline.snapshot() is None
    baseline.update(WEEK[6], T0 + timedelta(days=6))
    assert baseline.ready


def test_not_ready_until_the_values_span_min_span_days() -> None:
    baseline = fed(WEEK * 2, step_h=1)  # 14 values within 14 hours
    assert not baseline.ready
    baseline.update(80.0, T0 + timedelta(days=3))
    assert baseline.ready


def test_deviation_is_the_robust_z_score() -> None:
    baseline = fed(WEEK)
    snap = baseline.snapshot()
    assert snap is not None
    assert (snap.median, snap.n) == (80.0, 7)
    assert snap.mad == pytest.approx(0.1)
    assert baseline.deviation(81.0) == pytest.approx(1.0 / (1.4826 * 0.1))
    assert baseline.deviation(79.0) == pytest.approx(-1.0 / (1.4826 * 0.1))
    assert baseline.deviation(80.0) == 0.0


def test_min_scale_floors_a_zero_mad() -> None:
    baseline = fed([80.0] * 7)
    assert baseline.deviation(80.5) == pytest.approx(5.0)


def test_one_outlier_in_the_history_does_not_move_the_baseline() -> None:
    baseline = fed([80.0, 80.2, 79.8, 95.0, 79.9, 80.0, 80.3])
    snap = baseline.snapshot()
    assert snap is not None and snap.median == 80.0
    assert baseline.deviation(81.0) == pytest.approx(1.0 / (1.4826 * 0.2))


def test_old_values_leave_the_window_so_a_new_level_becomes_normal() -> None:
    baseline = fed([80.0] * 20 + [85.0] * 15)
    snap = baseline.snapshot()
    assert snap is not None
    assert snap.median == 85.0
    assert snap.n == 15  # 14-day window, both ends inclusive
    assert snap.since == T0 + timedelta(days=20)


def test_late_values_are_placed_in_time_order() -> None:
    baseline = fed(WEEK)
    baseline.update(90.0, T0 - timedelta(days=1))
    snap = baseline.snapshot()
    assert snap is not None
    assert snap.since == T0 - timedelta(days=1)
    assert snap.until == T0 + timedelta(days=6)
    assert snap.n == 8


def test_max_values_keeps_the_newest() -> None:
    baseline = fed([70.0] * 5 + [80.0] * 10, weight_baseline(max_values=10), step_h=12)
    snap = baseline.snapshot()
    assert snap is not None and (snap.n, snap.median) == (10, 80.0)


def test_checkpoint_round_trips_through_json() -> None:
    baseline = fed(WEEK + [80.4, 79.7])
    state = json.loads(json.dumps(baseline.to_state()))
    restored = RobustBaseline.from_state(state)
    assert restored.to_state() == baseline.to_state()
    assert restored.deviation(82.0) == baseline.deviation(82.0)
    assert len(json.dumps(state)) < 2000  # a small dict


def test_checkpoint_of_an_unknown_version_is_refused() -> None:
    state = fed(WEEK).to_state()
    state["v"] = 99
    with pytest.raises(ValueError, match="version"):
        RobustBaseline.from_state(state)


def test_finding_says_far_from_normal_with_the_baseline_used() -> None:
    baseline = fed(WEEK)
    at = T0 + timedelta(days=7)
    finding = baseline.finding(81.0, at)
    assert finding is not None
    assert finding.kind == "baseline_deviation"
    assert finding.severity is Severity.LOW
    assert finding.start == at
    assert finding.values["weight_kg"] == 81.0
    assert finding.values["baseline_median_weight_kg"] == 80.0
    assert finding.values["baseline_mad_weight_kg"] == pytest.approx(0.1)
    assert finding.values["robust_z"] == pytest.approx(6.74, abs=0.01)
    assert finding.values["baseline_n"] == 7
    assert "above this patient's median" in finding.explanation
    assert finding.window_s == 6 * 86400


@pytest.mark.parametrize(("value", "found"), [(80.5, False), (80.52, True), (79.48, True)])
def test_finding_threshold_is_3_5_robust_sd(value: float, found: bool) -> None:
    # scale 0.14826 kg: 3.5 SD = 0.519 kg
    assert (fed(WEEK).finding(value, T0 + timedelta(days=7)) is not None) is found


def test_no_finding_while_not_ready() -> None:
    assert fed(WEEK[:3]).finding(120.0, T0 + timedelta(days=3)) is None


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    baseline = fed(WEEK)
    with pytest.raises(ValueError, match="finite"):
        baseline.update(bad, T0)
    with pytest.raises(ValueError, match="finite"):
        baseline.deviation(bad)


def test_naive_datetimes_and_bad_configuration_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        weight_baseline().update(80.0, datetime(2025, 2, 1, 7, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="min_scale"):
        RobustBaseline("p1", "body_weight", value_key="weight_kg", min_scale=0.0)


@given(
    values=st.lists(st.floats(50, 150), min_size=7, max_size=30),
    shift=st.floats(-20, 20),
    probe=st.floats(40, 160),
)
def test_deviation_is_shift_invariant(values: list[float], shift: float, probe: float) -> None:
    a = fed(values)
    b = fed([v + shift for v in values])
    za, zb = a.deviation(probe), b.deviation(probe + shift)
    assert za is not None and zb is not None
    assert za == pytest.approx(zb, rel=1e-6, abs=1e-6)
