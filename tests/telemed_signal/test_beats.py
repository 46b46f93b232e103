"""Beat-time analysis: heart rate, the 20 % ectopic rule, pauses, brady- and tachycardia."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from telemed_signal.beats import (
    EctopicFilter,
    RateLimits,
    RhythmMonitor,
    RrClass,
    average_hr_bpm,
    binned_hr_bpm,
    check_beat_times,
    classify_rr,
    clean_rr,
    instantaneous_hr_bpm,
)
from telemed_signal.findings import Finding, Severity

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _beats(*segments: tuple[float, int]) -> npt.NDArray[np.float64]:
    """Beat times from (rr_s, n_intervals) segments, starting at 0."""
    rr = np.concatenate([np.full(n, rr_s) for rr_s, n in segments])
    return np.concatenate(([0.0], np.cumsum(rr)))


def _at(t_s: float) -> datetime:
    return T0 + timedelta(seconds=float(t_s))


@pytest.mark.parametrize(
    "bad", [[0.0, np.nan], [1.0, 0.5], [1.0, 1.0], [[0.0, 1.0], [2.0, 3.0]], [0.0, np.inf]]
)
def test_invalid_beat_times_raise(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        check_beat_times(np.asarray(bad))


def test_heart_rates_from_beat_times() -> None:
    t = np.array([0.0, 1.0, 1.5, 2.5, 3.0])
    assert instantaneous_hr_bpm(t) == pytest.approx([60.0, 120.0, 60.0, 120.0])
    # Averaged over the last 2 intervals: 2 intervals in 1.5 s is 80 bpm.
    assert average_hr_bpm(t, n_intervals=2) == pytest.approx([60.0, 80.0, 80.0, 80.0])
    assert average_hr_bpm(np.array([5.0])).size == 0


def test_binned_heart_rate_leaves_gaps_as_nan() -> None:
    t = np.concatenate((np.arange(0.0, 60.0, 1.0), np.arange(180.0, 240.0, 0.5)))
    start, hr = binned_hr_bpm(t, window_s=60.0)
    assert list(start) == [0.0, 60.0, 120.0, 180.0]
    assert hr[0] == pytest.approx(60.0)
    assert np.isnan(hr[1]) and np.isnan(hr[2])  # no beat ended there: a gap, never 0 bpm
    # The 121 s interval ending at 180 s belongs to the window of its ending beat.
    assert hr[3] == pytest.approx(60.0 * 120 / (121.0 + 119 * 0.5))
    with pytest.raises(ValueError):
        binned_hr_bpm(t, window_s=0.0)


def test_premature_beat_and_its_compensatory_pause_are_flagged_not_their_neighbours() -> None:
    rr = [0.8] * 6 + [0.5, 1.1] + [0.8] * 3 + [1.6, 0.8, 0.1, 0.8]
    labels = classify_rr(rr)
    assert labels[6] == RrClass.PREMATURE and labels[7] == RrClass.COMPENSATORY
    assert labels[11] == RrClass.LONG  # a missed beat, not after a premature one
    assert labels[13] == RrClass.ARTEFACT
    normal = np.ones(len(rr), dtype=bool)
    normal[[6, 7, 11, 13]] = False
    assert np.all(labels[normal] == RrClass.NORMAL)


def test_nn_series_replaces_ectopic_intervals_by_the_local_median() -> None:
    t = np.concatenate(([0.0], np.cumsum([0.8] * 6 + [0.5, 1.1] + [0.8] * 4)))
    series = clean_rr(t)
    assert series.nn_s == pytest.approx(np.full(12, 0.8))
    assert series.is_nn.sum() == 10


def test_rule_adapts_to_a_genuine_change_of_rate_within_three_beats() -> None:
    labels = classify_rr([1.0] * 10 + [0.7] * 10)
    assert np.all(labels[13:] == RrClass.NORMAL)


def test_ectopic_filter_streams_like_one_call() -> None:
    rng = np.random.default_rng(0)
    rr = 0.8 + rng.normal(0, 0.12, 300)
    rr = np.clip(rr, 0.3, 2.0)
    whole = EctopicFilter().process(rr)
    f, labels = EctopicFilter(), []
    for chunk in np.array_split(rr, 37):
        labels.append(f.process(chunk).label)
        f = EctopicFilter.from_state(json.loads(json.dumps(f.to_state())))
    assert np.array_equal(np.concatenate(labels), whole.label)


def _only(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def test_pause_is_reported_with_its_length_and_asystole_is_high() -> None:
    t = _beats((1.0, 20), (3.5, 1), (1.0, 20), (5.0, 1), (1.0, 20))
    findings = _only(RhythmMonitor("p", T0).process(t), "pause")
    assert [(f.start, f.end, f.severity) for f in findings] == [
        (_at(20), _at(23.5), Severity.MEDIUM),
        (_at(43.5), _at(48.5), Severity.HIGH),
    ]
    assert findings[1].values == {"pause_s": 5.0, "asystole": True}


def test_ongoing_pause_is_reported_while_it_lasts_then_closed() -> None:
    monitor = RhythmMonitor("p", T0)
    assert monitor.process(_beats((1.0, 10))) == []
    assert monitor.process([], now_s=12.0) == []
    (pause,) = monitor.process([], now_s=13.2)
    assert pause.end is None and pause.severity == Severity.MEDIUM
    assert monitor.process([], now_s=13.5) == []  # nothing new to say
    (asystole,) = monitor.process([], now_s=14.1)
    assert asystole.severity == Severity.HIGH and asystole.start == pause.start
    (closed,) = monitor.process([16.0])
    assert closed.end == _at(16.0) and closed.values["pause_s"] == 6.0


def test_bradycardia_episode_has_onset_and_end_with_its_duration() -> None:
    t = _beats((1.0, 60), (60 / 45, 30), (1.0, 60))
    brady = _only(RhythmMonitor("p", T0).process(t), "bradycardia")
    onset, end = brady
    assert onset.end is None and end.end is not None and onset.start == end.start
    assert end.severity == Severity.MEDIUM and end.values["hr_bpm"] == pytest.approx(45.0)
    assert 30.0 < end.values["duration_s"] < 45.0  # 40 s at 45 bpm, less the averaging lag
    assert abs((end.start - _at(60.0)).total_seconds()) < 8.0


def test_extreme_tachycardia_is_high() -> None:
    t = _beats((0.8, 60), (0.4, 100), (0.8, 60))
    (onset, end) = _only(RhythmMonitor("p", T0).process(t), "tachycardia")
    assert end.severity == Severity.HIGH and end.values["hr_bpm"] == pytest.approx(150.0)


def test_short_excursions_and_chatter_around_the_limit_give_no_episode() -> None:
    short = _beats((1.0, 30), (60 / 45, 5), (1.0, 30))  # under 10 s below 50 bpm
    assert _only(RhythmMonitor("p", T0).process(short), "bradycardia") == []
    rr = np.tile([60 / 49, 60 / 51.5], 60)  # hovers within the 3 bpm hysteresis
    t = np.concatenate(([0.0], np.cumsum(np.concatenate((np.full(20, 1.0), rr)))))
    brady = _only(RhythmMonitor("p", T0).process(t), "bradycardia")
    assert len(brady) <= 2  # one episode at most (onset and end), never a flurry


def test_monitor_gives_the_same_findings_in_chunks_and_after_checkpoints() -> None:
    t = _beats((1.0, 60), (60 / 38, 30), (1.0, 30), (4.5, 1), (0.45, 80), (1.0, 30))
    expected = RhythmMonitor("p", T0).process(t)
    monitor, got = RhythmMonitor("p", T0), []
    for chunk in np.array_split(t, 41):
        got += monitor.process(chunk)
        monitor = RhythmMonitor.from_state(json.loads(json.dumps(monitor.to_state())))
    # Closed episodes are identical; an ongoing report says what was known when it was made.
    closed = [f for f in expected if f.end is not None]
    assert [f for f in got if f.end is not None] == closed
    assert {(f.kind, f.start) for f in got} == {(f.kind, f.start) for f in expected}
    assert {f.kind for f in closed} == {"bradycardia", "pause", "tachycardia"}


def test_monitor_rejects_out_of_order_beats_and_naive_times() -> None:
    monitor = RhythmMonitor("p", T0)
    monitor.process([1.0, 2.0])
    with pytest.raises(ValueError):
        monitor.process([2.0])
    with pytest.raises(ValueError):
        RhythmMonitor("p", datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        RateLimits(brady_bpm=130.0)
