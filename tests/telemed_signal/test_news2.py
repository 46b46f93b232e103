"""NEWS2 against the RCP 2017 chart: every band edge of every row, both sides."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed_signal.findings import Severity
from telemed_signal.news2 import (
    Consciousness,
    News2Input,
    News2Parameter,
    News2Risk,
    Observation,
    SpO2Scale,
    news2_finding,
    news2_input_from_latest,
    news2_score,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# Every parameter in its 0 band: the aggregate is then exactly the varied row's score.
NORMAL: dict[str, Any] = {
    "resp_rate_per_min": 16,
    "spo2_pct": 97,
    "on_supplemental_o2": False,
    "sbp_mmhg": 120,
    "pulse_bpm": 70,
    "consciousness": Consciousness.ALERT,
    "temp_c": 37.0,
}


def vitals(**changes: Any) -> News2Input:
    return News2Input(**{**NORMAL, **changes})


def test_all_normal_scores_zero_with_routine_response() -> None:
    result = news2_score(vitals())
    assert result.total == 0
    assert set(result.sub_scores.as_dict().values()) == {0}
    assert result.risk is News2Risk.LOW
    assert not result.red_score
    assert result.monitoring == "minimum 12-hourly"


@pytest.mark.parametrize(
    ("resp_rate_per_min", "expected"),
    [
        (1, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (80, 3),
        (8.4, 3), (8.5, 1), (11.49, 1), (11.5, 0), (20.49, 0), (20.5, 2), (24.49, 2), (24.5, 3),
    ],
)  # fmt: skip
def test_respiration_rate_bands(resp_rate_per_min: float, expected: int) -> None:
    result = news2_score(vitals(resp_rate_per_min=resp_rate_per_min))
    assert result.sub_scores.resp_rate == expected
    assert result.total == expected


@pytest.mark.parametrize(
    ("spo2_pct", "expected"),
    [
        (1, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0),
        (91.49, 3), (91.5, 2), (93.5, 1), (95.49, 1), (95.5, 0),
    ],
)  # fmt: skip
def test_spo2_scale_1_bands_on_air(spo2_pct: float, expected: int) -> None:
    result = news2_score(vitals(spo2_pct=spo2_pct))
    assert result.sub_scores.spo2 == expected
    assert result.sub_scores.air_or_oxygen == 0
    assert result.total == expected


@pytest.mark.parametrize(("spo2_pct", "expected"), [(91, 3), (92, 2), (95, 1), (96, 0), (100, 0)])
def test_spo2_scale_1_on_oxygen_scores_the_same_plus_two_for_oxygen(
    spo2_pct: float, expected: int
) -> None:
    result = news2_score(vitals(spo2_pct=spo2_pct, on_supplemental_o2=True))
    assert result.sub_scores.spo2 == expected
    assert result.sub_scores.air_or_oxygen == 2
    assert result.total == expected + 2


@pytest.mark.parametrize(
    ("spo2_pct", "expected"),
    [
        (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (97, 0), (100, 0),
        (83.49, 3), (83.5, 2), (87.5, 0), (92.5, 0),
    ],
)  # fmt: skip
def test_spo2_scale_2_bands_on_air(spo2_pct: float, expected: int) -> None:
    result = news2_score(vitals(spo2_pct=spo2_pct, spo2_scale=SpO2Scale.SCALE_2))
    assert result.sub_scores.spo2 == expected
    assert result.total == expected


@pytest.mark.parametrize(
    ("spo2_pct", "expected"),
    [
        (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0),
        (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3),
        (92.49, 0), (92.5, 1), (94.5, 2), (96.49, 2), (96.5, 3),
    ],
)  # fmt: skip
def test_spo2_scale_2_bands_on_oxygen(spo2_pct: float, expected: int) -> None:
    result = news2_score(
        vitals(spo2_pct=spo2_pct, spo2_scale=SpO2Scale.SCALE_2, on_supplemental_o2=True)
    )
    assert result.sub_scores.spo2 == expected
    assert result.sub_scores.air_or_oxygen == 2
    assert result.total == expected + 2
    assert result.spo2_scale is SpO2Scale.SCALE_2


def test_the_same_spo2_scores_differently_on_the_two_scales() -> None:
    assert news2_score(vitals(spo2_pct=88)).sub_scores.spo2 == 3
    assert news2_score(vitals(spo2_pct=88, spo2_scale=SpO2Scale.SCALE_2)).sub_scores.spo2 == 0


@pytest.mark.parametrize(
    ("sbp_mmhg", "expected"),
    [
        (30, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3),
        (300, 3), (90.49, 3), (90.5, 2), (110.5, 0), (219.49, 0), (219.5, 3),
    ],
)  # fmt: skip
def test_systolic_bp_bands(sbp_mmhg: float, expected: int) -> None:
    result = news2_score(vitals(sbp_mmhg=sbp_mmhg))
    assert result.sub_scores.sbp == expected
    assert result.total == expected


@pytest.mark.parametrize(
    ("pulse_bpm", "expected"),
    [
        (20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
        (130, 2), (131, 3), (300, 3), (40.49, 3), (40.5, 1), (90.5, 1), (130.49, 2), (130.5, 3),
    ],
)  # fmt: skip
def test_pulse_bands(pulse_bpm: float, expected: int) -> None:
    result = news2_score(vitals(pulse_bpm=pulse_bpm))
    assert result.sub_scores.pulse == expected
    assert result.total == expected


@pytest.mark.parametrize(
    ("temp_c", "expected"),
    [
        (25.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1),
        (39.1, 2), (45.0, 2),
        (35.04, 3), (35.05, 1), (36.04, 1), (36.05, 0), (38.04, 0), (38.05, 1), (39.04, 1),
        (39.05, 2),
    ],
)  # fmt: skip
def test_temperature_bands(temp_c: float, expected: int) -> None:
    result = news2_score(vitals(temp_c=temp_c))
    assert result.sub_scores.temperature == expected
    assert result.total == expected


@pytest.mark.parametrize(
    ("consciousness", "expected"),
    [
        (Consciousness.ALERT, 0),
        (Consciousness.NEW_CONFUSION, 3),
        (Consciousness.VOICE, 3),
        (Consciousness.PAIN, 3),
        (Consciousness.UNRESPONSIVE, 3),
        ("C", 3),
        ("A", 0),
    ],
)
def test_acvpu_new_confusion_scores_like_voice_pain_unresponsive(
    consciousness: Consciousness, expected: int
) -> None:
    result = news2_score(vitals(consciousness=consciousness))
    assert result.sub_scores.consciousness == expected
    assert result.total == expected


@pytest.mark.parametrize(
    ("changes", "total", "risk", "red", "monitoring"),
    [
        ({}, 0, News2Risk.LOW, False, "minimum 12-hourly"),
        ({"temp_c": 38.5}, 1, News2Risk.LOW, False, "minimum 4-6-hourly"),
        ({"resp_rate_per_min": 22, "pulse_bpm": 115}, 4, News2Risk.LOW, False, "minimum 4-6-hourly"),
        ({"consciousness": Consciousness.VOICE}, 3, News2Risk.LOW_MEDIUM, True, "minimum 1-hourly"),
        ({"sbp_mmhg": 85, "temp_c": 38.5}, 4, News2Risk.LOW_MEDIUM, True, "minimum 1-hourly"),
        ({"resp_rate_per_min": 22, "sbp_mmhg": 95, "temp_c": 38.5}, 5, News2Risk.MEDIUM, False, "minimum 1-hourly"),
        ({"resp_rate_per_min": 22, "sbp_mmhg": 95, "pulse_bpm": 115}, 6, News2Risk.MEDIUM, False, "minimum 1-hourly"),
        ({"resp_rate_per_min": 25, "pulse_bpm": 115}, 5, News2Risk.MEDIUM, True, "minimum 1-hourly"),
        ({"resp_rate_per_min": 25, "spo2_pct": 93, "pulse_bpm": 115}, 7, News2Risk.HIGH, True, "continuous monitoring"),
        ({"spo2_pct": 95, "on_supplemental_o2": True, "temp_c": 39.5, "pulse_bpm": 95, "sbp_mmhg": 105}, 7, News2Risk.HIGH, False, "continuous monitoring"),
    ],
)  # fmt: skip
def test_aggregate_risk_bands_and_single_red_score_trigger(
    changes: dict[str, Any], total: int, risk: News2Risk, red: bool, monitoring: str
) -> None:
    result = news2_score(vitals(**changes))
    assert result.total == total
    assert result.risk is risk
    assert result.red_score is red
    assert result.monitoring == monitoring


def test_maximum_aggregate_is_20_on_both_scales() -> None:
    worst = {"resp_rate_per_min": 5, "on_supplemental_o2": True, "sbp_mmhg": 80,
             "pulse_bpm": 140, "consciousness": Consciousness.UNRESPONSIVE, "temp_c": 34.0}  # fmt: skip
    assert news2_score(vitals(spo2_pct=80, **worst)).total == 20
    assert news2_score(vitals(spo2_pct=98, spo2_scale=SpO2Scale.SCALE_2, **worst)).total == 20


def test_responses_name_the_rcp_escalation() -> None:
    assert news2_score(
        vitals(resp_rate_per_min=25, spo2_pct=93, pulse_bpm=115)
    ).response.startswith("Emergency response")
    medium = news2_score(vitals(resp_rate_per_min=22, sbp_mmhg=95, temp_c=38.5))
    assert medium.response.startswith("Key threshold for urgent response")
    red = news2_score(vitals(consciousness=Consciousness.NEW_CONFUSION))
    assert red.response.startswith("Urgent ward-based response")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resp_rate_per_min", math.nan), ("resp_rate_per_min", -1), ("resp_rate_per_min", 0),
        ("resp_rate_per_min", math.inf), ("resp_rate_per_min", 120), ("resp_rate_per_min", True),
        ("spo2_pct", 130), ("spo2_pct", 100.5), ("spo2_pct", 0), ("spo2_pct", -5),
        ("spo2_pct", math.nan), ("spo2_pct", "95"),
        ("sbp_mmhg", 0), ("sbp_mmhg", 400), ("sbp_mmhg", math.nan),
        ("pulse_bpm", 0), ("pulse_bpm", -60), ("pulse_bpm", 400),
        ("temp_c", 50.0), ("temp_c", 20.0), ("temp_c", math.nan), ("temp_c", 370),
        ("on_supplemental_o2", "yes"), ("on_supplemental_o2", 1), ("on_supplemental_o2", None),
        ("consciousness", "X"), ("consciousness", "alert"), ("consciousness", 0),
        ("spo2_scale", 3),
    ],
)  # fmt: skip
def test_bad_input_raises_a_clear_value_error(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field if field != "consciousness" else "onsciousness"):
        vitals(**{field: value})


def test_finding_is_none_in_the_low_band() -> None:
    assert news2_finding("p1", news2_score(vitals(temp_c=38.5)), NOW) is None


@pytest.mark.parametrize(
    ("changes", "severity"),
    [
        ({"consciousness": Consciousness.NEW_CONFUSION}, Severity.MEDIUM),
        ({"resp_rate_per_min": 22, "sbp_mmhg": 95, "temp_c": 38.5}, Severity.MEDIUM),
        ({"resp_rate_per_min": 25, "spo2_pct": 93, "pulse_bpm": 115}, Severity.HIGH),
    ],
)
def test_finding_severity_follows_the_trigger(changes: dict[str, Any], severity: Severity) -> None:
    result = news2_score(vitals(**changes))
    finding = news2_finding("p1", result, NOW, window_s=600)
    assert finding is not None
    assert finding.severity is severity
    assert finding.kind == "news2"
    assert finding.values["news2_total"] == result.total
    assert finding.values["news2_resp_rate"] == result.sub_scores.resp_rate
    assert finding.window_s == 600
    assert f"NEWS2 {result.total}" in finding.explanation


def test_finding_refuses_a_naive_datetime() -> None:
    result = news2_score(vitals(consciousness=Consciousness.VOICE))
    with pytest.raises(ValueError, match="timezone-aware"):
        news2_finding("p1", result, datetime(2025, 3, 1, 12, 0))  # noqa: DTZ001


def latest(minutes_ago: float = 5, **changes: Any) -> dict[News2Parameter, Observation]:
    at = NOW - timedelta(minutes=minutes_ago)
    values = {**NORMAL, **changes}
    return {p: Observation(values[p.value], at) for p in News2Parameter if p.value in values}


def test_assembly_of_a_fresh_complete_set_scores_like_the_direct_input() -> None:
    assembly = news2_input_from_latest(latest(pulse_bpm=120), NOW)
    assert assembly.complete
    assert assembly.vitals is not None
    assert news2_score(assembly.vitals).total == 2
    assert assembly.missing == assembly.stale == ()
    assert assembly.oldest_at == NOW - timedelta(minutes=5)


def test_assembly_names_missing_parameters_and_scores_nothing() -> None:
    observations = latest()
    del observations[News2Parameter.TEMPERATURE]
    del observations[News2Parameter.CONSCIOUSNESS]
    assembly = news2_input_from_latest(observations, NOW)
    assert assembly.vitals is None
    assert assembly.missing == (News2Parameter.CONSCIOUSNESS, News2Parameter.TEMPERATURE)


@pytest.mark.parametrize(("age_s", "fresh"), [(1800, True), (1801, False), (0, True)])
def test_assembly_freshness_window_edge(age_s: float, fresh: bool) -> None:
    observations = latest()
    observations[News2Parameter.PULSE] = Observation(70, NOW - timedelta(seconds=age_s))
    assembly = news2_input_from_latest(observations, NOW, max_age_s=1800)
    assert assembly.complete is fresh
    assert assembly.stale == (() if fresh else (News2Parameter.PULSE,))


def test_assembly_refuses_future_and_invalid_values() -> None:
    observations = latest(spo2_pct=0)  # an oximeter dropout
    observations[News2Parameter.SBP] = Observation(120, NOW + timedelta(minutes=5))
    assembly = news2_input_from_latest(observations, NOW)
    assert assembly.vitals is None
    assert set(assembly.invalid) == {News2Parameter.SPO2, News2Parameter.SBP}
    assert "spo2_pct" in assembly.invalid[News2Parameter.SPO2]


def test_assembly_uses_explicit_defaults_only_for_never_observed_parameters() -> None:
    observations = latest()
    del observations[News2Parameter.SUPPLEMENTAL_O2]
    assumed = {News2Parameter.SUPPLEMENTAL_O2: False}
    assembly = news2_input_from_latest(observations, NOW, assumed=assumed)
    assert assembly.complete
    assert assembly.assumed == (News2Parameter.SUPPLEMENTAL_O2,)

    observations[News2Parameter.SUPPLEMENTAL_O2] = Observation(True, NOW - timedelta(hours=3))
    stale = news2_input_from_latest(observations, NOW, assumed=assumed)
    assert stale.vitals is None
    assert stale.stale == (News2Parameter.SUPPLEMENTAL_O2,)


def test_assembly_passes_the_clinician_chosen_scale_through() -> None:
    assembly = news2_input_from_latest(latest(spo2_pct=88), NOW, spo2_scale=SpO2Scale.SCALE_2)
    assert assembly.vitals is not None
    assert news2_score(assembly.vitals).sub_scores.spo2 == 0


def test_assembly_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        news2_input_from_latest(latest(), NOW.replace(tzinfo=None))


@given(
    rr=st.floats(1, 80),
    spo2=st.floats(1, 100),
    o2=st.booleans(),
    sbp=st.floats(30, 300),
    pulse=st.floats(20, 300),
    acvpu=st.sampled_from(list(Consciousness)),
    temp=st.floats(25, 45),
    scale=st.sampled_from(list(SpO2Scale)),
)
def test_aggregate_is_the_sum_of_sub_scores_and_bands_are_consistent(
    rr: float, spo2: float, o2: bool, sbp: float, pulse: float, acvpu: Consciousness,
    temp: float, scale: SpO2Scale,
) -> None:  # fmt: skip
    result = news2_score(News2Input(rr, spo2, o2, sbp, pulse, acvpu, temp, scale))
    subs = result.sub_scores.as_dict()
    assert result.total == sum(subs.values())
    assert 0 <= result.total <= 20
    assert result.red_score == (3 in subs.values())
    expected = (
        News2Risk.HIGH if result.total >= 7
        else News2Risk.MEDIUM if result.total >= 5
        else News2Risk.LOW_MEDIUM if result.red_score
        else News2Risk.LOW
    )  # fmt: skip
    assert result.risk is expected


def test_input_is_immutable_after_validation() -> None:
    v = vitals(consciousness="V", resp_rate_per_min=18)
    assert v.consciousness is Consciousness.VOICE
    assert isinstance(v.resp_rate_per_min, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.spo2_pct = 50  # type: ignore[misc]
