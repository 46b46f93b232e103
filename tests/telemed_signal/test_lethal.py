"""Life-threatening arrhythmia detection on real ICU alarms (PhysioNet/CinC Challenge 2015).

CI runs a fixed representative subset, 12 of the 62 development alarms (true and false of each
type, chosen among the hard cases: a false asystole with artefact, a paced true asystole, a
VT run missed by the R-peak detector, a VF during CPR ...), each of which the method gets
right today, plus the behaviour tests; ``bench/bench_lethal.py`` scores all 62 (92.4 overall,
real time). All of them are among the recordings the project carries (``tests/data/physionet``).
"""

from __future__ import annotations

import pickle
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.special import expit

from telemed_signal.lethal import (
    LethalArrhythmiaMonitor,
    confirm_alarm,
)
from telemed_signal.lethal_ecg import vf_window
from telemed_signal.lethal_pulse import PulseDetector, detect_pulses
from tests import physionet

FloatArray = npt.NDArray[np.float64]
ALARM_S = 300.0
TYPES = {
    "Asystole": "asystole",
    "Bradycardia": "extreme_bradycardia",
    "Tachycardia": "extreme_tachycardia",
    "Ventricular_Tachycardia": "ventricular_tachycardia",
    "Ventricular_Flutter_Fib": "ventricular_flutter_fib",
}
#: (record, alarm, truth): two or three of each type, true and false, the hard ones.
SUBSET = (
    ("a103l", "asystole", False),  # ECG artefact bursts, the PLETH keeps beating
    ("a639l", "asystole", True),  # paced; artefact bumps in II during the pause
    ("a446s", "asystole", True),  # the PLETH is a dead sensor's digital ripple
    ("b125l", "extreme_bradycardia", True),  # 41 bpm over 5 beats, within tolerance
    ("b339l", "extreme_bradycardia", False),
    ("t817l", "extreme_tachycardia", False),  # tall T waves counted twice in one lead
    ("t709l", "extreme_tachycardia", True),  # fast AF with a pulse deficit
    ("v758s", "ventricular_tachycardia", True),  # run missed by the R-peak detector
    ("v452s", "ventricular_tachycardia", False),  # one lead of noise, the other clean
    ("v475l", "ventricular_tachycardia", False),  # both leads noisy, no pulse
    ("f120s", "ventricular_flutter_fib", False),  # VT with a pulse
    ("f697l", "ventricular_flutter_fib", True),  # VF during CPR, after a shock
)


@cache
def _record(name: str) -> tuple[dict[str, FloatArray], float, str, bool]:
    """Signals by WFDB name, fs, alarm type and truth of one Challenge 2015 record."""
    import wfdb

    rec = wfdb.rdrecord(str(physionet.record("challenge2015", name)))
    signals = {
        s: np.asarray(rec.p_signal[:, i], dtype=np.float64) for i, s in enumerate(rec.sig_name)
    }
    return signals, float(rec.fs), TYPES[rec.comments[0]], rec.comments[1].startswith("True")


@pytest.mark.parametrize(("name", "alarm", "truth"), SUBSET)
def test_confirm_alarm_on_hard_development_alarms(name: str, alarm: str, truth: bool) -> None:
    signals, fs, kind, label = _record(name)
    assert (kind, label) == (alarm, truth)
    assert confirm_alarm(signals, fs, alarm, ALARM_S) is truth


#: The tachycardia alarms of the benches' fixed holdout (bench/_protocol.py, by name hash): the
#: score test below leaves them out so that their score stays unseen until bench_lethal.py
#: --holdout reports it once. (t709l and t817l, in SUBSET above since before the holdout was
#: drawn, are the exception: their two outcomes are exposed.)
TACHY_HOLDOUT = frozenset("t357l t567l t577l t700s t709l t719l t741l t747l t790s t817l".split())
#: Challenge score on the 40 development tachycardia alarms outside the holdout (ALARMS and
#: ALARMS-2): the fused rate with the cross-validated tolerance, an episode lasting to its latest
#: run over the limit, measures 100 (TP 35, TN 5; 79.2 when the episode ended with its fastest
#: run, 53.1 with one lead's rate); the floor sits 3 points under it, so one miss fails.
TACHY_MEASURED = 100.0
TACHY_FLOOR = TACHY_MEASURED - 3.0


def _index(name: str) -> list[tuple[str, str, bool]]:
    lines = physionet.full("challenge2015", name).read_text().split()
    return [(r, TYPES[k], t == "1") for r, k, t in (x.split(",") for x in lines)]


def test_extreme_tachycardia_score_on_the_development_tachycardia_alarms() -> None:
    alarms = [a for a in _index("ALARMS") + _index("ALARMS-2") if a[1] == "extreme_tachycardia"]
    alarms = [a for a in alarms if a[0] not in TACHY_HOLDOUT]
    assert len(alarms) == 40
    c = {"TP": 0, "TN": 0, "FP": 0, "FN": 0}
    for name, alarm, truth in alarms:
        signals, fs, _, _ = _record.__wrapped__(name)  # not kept: 50 records
        said = confirm_alarm(signals, fs, alarm, ALARM_S)
        c[("TP" if said else "FN") if truth else ("FP" if said else "TN")] += 1
    score = 100 * (c["TP"] + c["TN"]) / (c["TP"] + c["TN"] + c["FP"] + 5 * c["FN"])
    assert score >= TACHY_FLOOR, c


