"""Ventricular tachycardia: the pulse's response, size across leads, the template after a
fibrillation (lethal_ventricular, lethal_ecg), and the score on every development VT alarm."""

from __future__ import annotations

import math
import random

import numpy as np
import numpy.typing as npt
import pytest

from device_bridge.simulator import synthetic_ecg_beats
from telemed_signal.lethal import LethalArrhythmiaMonitor, confirm_alarm
from telemed_signal.lethal_rules import Event, Evidence, LeadView, LethalParams, PulseView
from telemed_signal.lethal_ventricular import ventricular_tachycardia
from tests import physionet

FloatArray = npt.NDArray[np.float64]
NOW_S = 60.0
RUN = (50.0, 53.0)  # a 150 bpm run of 8 ventricular beats


def _lead(name: str, run_corr: float, run_amp: float = 1.0) -> LeadView:
    """A lead at 75 bpm whose beats in ``RUN`` come at 150 bpm with ``run_corr``/``run_amp``."""
    sinus = np.arange(NOW_S - 24.0, RUN[0], 0.8)
    fast = np.arange(RUN[0], RUN[1] + 0.01, 0.4)
    after = np.arange(RUN[1] + 0.8, NOW_S, 0.8)
    t = np.concatenate((sinus, fast, after))
    in_run = (t >= RUN[0]) & (t <= RUN[1])
    beats = np.column_stack(
        (
            t,
            np.where(in_run, run_amp, 1.0),
            np.where(in_run, 0.14, 0.08),
            np.where(in_run, run_corr, 0.97),
            np.where(in_run, 0.95, np.nan),
            np.zeros_like(t),
        )
    )
    return LeadView(name, beats, np.zeros((0, 5)), lambda a, b: True, lambda t, now: None, 1.0)


def _pulse(follows_run: bool) -> PulseView:
    """An arterial pulse at 75 bpm; through ``RUN`` it either keeps its rhythm and height or
    follows the run with smaller, faster pulses."""
    t = np.arange(NOW_S - 24.0, NOW_S, 0.8) + 0.25
    h = np.ones_like(t)
    if follows_run:
        keep = (t < RUN[0]) | (t > RUN[1] + 0.8)
        fast = np.arange(RUN[0], RUN[1] + 0.01, 0.4) + 0.25
        t = np.concatenate((t[keep], fast))
        h = np.concatenate((h[keep], np.full(fast.size, 0.5)))
        order = np.argsort(t)
        t, h = t[order], h[order]
    return PulseView("ABP", np.column_stack((t, h, t - 0.1, t + 0.1)))


def _confirmed_beats(ev: Evidence) -> None:
    """Let the pulse be trusted: the ECG's confirmed beats follow the 75 bpm rhythm."""
    ev.__dict__["confirmed"] = np.arange(NOW_S - 24.0, NOW_S, 0.8)


def _vt(leads: list[LeadView], pulses: list[PulseView], **params: float) -> object:
    ev = Evidence(leads, pulses, NOW_S, LethalParams(**params))  # type: ignore[arg-type]
    _confirmed_beats(ev)
    return ventricular_tachycardia(ev)


def test_a_run_the_pulse_does_not_feel_is_not_vt() -> None:
    leads = [_lead("II", run_corr=0.1)]
    assert _vt(leads, [_pulse(follows_run=False)]) is None
    assert _vt(leads, [_pulse(follows_run=True)]) is not None


def test_the_pulse_check_can_be_turned_off() -> None:
    leads = [_lead("II", run_corr=0.1)]
    assert _vt(leads, [_pulse(follows_run=False)], vt_pulse_steady=0.0) is not None


def test_without_a_pulse_the_ecg_decides() -> None:
    assert _vt([_lead("II", run_corr=0.1)], []) is not None


def test_a_lead_with_dominant_beats_of_full_size_cancels_the_run() -> None:
    leads = [_lead("II", run_corr=0.1), _lead("V", run_corr=0.9, run_amp=1.0)]
    assert _vt(leads, []) is None


def test_dominant_shaped_beats_a_third_of_the_usual_size_do_not_cancel_it() -> None:
    leads = [_lead("II", run_corr=0.1), _lead("V", run_corr=0.9, run_amp=0.3)]
    assert _vt(leads, []) is not None


def _fibrillation(n: int, rng: random.Random) -> FloatArray:
    """Coarse VF in mV as the device simulator makes it: a 4-6 Hz wave that wanders."""
    f, a, phase, out = 5.0, 0.4, 0.0, np.empty(n)
    for i in range(n):
        f += 0.02 * (5.0 - f) + rng.gauss(0, 0.05)
        a += 0.01 * (0.4 - a) + rng.gauss(0, 0.008)
        phase += 2 * math.pi * f / 130.0
        out[i] = a * math.sin(phase)
    return out


