"""Trend rules: HF weight gain, ESH home BP, hypertensive crisis, measurement adherence."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from telemed_signal.findings import Severity
from telemed_signal.trends import (
    BpReading,
    HomeBpRule,
    Measurement,
    ScheduleSlot,
    WeightReading,
    WeightRule,
    adherence,
    daily_weights,
    home_bp_finding,
    home_bp_summary,
    hypertensive_crisis_findings,
    missed_measurement_findings,
    weight_gain_findings,
)

PRAGUE = ZoneInfo("Europe/Prague")
DAY0 = date(2025, 1, 13)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    """A UTC datetime for a Prague wall-clock time."""
    return datetime.combine(day, time(hh, mm), tzinfo=PRAGUE).astimezone(UTC)


def weights(*kg: float | None) -> list[WeightReading]:
    """One 07:00 weighing per consecutive day from DAY0; None skips a day."""
    return [
        WeightReading(local(DAY0 + timedelta(days=i), 7), w)
        for i, w in enumerate(kg)
        if w is not None
    ]


# --- weight -------------------------------------------------------------------------------------


def test_daily_weight_is_the_first_weighing_of_the_local_day() -> None:
    late = WeightReading(datetime(2025, 1, 13, 23, 30, tzinfo=UTC), 81.0)  # 00:30 on the 14th
    early = WeightReading(local(date(2025, 1, 14), 7), 80.0)
    days = daily_weights([early, late], PRAGUE)
    assert list(days) == [date(2025, 1, 14)]
    assert days[date(2025, 1, 14)].weight_kg == 81.0


@pytest.mark.parametrize(("today_kg", "kind"), [(82.0, "weight_gain"), (81.99, None)])
def test_gain_of_2_kg_within_3_days(today_kg: float, kind: str | None) -> None:
    findings = weight_gain_findings("p1", weights(80.0, 80.5, 81.2, today_kg), PRAGUE)
    assert [f.kind for f in findings] == ([kind] if kind else [])


def test_gain_finding_names_reference_and_is_medium() -> None:
    [finding] = weight_gain_findings("p1", weights(80.0, 80.5, 81.2, 82.3), PRAGUE)
    assert finding.severity is Severity.MEDIUM
    assert finding.values == {"weight_kg": 82.3, "reference_weight_kg": 80.0, "gain_kg": 2.3}
    assert finding.start == local(DAY0, 7)
    assert finding.end == local(DAY0 + timedelta(days=3), 7)
    assert finding.window_s == 3 * 86400


def test_weight_four_days_ago_is_outside_the_3_day_window() -> None:
    assert weight_gain_findings("p1", weights(80.0, 80.9, 81.5, 81.8, 82.0), PRAGUE) == []


def test_a_dip_inside_the_window_is_the_reference() -> None:
    [finding] = weight_gain_findings("p1", weights(81.0, 79.9, 80.8, 81.9), PRAGUE)
    assert finding.values["reference_weight_kg"] == 79.9
    assert finding.kind == "weight_gain"


def test_float_arithmetic_does_not_hide_an_exact_2_kg_gain() -> None:
    assert [f.kind for f in weight_gain_findings("p1", weights(69.3, None, 71.3), PRAGUE)] == [
        "weight_gain"
    ]


@pytest.mark.parametrize(("today_kg", "found"), [(81.0, True), (80.99, False)])
def test_day_to_day_gain_of_1_kg(today_kg: float, found: bool) -> None:
    findings = weight_gain_findings("p1", weights(80.0, today_kg), PRAGUE)
    assert [(f.kind, f.severity) for f in findings] == (
        [("weight_gain_day_to_day", Severity.LOW)] if found else []
    )


def test_day_to_day_needs_yesterday() -> None:
    assert weight_gain_findings("p1", weights(80.0, None, 81.5), PRAGUE) == []


def test_the_rule_is_configurable_e_g_mobitel_2_kg_in_2_days() -> None:
    mobitel = WeightRule(gain_kg=2.0, window_days=2, day_to_day_kg=1.5)
    history = weights(80.0, 80.5, 81.2, 82.0)
    assert weight_gain_findings("p1", history, PRAGUE, mobitel) == []
    assert len(weight_gain_findings("p1", history, PRAGUE)) == 1


@pytest.mark.parametrize("kg", [math.nan, -70.0, 0.0, 900.0])
def test_impossible_weights_are_refused(kg: float) -> None:
    with pytest.raises(ValueError, match="weight_kg"):
        WeightReading(local(DAY0, 7), kg)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WeightReading(datetime(2025, 1, 13, 7, 0), 80.0)  # noqa: DTZ001


# --- ESH home blood pressure ----------------------------------------------------------------------


def bp_week(
    morning: tuple[float, float], evening: tuple[float, float], *, days: int = 7,
    first_day: tuple[float, float] | None = None, start: date = DAY0,
) -> list[BpReading]:  # fmt: skip
    """Duplicate readings at 07:30 and 20:30 local on consecutive days."""
    out: list[BpReading] = []
    for i in range(days):
        day = start + timedelta(days=i)
        for hh, (sbp, dbp) in ((7, morning), (20, evening)):
            sbp, dbp = first_day if (i == 0 and first_day) else (sbp, dbp)
            out += [
                BpReading(local(day, hh, 30), sbp, dbp),
                BpReading(local(day, hh, 31), sbp, dbp),
            ]
    return out


AS_OF = local(DAY0 + timedelta(days=6), 22)


def test_first_day_is_discarded_and_the_rest_averaged() -> None:
    readings = bp_week((130, 80), (130, 80), first_day=(200, 120))
    summary = home_bp_summary(readings, PRAGUE, AS_OF)
    assert summary.discarded_day == DAY0
    assert summary.overall is not None
    assert (summary.overall.sbp_mmhg, summary.overall.dbp_mmhg, summary.overall.n) == (130, 80, 24)
    assert summary.sufficient and summary.elevated is False
    kept_all = home_bp_summary(readings, PRAGUE, AS_OF, HomeBpRule(discard_first_day=False))
    assert kept_all.overall is not None
    assert kept_all.overall.sbp_mmhg == pytest.approx(140.0)
    assert kept_all.elevated is True


@pytest.mark.parametrize(
    ("sbp", "dbp", "elevated"),
    [(135.0, 80.0, True), (134.9, 84.9, False), (120.0, 85.0, True), (134.0, 84.0, False)],
)
def test_threshold_is_135_and_or_85(sbp: float, dbp: float, elevated: bool) -> None:
    summary = home_bp_summary(bp_week((sbp, dbp), (sbp, dbp)), PRAGUE, AS_OF)
    assert summary.elevated is elevated


def test_morning_and_evening_are_averaged_separately_and_together() -> None:
    summary = home_bp_summary(bp_week((142, 88), (128, 78)), PRAGUE, AS_OF)
    assert summary.morning is not None and summary.evening is not None
    assert (summary.morning.sbp_mmhg, summary.morning.dbp_mmhg, summary.morning.n) == (142, 88, 12)
    assert (summary.evening.sbp_mmhg, summary.evening.dbp_mmhg) == (128, 78)
    assert summary.overall is not None
    assert (summary.overall.sbp_mmhg, summary.overall.dbp_mmhg) == (135, 83)
    assert summary.elevated is True


def test_readings_outside_the_morning_and_evening_windows_and_window_days_are_unused() -> None:
    readings = bp_week((130, 80), (130, 80))
    readings.append(BpReading(local(DAY0 + timedelta(days=3), 13), 200, 120))  # midday
    readings.append(BpReading(local(DAY0 - timedelta(days=1), 8), 200, 120))  # 8 days back
    summary = home_bp_summary(readings, PRAGUE, AS_OF)
    assert summary.overall is not None and summary.overall.sbp_mmhg == 130
    assert summary.first_day == DAY0


@pytest.mark.parametrize(("days", "sufficient"), [(3, False), (4, True)])
def test_at_least_12_readings_after_discarding_day_one(days: int, sufficient: bool) -> None:
    summary = home_bp_summary(bp_week((150, 95), (150, 95), days=days), PRAGUE, AS_OF)
    assert summary.sufficient is sufficient
    assert summary.elevated is (True if sufficient else None)
    assert (home_bp_finding("p1", summary) is not None) is sufficient


def test_local_time_decides_morning_in_summer_too() -> None:
    summer = date(2025, 7, 7)
    readings = bp_week((140, 90), (120, 70), start=summer)
    summary = home_bp_summary(readings, PRAGUE, local(summer + timedelta(days=6), 22))
    assert summary.morning is not None and summary.morning.sbp_mmhg == 140


def test_home_bp_finding_reports_means_with_units() -> None:
    summary = home_bp_summary(bp_week((142, 88), (128, 78)), PRAGUE, AS_OF)
    finding = home_bp_finding("p1", summary)
    assert finding is not None
    assert finding.kind == "home_bp_elevated"
    assert finding.severity is Severity.LOW
    assert finding.values["overall_sbp_mmhg"] == 135.0
    assert finding.values["morning_dbp_mmhg"] == 88.0
    assert finding.values["n_readings"] == 24
    assert finding.start == local(DAY0 + timedelta(days=1), 7, 30)


@pytest.mark.parametrize(("sbp", "dbp"), [(math.nan, 80), (400, 80), (120, 10), (80, 90), (90, 90)])
def test_impossible_bp_is_refused(sbp: float, dbp: float) -> None:
    with pytest.raises(ValueError, match="mmhg"):
        BpReading(AS_OF, sbp, dbp)


# --- hypertensive crisis --------------------------------------------------------------------------


def bp(minute: float, sbp: float, dbp: float) -> BpReading:
    return BpReading(local(DAY0, 8) + timedelta(minutes=minute), sbp, dbp)


def test_one_crisis_reading_alone_is_unconfirmed() -> None:
    [finding] = hypertensive_crisis_findings("p1", [bp(0, 185, 100)])
    assert finding.kind == "hypertensive_crisis_unconfirmed"
    assert finding.severity is Severity.LOW
    assert finding.values["confirmed"] is False
    assert "repeat" in finding.explanation


def test_a_repeat_within_minutes_confirms_the_crisis() -> None:
    [finding] = hypertensive_crisis_findings("p1", [bp(0, 185, 100), bp(3, 182, 112)])
    assert finding.kind == "hypertensive_crisis"
    assert finding.severity is Severity.MEDIUM
    assert finding.values == {"sbp_mmhg": 185, "dbp_mmhg": 100, "n_readings": 2, "confirmed": True}
    assert (finding.start, finding.end) == (bp(0, 185, 100).at, bp(3, 182, 112).at)


@pytest.mark.parametrize(
    ("sbp", "dbp", "crisis"),
    [(179, 109, False), (180, 90, True), (120, 110, True), (179.9, 109.9, False)],
)
def test_crisis_thresholds_are_180_or_110(sbp: float, dbp: float, crisis: bool) -> None:
    findings = hypertensive_crisis_findings("p1", [bp(0, sbp, dbp), bp(2, sbp, dbp)])
    assert [f.kind for f in findings] == (["hypertensive_crisis"] if crisis else [])


def test_a_normal_repeat_leaves_the_first_reading_informational() -> None:
    [finding] = hypertensive_crisis_findings("p1", [bp(0, 186, 100), bp(4, 165, 95)])
    assert finding.kind == "hypertensive_crisis_unconfirmed"
    assert finding.severity is Severity.INFO
    assert finding.values["repeat_sbp_mmhg"] == 165


@pytest.mark.parametrize(("repeat_min", "n_findings"), [(10, 1), (10.5, 2)])
def test_confirmation_window_edge(repeat_min: float, n_findings: int) -> None:
    readings = [bp(repeat_min, 190, 100), bp(0, 190, 100)]  # unsorted on purpose
    findings = hypertensive_crisis_findings("p1", readings, confirm_within_s=600)
    assert len(findings) == n_findings


# --- adherence ------------------------------------------------------------------------------------

BP_TWICE_DAILY = [
    ScheduleSlot("bp_systolic", time(8, 0), before_s=3600, after_s=3600),
    ScheduleSlot("bp_systolic", time(20, 0), before_s=3600, after_s=3600),
]


def test_missed_evening_bp_is_a_low_compliance_finding_in_local_time() -> None:
    day = date(2025, 1, 15)
    got = [Measurement("bp_systolic", local(day, 8, 30))]
    findings = missed_measurement_findings(
        "p1", BP_TWICE_DAILY, got, PRAGUE, local(day, 0), local(day, 23)
    )
    [finding] = findings
    assert finding.kind == "missed_measurement"
    assert finding.severity is Severity.LOW
    assert finding.values == {
        "measurement_kind": "bp_systolic",
        "due_local": "2025-01-15T20:00:00+01:00",
    }
    assert (finding.start, finding.end) == (local(day, 19), local(day, 21))


@pytest.mark.parametrize(("day", "missed"), [(date(2025, 1, 15), 1), (date(2025, 7, 15), 0)])
def test_the_patients_timezone_decides_the_window(day: date, missed: int) -> None:
    # 05:30 UTC is 06:30 in winter (outside 07:00-09:00) but 07:30 in summer (inside).
    got = [Measurement("bp_systolic", datetime.combine(day, time(5, 30), tzinfo=UTC))]
    morning = BP_TWICE_DAILY[:1]
    findings = missed_measurement_findings(
        "p1", morning, got, PRAGUE, local(day, 0), local(day, 12)
    )
    assert len(findings) == missed


def test_due_time_on_the_dst_change_day_is_local() -> None:
    day = date(2025, 3, 30)  # clocks go forward at 02:00
    [outcome] = adherence(BP_TWICE_DAILY[:1], [], PRAGUE, local(day, 0), local(day, 12))
    assert outcome.due == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)
    assert outcome.received_at is None


def test_open_slots_are_pending_not_missed() -> None:
    day = date(2025, 1, 15)
    got = [Measurement("bp_systolic", local(day, 7, 55))]
    outcomes = adherence(BP_TWICE_DAILY, got, PRAGUE, local(day, 0), local(day, 20, 30))
    assert [(o.due, o.received_at) for o in outcomes] == [(local(day, 8), local(day, 7, 55))]


def test_one_measurement_fills_one_slot_and_only_of_its_kind() -> None:
    day = date(2025, 1, 15)
    schedule = [
        ScheduleSlot("bp_systolic", time(8, 0)),
        ScheduleSlot("bp_systolic", time(9, 0)),
        ScheduleSlot("body_weight", time(0, 0), before_s=0, after_s=86400),
    ]
    got = [Measurement("bp_systolic", local(day, 8, 30)), Measurement("body_weight", local(day, 8))]
    now = local(day + timedelta(days=1), 1)
    outcomes = adherence(schedule, got, PRAGUE, local(day, 0), now)
    assert [(o.slot.kind, o.received_at is not None) for o in outcomes] == [
        ("body_weight", True),
        ("bp_systolic", True),
        ("bp_systolic", False),
    ]


def test_a_week_of_twice_daily_bp_counts_every_missed_slot() -> None:
    got = [
        Measurement("bp_systolic", r.at)
        for r in bp_week((130, 80), (130, 80))
        if r.at.astimezone(PRAGUE).day != 15 or r.at.astimezone(PRAGUE).hour != 20
    ]
    end = local(DAY0 + timedelta(days=7), 0)
    findings = missed_measurement_findings("p1", BP_TWICE_DAILY, got, PRAGUE, local(DAY0, 0), end)
    assert [f.values["due_local"] for f in findings] == ["2025-01-15T20:00:00+01:00"]


def test_adherence_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        adherence(BP_TWICE_DAILY, [], PRAGUE, datetime(2025, 1, 1), local(DAY0, 0))  # noqa: DTZ001