def test_no_sample_after_the_alarm_is_used() -> None:
    signals, fs, kind, _ = _record("a754s")
    cut = int(ALARM_S * fs)
    scrambled = {k: v.copy() for k, v in signals.items()}
    rng = np.random.default_rng(1)
    for v in scrambled.values():
        v[cut:] = rng.normal(0.0, 1.0, v.size - cut)
    assert confirm_alarm(signals, fs, kind, ALARM_S)
    assert confirm_alarm(scrambled, fs, kind, ALARM_S)


def test_unknown_alarm_type_is_refused() -> None:
    with pytest.raises(ValueError, match="alarm must be one of"):
        confirm_alarm({"II": np.zeros(2500)}, 250.0, "pause", 10.0)


def _window(name: str, a_s: float, b_s: float) -> tuple[dict[str, FloatArray], float]:
    signals, fs, _, _ = _record(name)
    lo, hi = int(a_s * fs), int(b_s * fs)
    return {k: v[lo:hi] for k, v in signals.items()}, fs


def _run(
    monitor: LethalArrhythmiaMonitor, signals: dict[str, FloatArray], chunk: int
) -> list[tuple[str, object, object]]:
    n = next(iter(signals.values())).size
    out = []
    for i in range(0, n, chunk):
        found = monitor.process({k: v[i : i + chunk] for k, v in signals.items()})
        out += [(f.kind, f.start, f.end) for f in found]
    return out


def test_findings_do_not_depend_on_chunking() -> None:
    signals, fs = _window("v758s", 240.0, 300.0)
    one = _run(LethalArrhythmiaMonitor(list(signals), fs), signals, int(fs))
    odd = _run(LethalArrhythmiaMonitor(list(signals), fs), signals, 97)
    assert one == odd
    assert any(kind == "ventricular_tachycardia" for kind, _, _ in one)


def _paused_ecg(fs: float) -> FloatArray:
    """40 s of synthetic ECG at 75 bpm with six seconds without QRS (24.5 to 31.3 s)."""
    t = np.arange(int(40 * fs)) / fs
    ecg = np.random.default_rng(0).normal(0.0, 0.01, t.size)
    for b in np.arange(0.5, 40.0, 0.8):
        if not 25.0 < b < 31.0:
            ecg += 1.2 * np.exp(-0.5 * ((t - b) / 0.012) ** 2)
    return ecg


def test_evaluate_between_hops_uses_every_sample_received() -> None:
    fs = 250.0
    ecg = _paused_ecg(fs)
    monitor = LethalArrhythmiaMonitor(["II"], fs)
    _run(monitor, {"II": ecg[: int(28.5 * fs)]}, int(0.25 * fs))
    assert monitor.now_s == 28.5
    monitor.evaluate()
    ongoing = [(s, e) for kind, s, e, live in monitor.episodes() if kind == "asystole" and live]
    assert ongoing and ongoing[0][1] == 28.5


def test_small_chunks_give_the_findings_of_one_second_chunks() -> None:
    fs = 130.0  # a Polar H10 sends ~73 samples at a time
    ecg = _paused_ecg(fs)
    one = _run(LethalArrhythmiaMonitor(["ECG"], fs), {"ECG": ecg}, int(fs))
    small = _run(LethalArrhythmiaMonitor(["ECG"], fs), {"ECG": ecg}, 73)
    assert small == one
    assert any(kind == "asystole" for kind, _, _ in one)


def test_a_monitor_checkpointed_inside_a_hop_resumes_identically() -> None:
    fs = 130.0
    ecg = _paused_ecg(fs)
    half = 73 * 40  # 22.46 s: the first samples of a hop are held, not yet analysed
    expected = _run(LethalArrhythmiaMonitor(["ECG"], fs), {"ECG": ecg}, 73)
    first = LethalArrhythmiaMonitor(["ECG"], fs)
    got = _run(first, {"ECG": ecg[:half]}, 73)
    resumed = pickle.loads(pickle.dumps(first))
    got += _run(resumed, {"ECG": ecg[half:]}, 73)
    assert got == expected and expected


def test_a_checkpointed_monitor_resumes_identically() -> None:
    signals, fs = _window("a754s", 240.0, 300.0)
    n, half = int(60 * fs), int(30 * fs)
    straight = LethalArrhythmiaMonitor(list(signals), fs)
    expected = _run(straight, signals, int(fs))
    first = LethalArrhythmiaMonitor(list(signals), fs)
    got = _run(first, {k: v[:half] for k, v in signals.items()}, int(fs))
    resumed = pickle.loads(pickle.dumps(first))
    got += _run(resumed, {k: v[half:n] for k, v in signals.items()}, int(fs))
    assert got == expected
    assert any(kind == "asystole" and end is None for kind, _, end in expected)


