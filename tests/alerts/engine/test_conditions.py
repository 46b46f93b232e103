"""The condition evaluator on a simulated clock (the data's own time)."""

from __future__ import annotations

from alerts.engine.conditions import ReadingConditions, Trigger, finding_trigger
from alerts.policy.rules import READING_RULES, Priority
from tests.alerts.helpers import T0, finding, spo2_series

DESAT = (READING_RULES[0],)


def raises(triggers: list[Trigger]) -> list[Trigger]:
    return [t for t in triggers if t.action == "raise"]


def test_after_a_restart_the_first_normal_value_says_the_condition_is_clear() -> None:
    """An episode opened before a restart must still be able to clear."""
    triggers = ReadingConditions().take("p1", DESAT, spo2_series([97, 97]))
    assert [t.action for t in triggers] == ["clear"]


def test_spo2_below_limit_for_5_s_then_back_raises_nothing() -> None:
    series = spo2_series([97] * 10 + [88] * 5 + [97] * 120)
    assert raises(ReadingConditions().take("p1", DESAT, series)) == []


def test_spo2_below_limit_for_60_s_raises_one_medium_trigger() -> None:
    triggers = raises(ReadingConditions().take("p1", DESAT, spo2_series([97] * 10 + [88] * 90)))
    assert [(t.action, t.rule, t.priority) for t in triggers] == [
        ("raise", "desaturation", Priority.MEDIUM)
    ]
    assert triggers[0].detail["persistence"]["required_s"] == 60.0
    assert triggers[0].detail["threshold"]["provenance"]["source"] == "programme default"


def test_recovery_inside_the_hysteresis_band_does_not_clear() -> None:
    triggers = ReadingConditions().take("p1", DESAT, spo2_series([88] * 61 + [91] * 120))
    assert [t.action for t in triggers] == ["raise"]


def test_recovery_above_the_clear_level_clears() -> None:
    triggers = ReadingConditions().take("p1", DESAT, spo2_series([88] * 61 + [91] * 10 + [93]))
    assert [t.action for t in triggers] == ["raise", "clear"]


def test_a_sample_below_the_rapid_limit_raises_high_at_once() -> None:
    triggers = raises(ReadingConditions().take("p1", DESAT, spo2_series([97, 97, 83])))
    assert [(t.action, t.priority) for t in triggers] == [("raise", Priority.HIGH)]
    assert triggers[0].detail["persistence"]["rapid_bypass"] is True


def test_a_gap_in_the_data_restarts_the_persistence_count() -> None:
    conditions = ReadingConditions()
    first = spo2_series([88] * 40)
    later = spo2_series([88] * 30, start=T0.replace(minute=5))
    assert raises(conditions.take("p1", DESAT, first + later)) == []


def test_replaying_the_same_readings_raises_nothing_new() -> None:
    conditions = ReadingConditions()
    series = spo2_series([88] * 70)
    assert len(conditions.take("p1", DESAT, series)) == 1
    assert conditions.take("p1", DESAT, series) == []


def test_an_informational_finding_pages_nobody() -> None:
    assert finding_trigger(finding("hypertensive_crisis_unconfirmed", T0, severity="info")) is None
    assert finding_trigger(finding("news2", T0, severity="info")) is None


def test_ventricular_fibrillation_is_a_latching_high_cardiac_arrest() -> None:
    t = finding_trigger(finding("ventricular_flutter_fib", T0))
    assert t is not None
    assert (t.rule, t.priority, t.latching) == ("cardiac_arrest", Priority.HIGH, True)