@pytest.mark.parametrize(("vf_s", "hr_bpm", "seed"), [(20, 80.0, 2), (60, 80.0, 1), (60, 100.0, 2)])
def test_the_sinus_rhythm_after_a_fibrillation_is_not_vt(
    vf_s: int, hr_bpm: float, seed: int
) -> None:
    """The template learnt on the fibrillation's first waves made the sinus beats after it
    look ventricular (the simulator's VF scenario raised VT after every episode)."""
    fs = 130
    before, phase = synthetic_ecg_beats(hr_bpm, fs, 60 * fs, 0.0)
    after, _ = synthetic_ecg_beats(hr_bpm, fs, 90 * fs, phase)
    x = np.concatenate(
        (
            np.array(before) / 1000,
            _fibrillation(vf_s * fs, random.Random(seed)),
            np.array(after) / 1000,
        )
    )
    monitor = LethalArrhythmiaMonitor(["ECG"], fs)
    for i in range(0, x.size, fs):
        monitor.process({"ECG": x[i : i + fs]})
    episodes = monitor.episodes()
    assert any(k == "ventricular_flutter_fib" for k, _, _, _ in episodes)
    end_of_vf = 60.0 + vf_s
    assert not [e for e in episodes if e[0] == "ventricular_tachycardia" and e[2] > end_of_vf + 3]


#: The VT alarms of the benches' fixed holdout (bench/_protocol.py, by name hash): no test reads
#: them, so their score stays unseen until bench_lethal.py --holdout reports it once.
VT_HOLDOUT = frozenset(
    "v133l v148s v153l v169l v176s v338s v369l v371l v398s v448s v479l v501l v532s v535l v564s "
    "v579l v619l v646s v711l v804s v826s v827l v846s".split()
)
#: Challenge score on the 91 development VT alarms outside the holdout (ALARMS and ALARMS-2):
#: the shipped settings measure 72.97 (TP 19, TN 62, FP 5, FN 5; 66.7 cross-validated before the
#: 20 % VT tolerance); the floor sits 3 points under it.
VT_MEASURED = 72.97
VT_FLOOR = VT_MEASURED - 3.0


@pytest.mark.slow
def test_ventricular_tachycardia_score_on_the_development_vt_alarms() -> None:
    import wfdb

    types = {"Ventricular_Tachycardia": "ventricular_tachycardia"}
    alarms = []
    for index in ("ALARMS", "ALARMS-2"):
        for line in physionet.full("challenge2015", index).read_text().split():
            name, kind, truth = line.split(",")
            if kind in types and name not in VT_HOLDOUT:
                alarms.append((name, truth == "1"))
    assert len(alarms) == 91
    c = {"TP": 0, "TN": 0, "FP": 0, "FN": 0}
    for name, truth in alarms:
        rec = wfdb.rdrecord(str(physionet.full("challenge2015", name, ext="hea")))
        signals = {s: rec.p_signal[:, i].astype(np.float64) for i, s in enumerate(rec.sig_name)}
        said = confirm_alarm(signals, float(rec.fs), "ventricular_tachycardia", 300.0)
        c[("TP" if said else "FN") if truth else ("FP" if said else "TN")] += 1
    score = 100 * (c["TP"] + c["TN"]) / (c["TP"] + c["TN"] + c["FP"] + 5 * c["FN"])
    assert score >= VT_FLOOR, c


def test_the_episode_lasts_to_the_latest_run_not_only_the_longest() -> None:
    """Ten ventricular beats, sinus, then six more: the event is the longer run but lasts to the
    end of the later one (which an alarm window of the last seconds would otherwise miss)."""
    runs = (np.arange(40.0, 43.7, 0.4), np.arange(52.0, 54.1, 0.4))
    sinus = [np.arange(NOW_S - 24.0, 39.7, 0.8), np.arange(44.4, 51.7, 0.8)]
    t = np.concatenate((sinus[0], runs[0], sinus[1], runs[1], np.arange(54.8, NOW_S, 0.8)))
    odd = np.isin(t, np.concatenate(runs))
    beats = np.column_stack(
        (
            t,
            np.ones_like(t),
            np.where(odd, 0.14, 0.08),
            np.where(odd, 0.1, 0.97),
            np.where(odd, 0.95, np.nan),
            np.zeros_like(t),
        )
    )
    lead = LeadView("II", beats, np.zeros((0, 5)), lambda a, b: True, lambda t, now: None, 1.0)
    event = _vt([lead], [])
    assert isinstance(event, Event) and event.values["beats"] == 10
    assert event.start_s == 40.0 and event.end_s > 53.9