def test_asystole_finding_says_why() -> None:
    signals, fs = _window("a754s", 240.0, 300.0)
    monitor = LethalArrhythmiaMonitor(list(signals), fs, patient_id="p1")
    findings = [f for f in monitor.process(signals) if f.kind == "asystole"]
    assert findings, "the true asystole of a754s was not found"
    f = findings[-1]
    assert f.patient_id == "p1" and f.start.tzinfo is not None
    assert f.values["pause_s"] >= 3.5 and f.values["limit_s"] == 4.0
    assert {"II", "V", "ABP"} <= set(f.values["channels"])
    assert "No QRS" in f.explanation and "ABP" in f.explanation


def test_a_flat_ecg_is_a_lead_off_not_an_asystole() -> None:
    fs = 250.0
    t = np.arange(int(40 * fs)) / fs
    ecg = np.zeros_like(t)
    for beat in np.arange(0.5, 20.0, 0.8):
        ecg += 1.2 * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
    ecg[t >= 20.0] = ecg[int(20.0 * fs) - 1]  # the electrode falls off: a dead-flat line
    ecg += np.where(t < 20.0, np.random.default_rng(0).normal(0, 0.01, t.size), 0.0)
    monitor = LethalArrhythmiaMonitor(["II"], fs)
    found = _run(monitor, {"II": ecg}, int(fs))
    assert not any(kind == "asystole" for kind, _, _ in found)


def test_a_pause_with_a_beating_pulse_is_not_an_asystole() -> None:
    fs = 250.0
    t = np.arange(int(40 * fs)) / fs
    beats = np.arange(0.5, 40.0, 0.8)
    rng = np.random.default_rng(0)
    ecg = rng.normal(0.0, 0.01, t.size)
    ppg = np.zeros_like(t)
    for b in beats:
        if not 25.0 < b < 31.0:  # six seconds without QRS in the ECG only
            ecg += 1.2 * np.exp(-0.5 * ((t - b) / 0.012) ** 2)
        rise = expit((t - b - 0.25) / 0.03)
        ppg += 2.0 * rise * np.exp(-np.clip(t - b - 0.25, 0, None) / 0.35)
    ppg += rng.normal(0.0, 0.002, t.size)
    alone = _run(LethalArrhythmiaMonitor(["II"], fs), {"II": ecg}, int(fs))
    both = _run(LethalArrhythmiaMonitor(["II", "PLETH"], fs), {"II": ecg, "PLETH": ppg}, int(fs))
    assert any(kind == "asystole" for kind, _, _ in alone)
    assert not any(kind == "asystole" for kind, _, _ in both)


def test_pulse_detector_counts_every_arterial_pulse() -> None:
    signals, fs, _, _ = _record("b841l")  # regular sinus rhythm at 60 bpm, clean ABP
    pulses = detect_pulses(signals["ABP"][: int(120 * fs)], fs)
    ibi = np.diff(pulses.t_s)
    assert 118 <= len(pulses) <= 122
    assert np.mean((ibi > 0.9) & (ibi < 1.1)) > 0.97
    assert np.median(pulses.peak - pulses.foot) > 30.0  # mmHg: a real pulse pressure


def test_dead_sensor_ripple_is_not_a_pulse() -> None:
    fs = 250.0
    n = int(20 * fs)
    # Alternating ADC codes with a slow drift of one code: periodic, but a few levels only.
    code = 14940 + (np.arange(n) % 2) * 15 + np.round(np.sin(2 * np.pi * 2.5 * np.arange(n) / fs))
    det = PulseDetector(fs)
    found = det.process(code / 5889.0)
    assert len(found) == 0


def test_fibrillation_scores_unlike_a_qrs_train() -> None:
    fs = 250.0
    t = np.arange(int(4 * fs)) / fs
    rng = np.random.default_rng(0)
    vf = np.sin(2 * np.pi * 5.0 * t + 0.3 * np.cumsum(rng.normal(0, 0.05, t.size)))
    qrs = np.zeros_like(t)
    for b in np.arange(0.3, 4.0, 0.8):
        qrs += np.exp(-0.5 * ((t - b) / 0.012) ** 2)
    qrs -= qrs.mean()
    f, q = vf_window(vf, fs), vf_window(qrs, fs)
    assert f.leakage < 0.4 < q.leakage
    assert f.tcsc > 0.5 > 0.2 > q.tcsc
    assert 4.0 < f.fdom_hz < 6.0


def test_explanations_name_the_tolerance_when_a_rate_is_within_it() -> None:
    from telemed_core.explanations import english
    from telemed_signal.lethal_slow import _limit

    def text(clause: dict[str, Any]) -> str:  # the clause as the English sentence carries it
        return english(clause["key"], clause["args"])

    assert text(_limit(41.0, 40.0, 0.1, above=False)) == (
        "limit 40 bpm, within the 10 % beat-timing tolerance"
    )
    assert text(_limit(35.0, 40.0, 0.1, above=False)) == "limit 40 bpm"
    assert text(_limit(131.0, 140.0, 0.1, above=True)).endswith("tolerance")
    assert text(_limit(150.0, 140.0, 0.1, above=True)) == "limit 140 bpm"
