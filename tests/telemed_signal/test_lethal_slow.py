"""Asystole and bradycardia rules (lethal_slow): which pulse waveforms may veto an asystole."""

from __future__ import annotations

import numpy as np

from telemed_signal.lethal_rules import Evidence, LeadView, LethalParams, PulseView
from telemed_signal.lethal_slow import asystole

NOW_S = 60.0


def _lead_stopping_at(stop_s: float) -> LeadView:
    """A lead at 75 bpm whose beats stop at ``stop_s`` (and nothing QRS-sized after)."""
    t = np.arange(NOW_S - 24.0, stop_s, 0.8)
    ones = np.ones_like(t)
    beats = np.column_stack((t, ones, 0.08 * ones, 0.95 * ones, 0.95 * ones, 0 * ones))
    return LeadView("II", beats, np.zeros((0, 5)), lambda a, b: True, lambda t, now: None, 1.0)


def _pulse(name: str, interval_s: float) -> PulseView:
    """Regular full-height pulses over the whole look-back, through the ECG's pause."""
    t = np.arange(NOW_S - 24.0, NOW_S, interval_s) + 0.25
    return PulseView(name, np.column_stack((t, np.ones_like(t), t - 0.1, t + 0.1)))


def _asystole(pulses: list[PulseView]) -> object:
    return asystole(Evidence([_lead_stopping_at(52.0)], pulses, NOW_S, LethalParams()))


def test_two_pulse_waves_in_step_veto_an_asystole_the_ecg_disagrees_with() -> None:
    """PLETH and ABP beat together at 120 bpm through the ECG's 8 s pause: the heart is beating,
    though neither is in step with the ECG's 75 bpm before it."""
    assert _asystole([_pulse("PLETH", 0.5), _pulse("ABP", 0.5)]) is None


def test_one_pulse_wave_out_of_step_with_the_ecg_vetoes_nothing() -> None:
    assert _asystole([_pulse("PLETH", 0.5)]) is not None


def test_two_pulse_waves_out_of_step_with_each_other_veto_nothing() -> None:
    assert _asystole([_pulse("PLETH", 0.5), _pulse("ABP", 0.4)]) is not None


def test_a_pulse_in_step_with_the_ecg_vetoes_alone() -> None:
    assert _asystole([_pulse("PLETH", 0.8)]) is None
