"""Replay counts what a policy would raise over stored data."""

from __future__ import annotations

import pytest

from alerts.replay.engine import CURRENT, policy_from_json, replay
from telemed_core.errors import InvalidInput
from tests.alerts.helpers import T0, finding, spo2_series


def test_a_lower_limit_would_have_raised_fewer_desaturation_alerts() -> None:
    readings = spo2_series([89] * 70 + [95] * 10 + [86] * 70)
    proposed = policy_from_json({"reading_rules": {"desaturation": {"trigger": 88, "clear": 90}}})
    assert replay(readings, [], {}, CURRENT).by_rule == {"desaturation": 2}
    assert replay(readings, [], {}, proposed).by_rule == {"desaturation": 1}


def test_without_persistence_and_hysteresis_a_flapping_signal_alerts_on_every_dip() -> None:
    readings = spo2_series([89, 91] * 60)
    raw = policy_from_json({"reading_rules": {"desaturation": {"persistence_s": 0, "clear": 90}}})
    assert replay(readings, [], {}, CURRENT).alerts == 0
    assert replay(readings, [], {}, raw).alerts == 60


def test_a_sustained_low_finding_alone_raises_no_desaturation() -> None:
    low = finding("spo2_sustained_low", T0, severity="medium")
    assert replay([], [low], {}, CURRENT).by_rule == {}
    readings = spo2_series([88] * 70)
    assert replay(readings, [low], {}, CURRENT).by_rule == {"desaturation": 1}


def test_rhythm_findings_around_an_arrest_count_as_one_alert() -> None:
    findings = [finding("ventricular_flutter_fib", T0), finding("ventricular_tachycardia", T0)]
    assert replay([], findings, {}, CURRENT).by_rule == {"cardiac_arrest": 1}


@pytest.mark.parametrize(
    "bad",
    [[], {"reading_rules": {"nope": {}}}, {"reading_rules": {"desaturation": {"x": 1}}},
     {"disabled": "news2"}],
)  # fmt: skip
def test_a_malformed_policy_is_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(InvalidInput):
        policy_from_json(bad)
