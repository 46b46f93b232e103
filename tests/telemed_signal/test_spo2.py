"""SpO2: ODI-style desaturations, sustained low SpO2, dropouts as gaps, and spot checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from telemed_signal.findings import Severity
from telemed_signal.spo2 import (
    DesaturationDetector,
    DesaturationParams,
    SustainedLowDetector,
    spo2_clean,
    spo2_odi,
)
from telemed_signal.spo2_spot import SpotReading, spo2_spot_findings
from tests import physionet

T0 = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)
NUMERICS = physionet.subset("mimic2wdb_numerics")


def seg(value: float, seconds: int) -> npt.NDArray[np.float64]:
    return np.full(seconds, value, dtype=np.float64)


def series(*parts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.concatenate(parts)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- cleaning ---------------------------------------------------------------------------------


def test_clean_turns_every_dropout_marker_into_nan() -> None:
    raw = [97.0, 0.0, np.nan, 127.0, -1.0, 45.0, 91.0, 100.0]
    cleaned = spo2_clean(raw, invalid=[False] * 7 + [True])
    assert np.isnan(cleaned[1:6]).all()
    assert cleaned[0] == 97.0 and cleaned[6] == 91.0
    assert np.isnan(cleaned[7])


def test_clean_keeps_zero_a_dropout_even_without_an_artefact_floor() -> None:
    cleaned = spo2_clean([0.0, 45.0, -3.0], min_valid_pct=0.0)
    assert np.isnan(cleaned[0]) and np.isnan(cleaned[2])
    assert cleaned[1] == 45.0


def test_clean_refuses_flags_of_another_length() -> None:
    with pytest.raises(ValueError, match="shape"):
        spo2_clean([97.0, 96.0], invalid=[False])


# --- desaturations / ODI ------------------------------------------------------------------------


def test_one_desaturation_reports_start_end_nadir_and_baseline() -> None:
    x = series(seg(97, 120), seg(95, 3), seg(92, 12), seg(97, 60))
    result = spo2_odi(x, 1.0, T0)
    assert len(result.events) == 1
    event = result.events[0]
    assert event.baseline_pct == 97
    assert event.nadir_pct == 92
    assert event.start == at(123)  # first sample at or below 97 - 3
    assert event.end == at(135)  # first sample back above 97 - 3 + 1
    assert event.nadir_at == at(123)
    assert event.duration_s == 12
    assert not event.truncated


@pytest.mark.parametrize(("seconds_low", "counted"), [(9, 0), (10, 1), (11, 1)])
def test_minimum_duration_edge_is_10_s(seconds_low: int, counted: int) -> None:
    x = series(seg(97, 120), seg(93, seconds_low), seg(97, 60))
    assert len(spo2_odi(x, 1.0, T0).events) == counted


@pytest.mark.parametrize(("nadir_pct", "counted"), [(95, 0), (94.5, 0), (94, 1), (90, 1)])
def test_minimum_drop_edge_is_3_percentage_points(nadir_pct: float, counted: int) -> None:
    x = series(seg(97, 120), seg(nadir_pct, 20), seg(97, 60))
    assert len(spo2_odi(x, 1.0, T0).events) == counted


@pytest.mark.parametrize("marker", [0.0, np.nan, 127.0, -1.0, 20.0])
def test_dropouts_are_gaps_not_desaturations(marker: float) -> None:
    x = series(seg(97, 120), seg(marker, 30), seg(97, 60))
    result = spo2_odi(x, 1.0, T0)
    assert result.events == ()
    assert result.valid_s == 180


def test_invalid_flags_are_gaps_even_when_the_value_looks_low() -> None:
    x = series(seg(97, 120), seg(85, 30), seg(97, 60))
    flags = np.zeros(len(x), dtype=bool)
    flags[120:150] = True
    assert spo2_odi(x, 1.0, T0, invalid=flags).events == ()
    assert len(spo2_odi(x, 1.0, T0).events) == 1


def test_a_short_dropout_inside_an_event_is_bridged() -> None:
    x = series(seg(97, 120), seg(92, 6), seg(np.nan, 3), seg(92, 6), seg(97, 60))
    events = spo2_odi(x, 1.0, T0).events
    assert len(events) == 1
    assert events[0].duration_s == 15


def test_a_long_dropout_truncates_the_event_at_the_last_valid_sample() -> None:
    x = series(seg(97, 120), seg(92, 12), seg(np.nan, 30), seg(97, 60))
    events = spo2_odi(x, 1.0, T0).events
    assert len(events) == 1
    assert events[0].truncated
    assert events[0].end == at(132)


def test_nothing_is_detected_before_the_baseline_is_learned() -> None:
    x = series(seg(97, 30), seg(90, 20), seg(97, 60))
    detector = DesaturationDetector(1.0)
    assert detector.update(x, T0) == []
    assert detector.baseline_pct() == 97


def test_a_level_shift_longer_than_max_event_is_not_an_intermittent_desaturation() -> None:
    x = series(seg(97, 120), seg(93, 200), seg(97, 200))
    assert spo2_odi(x, 1.0, T0).events == ()


def test_odi_is_events_per_hour_of_valid_signal() -> None:
    cycle = series(seg(97, 230), seg(92, 15), seg(97, 55))  # 300 s with one desaturation
    hour = np.tile(cycle, 12)
    result = spo2_odi(series(hour, seg(np.nan, 1800)), 1.0, T0)
    assert len(result.events) == 12
    assert result.valid_s == 3600
    assert result.odi_per_h == pytest.approx(12.0)


def test_streaming_in_chunks_with_a_checkpoint_matches_the_batch_result() -> None:
    rng = np.random.default_rng(7)
    x = np.tile(series(seg(97, 100), seg(91, 20), seg(97, 40)), 10) + rng.integers(-1, 2, 1600)
    x[500:520] = 0.0
    batch = spo2_odi(x, 1.0, T0)
    detector, events, i = DesaturationDetector(1.0), [], 0
    for size in rng.integers(1, 97, 100):
        if i >= len(x):
            break
        events += detector.update(x[i : i + size], at(i))
        detector = DesaturationDetector.from_state(json.loads(json.dumps(detector.to_state())))
        i += int(size)
    assert len(batch.events) >= 8
    assert events == list(batch.events)
    assert detector.odi_per_h == pytest.approx(batch.odi_per_h)


def test_one_sample_at_a_time_finds_what_one_array_finds() -> None:
    """A live oximeter's reading a second takes the detectors' small-chunk path (no numpy per
    call): its events, episodes and valid time must equal those of the whole array."""
    rng = np.random.default_rng(11)
    x = np.tile(series(seg(97, 100), seg(91, 20), seg(97, 40), seg(86, 70)), 4)
    x = x + rng.integers(-1, 2, x.size)
    x[[30, 31, 250, 400]] = [np.nan, 0.0, 101.0, 40.0]  # dropout markers: gaps, not values
    desat, low = DesaturationDetector(1.0), SustainedLowDetector()
    events, episodes = desat.update(x, T0), SustainedLowDetector().update(x, T0)
    one_desat = DesaturationDetector(1.0)
    got_events: list[object] = []
    got_episodes: list[object] = []
    for i, value in enumerate(x):
        got_events += one_desat.update(np.array([value]), at(i))
        got_episodes += low.update(np.array([value]), at(i))
    assert len(events) >= 4 and len(episodes) >= 4
    assert (got_events, got_episodes) == (events, episodes)
    assert one_desat.odi_per_h == pytest.approx(desat.odi_per_h)


def test_chunks_out_of_order_and_naive_times_are_refused() -> None:
    detector = DesaturationDetector(1.0)
    detector.update(seg(97, 10), T0)
    with pytest.raises(ValueError, match="time order"):
        detector.update(seg(97, 10), at(5))
    with pytest.raises(ValueError, match="timezone-aware"):
        detector.update(seg(97, 10), datetime(2025, 3, 1, 23, 0))  # noqa: DTZ001


def test_desaturation_finding_carries_values_with_units() -> None:
    x = series(seg(97, 120), seg(92, 12), seg(97, 60))
    detector = DesaturationDetector(1.0, DesaturationParams(drop_pct=3.0))
    event = detector.update(x, T0)[0]
    finding = event.to_finding("p1", detector.method)
    assert finding.kind == "spo2_desaturation"
    assert finding.severity is Severity.INFO
    assert finding.values == {
        "baseline_spo2_pct": 97.0,
        "nadir_spo2_pct": 92.0,
        "depth_pct": 5.0,
        "duration_s": 12.0,
    }
    assert "120 s running median" in finding.method


# --- sustained low ------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds_low", "episodes"), [(59, 0), (60, 2), (61, 2)])
def test_sustained_low_needs_60_s_and_reports_onset_then_end(
    seconds_low: int, episodes: int
) -> None:
    detector = SustainedLowDetector(1.0)
    out = detector.update(series(seg(96, 30), seg(88, seconds_low), seg(95, 30)), T0)
    assert len(out) == episodes
    if episodes:
        onset, ended = out
        assert onset.end is None and onset.start == at(30)
        assert onset.duration_s == 60
        assert ended.end == at(30 + seconds_low)
        assert ended.duration_s == seconds_low
        assert ended.nadir_pct == 88


@pytest.mark.parametrize(("value", "low"), [(90.0, False), (89.9, True)])
def test_sustained_low_threshold_is_strictly_below(value: float, low: bool) -> None:
    out = SustainedLowDetector(1.0).update(seg(value, 90), T0)
    assert (len(out) == 1) is low


@pytest.mark.parametrize(("gap_s", "episodes"), [(5, 1), (20, 0)])
def test_sustained_low_bridges_short_dropouts_only(gap_s: int, episodes: int) -> None:
    x = series(seg(85, 40), seg(np.nan, gap_s), seg(85, 30), seg(95, 10))
    out = [e for e in SustainedLowDetector(1.0).update(x, T0) if e.end is not None]
    assert len(out) == episodes
    if episodes:
        assert out[0].duration_s == 40 + gap_s + 30


def test_zeros_from_a_lost_probe_are_never_sustained_low() -> None:
    assert SustainedLowDetector(1.0).update(seg(0.0, 600), T0) == []


def test_sustained_low_survives_a_checkpoint_mid_episode() -> None:
    detector = SustainedLowDetector(1.0, threshold_pct=88.0, min_duration_s=30.0)
    assert detector.update(series(seg(95, 10), seg(86, 20)), T0) == []
    restored = SustainedLowDetector.from_state(json.loads(json.dumps(detector.to_state())))
    out = restored.update(series(seg(84, 20), seg(95, 5)), at(30))
    assert [(e.start, e.end, e.nadir_pct) for e in out] == [
        (at(10), None, 84),
        (at(10), at(50), 84),
    ]


@pytest.mark.parametrize(("nadir", "severity"), [(84.0, Severity.HIGH), (88.0, Severity.MEDIUM)])
def test_sustained_low_finding_severity_depends_on_the_nadir(
    nadir: float, severity: Severity
) -> None:
    detector = SustainedLowDetector(1.0)
    onset = detector.update(seg(nadir, 60), T0)[0]
    finding = onset.to_finding("p1", detector.method)
    assert finding.severity is severity
    assert finding.end is None
    assert finding.values["nadir_spo2_pct"] == nadir
    assert finding.method == "Sustained SpO2 < 90 % for >= 60 s"


def test_real_icu_numerics_episodes_and_dropouts() -> None:
    import wfdb

    rec = wfdb.rdrecord(str(NUMERICS / "s25047-2704-05-04-10-44n"))
    spo2 = rec.p_signal[:, rec.sig_name.index("SpO2")]
    assert (spo2 == 0).sum() == 11  # real probe dropouts in this record
    detector = SustainedLowDetector(1 / 60, max_gap_s=120)
    ended = [e for e in detector.update(spo2, T0) if e.end is not None]
    minutes = [((e.start - T0).total_seconds() / 60, e.nadir_pct) for e in ended]
    assert minutes == [(15, 89.5), (36, 88.2), (40, 50.8), (54, 64.8)]
    params = DesaturationParams(
        baseline_window_s=1800,
        min_baseline_s=600,
        min_duration_s=60,
        max_gap_s=120,
        max_event_s=1800,
    )
    for name in ("s25047-2704-05-04-10-44n", "s00001-2896-10-10-00-31n"):
        rec = wfdb.rdrecord(str(NUMERICS / name))
        result = spo2_odi(rec.p_signal[:, rec.sig_name.index("SpO2")], 1 / 60, T0, params=params)
        assert result.events, name
        assert all(e.nadir_pct >= 50 for e in result.events)  # zeros never became nadirs


# --- spot checks --------------------------------------------------------------------------------


def spots(*pairs: tuple[float, float]) -> list[SpotReading]:
    return [SpotReading(at(minutes * 60), value) for minutes, value in pairs]


def test_a_single_low_spot_is_unconfirmed_and_of_lower_certainty() -> None:
    [finding] = spo2_spot_findings("p1", spots((0, 97), (60, 90)))
    assert finding.kind == "spo2_spot_low_unconfirmed"
    assert finding.severity is Severity.LOW
    assert finding.values["confirmed"] is False
    assert finding.start == at(3600)


def test_a_low_spot_confirmed_by_a_repeat_is_one_medium_episode() -> None:
    [finding] = spo2_spot_findings("p1", spots((0, 90), (5, 89)))
    assert finding.kind == "spo2_spot_low"
    assert finding.severity is Severity.MEDIUM
    assert finding.values == {"nadir_spo2_pct": 89, "n_low_readings": 2, "confirmed": True}
    assert (finding.start, finding.end) == (at(0), at(300))


@pytest.mark.parametrize(("second", "severity"), [(83.0, Severity.HIGH), (88.0, Severity.MEDIUM)])
def test_confirmed_critical_needs_two_readings_below_85(second: float, severity: Severity) -> None:
    [finding] = spo2_spot_findings("p1", spots((0, 82), (3, second)))
    assert finding.severity is severity


def test_a_single_critical_spot_is_medium_until_confirmed() -> None:
    [finding] = spo2_spot_findings("p1", spots((0, 82)))
    assert finding.severity is Severity.MEDIUM
    assert finding.kind == "spo2_spot_low_unconfirmed"


def test_a_normal_repeat_refutes_a_low_spot() -> None:
    [finding] = spo2_spot_findings("p1", spots((0, 90), (4, 96)))
    assert finding.severity is Severity.INFO
    assert finding.values["repeat_spo2_pct"] == 96


@pytest.mark.parametrize(("repeat_min", "confirmed"), [(15, True), (16, False)])
def test_repeat_window_edge(repeat_min: float, confirmed: bool) -> None:
    findings = spo2_spot_findings("p1", spots((0, 90), (repeat_min, 90)), repeat_window_s=900)
    assert [f.values["confirmed"] for f in findings] == ([True] if confirmed else [False, False])


@pytest.mark.parametrize(("value", "low"), [(92.0, False), (91.9, True)])
def test_spot_low_threshold_is_strictly_below_92(value: float, low: bool) -> None:
    assert bool(spo2_spot_findings("p1", spots((0, value)))) is low


def test_spot_dropouts_neither_confirm_nor_refute_and_order_does_not_matter() -> None:
    readings = [
        SpotReading(at(600), 89),
        SpotReading(at(120), 0.0),
        SpotReading(at(60), 90),
        SpotReading(at(300), 98, invalid=True),
        SpotReading(at(400), float("nan")),
    ]
    [finding] = spo2_spot_findings("p1", readings)
    assert finding.values["confirmed"] is True
    assert (finding.start, finding.end) == (at(60), at(600))
