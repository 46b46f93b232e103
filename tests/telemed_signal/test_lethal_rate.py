"""Extreme tachycardia from the quality-weighted median rate of all channels (lethal_rate), and
how long rate episodes last (lethal_rules)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from telemed_signal.lethal_rate import tachycardia, weighted_median
from telemed_signal.lethal_rules import Evidence, LeadView, LethalParams, PulseView
from telemed_signal.lethal_slow import bradycardia

FloatArray = npt.NDArray[np.float64]
NOW_S = 60.0


def _lead(name: str, hr_bpm: float, alike: float = 0.95, usable: bool = True) -> LeadView:
    t = np.arange(NOW_S - 24.0, NOW_S, 60.0 / hr_bpm)
    beats = np.column_stack(
        (
            t,
            np.ones_like(t),
            np.full_like(t, 0.08),
            np.full_like(t, 0.95),
            np.full_like(t, alike),
            np.zeros_like(t),
        )
    )
    return LeadView(name, beats, np.zeros((0, 5)), lambda a, b: usable, lambda t, now: None, 1.0)


def _pulse(name: str, hr_bpm: float) -> PulseView:
    t = np.arange(NOW_S - 24.0, NOW_S, 60.0 / hr_bpm) + 0.25
    return PulseView(name, np.column_stack((t, np.ones_like(t), t - 0.1, t + 0.1)))


def _evidence(leads: list[LeadView], pulses: list[PulseView]) -> Evidence:
    return Evidence(leads, pulses, NOW_S, LethalParams(tachy_tolerance=0.05))


def test_one_lead_counting_artefact_is_outvoted_by_a_clean_lead_and_the_pulse() -> None:
    ev = _evidence([_lead("II", 200.0, alike=0.3), _lead("V", 80.0)], [_pulse("PLETH", 80.0)])
    assert tachycardia(ev) is None


def test_a_lead_that_halves_a_fast_rhythm_does_not_hide_it() -> None:
    ev = _evidence([_lead("II", 75.0), _lead("V", 150.0)], [_pulse("ABP", 150.0)])
    event = tachycardia(ev)
    assert event is not None and event.values["hr_bpm"] > 140.0
    assert event.values["channel_hr_bpm"]["II"] < 80.0


def test_an_unusable_lead_carries_no_weight() -> None:
    ev = _evidence([_lead("II", 180.0, usable=False, alike=0.2), _lead("V", 90.0)], [])
    assert tachycardia(ev) is None


def test_the_tolerance_sets_the_limit() -> None:
    leads, pulses = [_lead("II", 125.0), _lead("V", 125.0)], [_pulse("PLETH", 125.0)]
    assert tachycardia(_evidence(leads, pulses)) is None
    wide = Evidence(leads, pulses, NOW_S, LethalParams(tachy_tolerance=0.15))
    event = tachycardia(wide)
    assert event is not None and "within the 15 % tolerance" in event.explanation


def test_weighted_median_averages_an_even_split() -> None:
    assert weighted_median(np.array([100.0, 180.0]), np.array([1.0, 1.0])) == 140.0
    assert weighted_median(np.array([100.0, 180.0, 90.0]), np.array([1.0, 0.5, 1.0])) == 100.0


def _lead_at(name: str, t: FloatArray) -> LeadView:
    ones = np.ones_like(t)
    beats = np.column_stack((t, ones, 0.08 * ones, 0.95 * ones, 0.95 * ones, 0 * ones))
    return LeadView(name, beats, np.zeros((0, 5)), lambda a, b: True, lambda t, now: None, 1.0)


def test_the_episode_lasts_to_the_latest_run_over_the_limit_not_its_fastest() -> None:
    """A burst at 170 bpm, then a rate just over the limit up to now: the episode is still on
    (its fastest run ended 14 s ago, before an alarm window of the last 10 s)."""
    fast = np.arange(NOW_S - 24.0, NOW_S - 14.0, 60.0 / 170.0)
    t = np.concatenate((fast, np.arange(fast[-1] + 60.0 / 145.0, NOW_S, 60.0 / 145.0)))
    event = tachycardia(_evidence([_lead_at("II", t), _lead_at("V", t)], []))
    assert event is not None and event.values["hr_bpm"] > 165.0
    assert event.start_s < NOW_S - 14.0 and event.end_s > NOW_S - 1.0


def test_a_bradycardia_episode_lasts_to_the_latest_slow_run() -> None:
    """The slowest five beats (30 bpm) come first, then a faster stretch, then five beats at
    40 bpm ending now: the episode is still on at the end."""
    t = np.concatenate(
        (np.arange(40.0, 48.1, 2.0), np.arange(48.8, 53.0, 0.8), np.arange(53.5, NOW_S, 1.5))
    )
    event = bradycardia(_evidence([_lead_at("II", t), _lead_at("V", t)], []))
    assert event is not None and event.values["hr_bpm"] == 30.0
    assert event.start_s == 40.0 and event.end_s == t[-1]
