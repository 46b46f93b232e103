"""The device simulator: spec-exact bytes that the parsers read back, and its scenarios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from device_bridge import polar
from device_bridge.gatt import decode
from device_bridge.simulator import PLX_CONTINUOUS, Faults, SimulatedPatient
from telemed_signal.lethal import LethalArrhythmiaMonitor

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def spo2_series(patient: SimulatedPatient, seconds: int) -> list[float]:
    values = []
    for s in range(seconds):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            if note.characteristic == PLX_CONTINUOUS:
                values += [
                    m.value for m in decode(note.characteristic, note.payload) if m.kind == "spo2"
                ]
    return [v for v in values if v is not None]


def test_every_simulated_notification_parses() -> None:
    patient = SimulatedPatient("p1", seed=3)
    kinds = set()
    for s in range(61):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            if note.characteristic == polar.PMD_DATA_UUID:
                assert len(polar.decode_ecg_frame(note.payload).samples_uv) > 0
            else:
                kinds |= {m.kind.value for m in decode(note.characteristic, note.payload)}
    assert kinds >= {"heart_rate", "rr_interval", "spo2", "pulse_rate", "bp_systolic",
                     "body_temperature", "body_weight", "battery_level"}  # fmt: skip


def test_desaturation_scenario_dips_below_90_after_two_minutes() -> None:
    series = spo2_series(SimulatedPatient("p1", seed=1, scenario="desaturation"), 240)
    assert min(series[:120]) >= 90
    assert max(series[125:200]) < 90


def test_crisis_scenario_measures_crisis_pressures() -> None:
    patient = SimulatedPatient("p1", seed=1, scenario="hypertensive_crisis")
    sbp = [
        m.value
        for note in patient.tick(T0)
        for m in (
            decode(note.characteristic, note.payload)
            if note.characteristic != polar.PMD_DATA_UUID
            else []
        )
        if m.kind == "bp_systolic"
    ]
    assert sbp and sbp[0] is not None and sbp[0] >= 175


def test_garbage_faults_produce_malformed_payloads() -> None:
    patient = SimulatedPatient("p1", seed=2, faults=Faults(garbage_p=1.0))
    notes = patient.tick(T0)
    assert all(len(n.payload) < 4 for n in notes)


def test_unknown_scenarios_are_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        SimulatedPatient("p1", seed=1, scenario="zombie")


def test_simulated_ecg_keeps_a_regular_rhythm_while_the_rate_wanders() -> None:
    import numpy as np

    from telemed_signal.af import detect_af
    from telemed_signal.ecg import detect_r_peaks

    patient = SimulatedPatient("p1", seed=5)
    samples: list[int] = []
    for s in range(180):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            if note.characteristic == polar.PMD_DATA_UUID:
                samples += polar.decode_ecg_frame(note.payload).samples_uv
    beats = detect_r_peaks(np.asarray(samples, dtype=float), polar.ECG_SAMPLE_RATE_HZ)
    assert len(beats) > 150
    assert not detect_af(beats / polar.ECG_SAMPLE_RATE_HZ).any()  # a sinus rhythm is not AF


def test_fibrillation_scenario_is_a_cardiac_arrest_the_hub_recognises() -> None:
    patient = SimulatedPatient("p1", seed=2, scenario="ventricular_fibrillation")
    monitor = LethalArrhythmiaMonitor(["I"], polar.ECG_SAMPLE_RATE_HZ)
    found, pulse_notes = [], 0
    for s in range(240):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            if note.characteristic == polar.PMD_DATA_UUID:
                uv = np.asarray(polar.decode_ecg_frame(note.payload).samples_uv, dtype=float)
                found += [(s, f.kind) for f in monitor.process({"I": uv / 1000.0})]
            elif note.characteristic == PLX_CONTINUOUS and 180 <= s < 210:
                pulse_notes += 1
    fib = [s for s, kind in found if kind == "ventricular_flutter_fib"]
    assert fib and 180 <= fib[0] <= 190, found
    assert not [s for s, kind in found if s < 180]  # sinus rhythm raises nothing
    assert pulse_notes == 0  # the oximeter has lost the pulse


def _ecg_and_notes(
    patient: SimulatedPatient, seconds: int
) -> tuple[list[int], list[tuple[int, str]]]:
    samples: list[int] = []
    notes: list[tuple[int, str]] = []
    for s in range(seconds):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            notes.append((s, note.address.rsplit("-", 1)[-1]))
            if note.characteristic == polar.PMD_DATA_UUID:
                samples += polar.decode_ecg_frame(note.payload).samples_uv
    return samples, notes


def test_af_scenario_is_an_irregular_rhythm_the_af_detector_flags() -> None:
    from telemed_signal.af import detect_af
    from telemed_signal.ecg import detect_r_peaks

    patient = SimulatedPatient("p1", seed=5, scenario="af", scenario_start_s=10)
    samples, _ = _ecg_and_notes(patient, 130)
    beats = detect_r_peaks(np.asarray(samples, dtype=float), polar.ECG_SAMPLE_RATE_HZ)
    flags = detect_af(beats / polar.ECG_SAMPLE_RATE_HZ)
    assert flags[beats > 40 * polar.ECG_SAMPLE_RATE_HZ].mean() > 0.8
    assert not flags[beats < 10 * polar.ECG_SAMPLE_RATE_HZ].any()


def test_asystole_scenario_is_an_asystole_the_hub_recognises() -> None:
    patient = SimulatedPatient("p1", seed=2, scenario="asystole", scenario_start_s=20)
    monitor = LethalArrhythmiaMonitor(["I"], polar.ECG_SAMPLE_RATE_HZ)
    found = []
    for s in range(60):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            if note.characteristic == polar.PMD_DATA_UUID:
                uv = np.asarray(polar.decode_ecg_frame(note.payload).samples_uv, dtype=float)
                found += [(s, f.kind) for f in monitor.process({"I": uv / 1000.0})]
    assert [k for s, k in found if s < 20] == []
    assert "asystole" in [k for s, k in found if 20 <= s <= 35], found


def test_device_offline_battery_low_and_missed_measurement_scenarios() -> None:
    _, offline = _ecg_and_notes(
        SimulatedPatient("p1", 1, scenario="device-offline", scenario_start_s=5), 20
    )
    assert {s for s, dev in offline if dev == "oximeter"} == set(range(5))
    _, missed = _ecg_and_notes(SimulatedPatient("p1", 1, scenario="missed-measurement"), 70)
    assert not [s for s, dev in missed if dev == "cuff"]
    low = SimulatedPatient("p1", 1, scenario="battery-low")
    _ecg_and_notes(low, 120)
    assert low.body.battery_pct < 20


def test_weight_gain_scenario_syncs_two_earlier_days_from_the_scale() -> None:
    patient = SimulatedPatient("p1", 1, scenario="weight-gain", scenario_start_s=3)
    weights = []
    for s in range(4):
        for note in patient.tick(T0 + timedelta(seconds=s)):
            if note.address.endswith("scale") and s == 3:
                weights += decode(note.characteristic, note.payload)
    assert len(weights) == 3
    first, last = weights[0], weights[-1]
    assert round(last.value - first.value, 1) == 2.6
    assert (T0 - first.device_time).days >= 1  # type: ignore[operator]
