"""Decision rules of the life-threatening arrhythmia detectors: pure functions on evidence.

Each rule looks at the recent evidence of every channel (the beats and 4 s windows of each ECG
lead from :mod:`telemed_signal.lethal_ecg`, the pulses of each pulse waveform from
:mod:`telemed_signal.lethal_pulse`) and returns the :class:`Event` it finds, or None. The
alarm definitions are those of the PhysioNet/CinC Challenge 2015 (Clifford et al. 2015):

* asystole: no QRS for >= 4 s;
* extreme bradycardia: heart rate < 40 bpm for 5 consecutive beats;
* extreme tachycardia: heart rate > 140 bpm for 17 consecutive beats;
* ventricular tachycardia: >= 5 consecutive ventricular beats at a rate > 100 bpm;
* ventricular flutter/fibrillation: a fibrillatory, flutter or oscillatory waveform >= 4 s.

This module holds the shared evidence; the rules are in :mod:`telemed_signal.lethal_slow`
(asystole, extreme bradycardia), :mod:`telemed_signal.lethal_rate` (extreme tachycardia) and
:mod:`telemed_signal.lethal_ventricular` (VT, VF). How the channels are combined, after the
multimodal entries of the Challenge (Plesinger et al. 2016; Fallet et al. 2016) and the
quality-gated fusion of Johnson et al. (2015):

* ECG first. A lead counts only where its signal-quality index
  (:func:`telemed_signal.ecg_quality.ecg_sqi`, 2 s windows) is at least 0.5 (not missing,
  flat, clipped, noisy or wandering). Asystole and bradycardia use the union of the beats of
  all leads (a beat missed in one lead is found in another), keeping only surely-QRS beats
  (:attr:`Evidence.confirmed`); tachycardia,
  VT and VF are judged lead by lead, and a second usable lead that plainly contradicts (a
  quarter fewer beats, dominant-morphology beats, an organised quiet baseline) cancels them:
  an artefact rarely looks the same in two leads, a rhythm always does.
* Then the pulse. A pulse channel is trusted at a time when, in the 10 s before, it beat
  regularly and in step with the ECG or with another pulse waveform
  (:func:`Evidence.pulse_reference`). A trusted channel
  that keeps beating at >= 30 % of its usual upstroke through an asystole (>= 50 % through a
  fibrillation), or shows two more beats than the ECG over a bradycardia, vetoes the event:
  a real asystole or fibrillation has no pulse wave. Tachycardia is not vetoed by the pulse
  (a pulse deficit is common in fast atrial fibrillation); VT only by a pulse that keeps its
  rhythm and height through the run (:mod:`telemed_signal.lethal_ventricular`).

Tolerances (ours, one each, not fitted record by record): the monitor raises its alarm the
moment its own criterion is met and our beat times differ from its own, so the duration
criterion is applied 0.5 s short (asystole >= 3.5 s) and the bradycardia rate 5 % wide
(< 42 bpm), within the accuracy asked of heart-rate meters (ANSI/AAMI EC13: +/- 10 % or
5 bpm). The tachycardia and VT rate tolerances are chosen by cross-validation over the
development alarms (``bench/_lethal_cv.py``): the Challenge's annotators confirmed alarms
whose rate we measure well under the limits (``tachy_tolerance`` 22 %: > 109 bpm;
``vt_tolerance`` 20 %: > 80 bpm). A missed true alarm costs five times a false one in the
Challenge score, so ties go to the alarm.

References:
    Clifford GD, Silva I, Moody B, et al. The PhysioNet/Computing in Cardiology Challenge 2015:
    reducing false arrhythmia alarms in the ICU. Computing in Cardiology 42:273-276 (2015).
    Plesinger F, Klimes P, Halamek J, Jurak P. Taming of the monitors: reducing false alarms in
    intensive care units. Physiol Meas 37(8):1313-1325 (2016).
    Fallet S, Yazdani S, Vesin JM. False arrhythmia alarms reduction in the intensive care
    unit: a multimodal approach. Physiol Meas 37(8):1217-1232 (2016).
    Johnson AEW, Behar J, Andreotti F, Clifford GD, Oster J. Multimodal heart beat detection
    using signal quality indices. Physiol Meas 36(8):1665-1677 (2015).
    ANSI/AAMI EC13: Cardiac monitors, heart rate meters, and alarms (2002).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from telemed_core.explanations import note

FloatArray = npt.NDArray[np.float64]

ALARMS = (
    "asystole",
    "extreme_bradycardia",
    "extreme_tachycardia",
    "ventricular_tachycardia",
    "ventricular_flutter_fib",
)

# Columns of LeadView.beats, LeadView.windows and PulseView.pulses.
T, AMP, WIDTH, CORR, PREV, FOUND = range(6)
W_T, W_LEAK, W_TCSC, W_FDOM, W_PTP = range(5)
P_T, P_HEIGHT, P_FOOT, P_PEAK = range(4)
#: How far back the rules look (s); the monitor keeps at least this much evidence.
LOOKBACK_S = 24.0
#: Two pulse waveforms whose median intervals differ by at most this share beat in step.
PULSE_AGREEMENT = 0.1


@dataclass(frozen=True, slots=True)
class LethalParams:
    """Criteria (Challenge 2015 definitions) and the tolerances of the module docstring."""

    asystole_s: float = 4.0
    duration_tolerance_s: float = 0.5
    brady_bpm: float = 40.0
    brady_beats: int = 5
    tachy_bpm: float = 140.0
    tachy_beats: int = 17
    rate_tolerance: float = 0.05
    tachy_tolerance: float = 0.22
    vt_beats: int = 5
    vt_bpm: float = 100.0
    vt_tolerance: float = 0.2
    vt_pulse_steady: float = 0.15
    vt_pulse_height: float = 0.8
    dominant_amp_fraction: float = 0.5
    valid_amp_fraction: float = 0.25
    dominant_corr: float = 0.8
    run_consistency: float = 0.6
    run_amp_spread: float = 0.15
    vf_leakage: float = 0.55
    vf_tcsc: float = 0.45
    vf_min_ptp_mv: float = 0.1
    organised_tcsc: float = 0.25
    pulse_trust_cv: float = 0.35
    pulse_asystole_fraction: float = 0.3
    pulse_vf_fraction: float = 0.5

    @property
    def asystole_min_s(self) -> float:
        return self.asystole_s - self.duration_tolerance_s

    @property
    def brady_limit_bpm(self) -> float:
        return self.brady_bpm * (1 + self.rate_tolerance)

    @property
    def tachy_limit_bpm(self) -> float:
        return self.tachy_bpm * (1 - self.tachy_tolerance)

    @property
    def vt_limit_bpm(self) -> float:
        return self.vt_bpm * (1 - self.vt_tolerance)


@dataclass(frozen=True, slots=True)
class LeadView:
    """What the rules see of one ECG lead.

    ``beats``: rows (t s, amp mV, width s, corr with the dominant template, corr with the
    previous beat, 1 if recovered by shape matching else 0); ``windows``: rows (end t s,
    VF-filter leakage, TCSC, dominant Hz, peak-to-peak mV); ``usable(a, b)``: the lead's
    quality gate over ``[a, b]`` s; ``deflection_after(t, now)``: time of the first
    QRS-sized deflection after beat time ``t`` not yet reported as a beat, or None;
    ``amp_ref``: the lead's usual QRS amplitude, the 75th percentile over its detected beats
    (mV, 0 without beats).
    """

    name: str
    beats: FloatArray
    windows: FloatArray
    usable: Callable[[float, float], bool]
    deflection_after: Callable[[float, float], float | None]
    amp_ref: float


@dataclass(frozen=True, slots=True)
class PulseView:
    """What the rules see of one pulse waveform: rows (t s, SSF height, foot, peak)."""

    name: str
    pulses: FloatArray


@dataclass(frozen=True, slots=True)
class Event:
    """One alarm condition found: its span on the stream clock, channels and measures."""

    kind: str
    start_s: float
    end_s: float
    channels: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)
    explanation: str = ""
    explanation_key: str = ""
    explanation_args: dict[str, Any] = field(default_factory=dict)


def detected(lead: LeadView) -> FloatArray:
    """The lead's beats reported by the R-peak detector (not recovered by shape matching)."""
    return np.asarray(lead.beats[lead.beats[:, FOUND] == 0], dtype=np.float64)


class Evidence:
    """All channels at one evaluation time, with the quantities several rules share."""

    def __init__(
        self,
        leads: Sequence[LeadView],
        pulses: Sequence[PulseView],
        now_s: float,
        params: LethalParams,
    ) -> None:
        self.leads, self.pulses, self.now_s, self.p = leads, pulses, now_s, params
        self._trust: dict[tuple[str, float], tuple[float, float] | None] = {}
        self._detected: dict[str, FloatArray] = {}

    def detected(self, lead: LeadView) -> FloatArray:
        """:func:`detected` beats of ``lead`` within the look-back (cached)."""
        if lead.name not in self._detected:
            b = lead.beats
            recent = (b[:, FOUND] == 0) & (b[:, T] >= self.now_s - LOOKBACK_S - 10.0)
            self._detected[lead.name] = np.asarray(b[recent], dtype=np.float64)
        return self._detected[lead.name]

    @cached_property
    def confirmed(self) -> FloatArray:
        """Union of the leads' beats that are surely QRS complexes (times in s).

        A beat counts if its QRS reaches ``valid_amp_fraction`` of its lead's usual (75th
        percentile) amplitude and either another lead has a beat within 0.15 s, or it
        resembles its lead's dominant beat (correlation >= 0.5), or it is nearly as large as
        the usual QRS (>= 0.8 of it). Baseline ripple and slow artefact waves picked up by the
        adaptive detector during a pause fail all three.
        """
        times, likes, ids = [], [], []
        for k, lead in enumerate(self.leads):
            b = self.detected(lead)
            if not b.shape[0]:
                continue
            rel = b[:, AMP] / max(lead.amp_ref, 1e-12)
            ok = rel >= self.p.valid_amp_fraction
            like = ~(b[:, CORR] < 0.5) | (rel >= 0.8)  # NaN (template not learnt) counts
            times.append(b[ok, T])
            likes.append(like[ok])
            ids.append(np.full(times[-1].size, k))
        if not times:
            return np.zeros(0)
        t, like = np.concatenate(times), np.concatenate(likes)
        if len(times) > 1:  # a lead's beats are in time order already
            order = np.argsort(t, kind="stable")
            t, like, lead_k = t[order], like[order], np.concatenate(ids)[order]
        if not t.size:
            return t
        starts = np.flatnonzero(np.concatenate(([True], t[1:] - t[:-1] > 0.15)))
        keep = np.logical_or.reduceat(like, starts)
        if len(times) > 1:
            keep |= np.maximum.reduceat(lead_k, starts) > np.minimum.reduceat(lead_k, starts)
        return np.asarray(t[starts[keep]], dtype=np.float64)

    def pulse_reference(self, pv: PulseView, t0: float) -> tuple[float, float] | None:
        """(median SSF height, median interval s) of a pulse channel trusted at ``t0``.

        Trusted: in the 10 s before ``t0`` it beat regularly (>= 3 pulses, interval
        coefficient of variation <= ``pulse_trust_cv``) and in step with the ECG, its median
        pulse interval within 25 % of the median interval of the confirmed beats or of twice
        it (the R-peak detector counting pacemaker spikes or tall T waves as beats), or, where the
        ECG disagrees or shows too few beats, in step with another pulse waveform that beat
        regularly too (median intervals within ``PULSE_AGREEMENT``): an arterial line and a
        finger sensor are independent, so their common rhythm is the heart's, and the one
        ECG lead that lost it is the artefact. A pulse channel that does not follow the heart
        (a dead sensor's ripple, motion) vetoes nothing.
        """
        key = (pv.name, round(t0, 3))
        if key not in self._trust:
            self._trust[key] = self._reference(pv, t0)
        return self._trust[key]

    def _reference(self, pv: PulseView, t0: float) -> tuple[float, float] | None:
        own = _regular_pulse(pv, t0, self.p.pulse_trust_cv)
        if own is None:
            return None
        pulse_s = own[1]
        e = self.confirmed[(self.confirmed >= t0 - 10.0) & (self.confirmed < t0)]
        if e.size >= 3:
            rr_s = float(np.median(np.diff(e)))
            if any(abs(pulse_s / (m * rr_s) - 1.0) <= 0.25 for m in (1.0, 2.0)):
                return own
        for other in self.pulses:  # two pulse waves in step outvote one disagreeing ECG
            o = None if other is pv else _regular_pulse(other, t0, self.p.pulse_trust_cv)
            if o is not None and abs(o[1] / pulse_s - 1.0) <= PULSE_AGREEMENT:
                return own
        return None

    def pulse_through(self, g0: float, g1: float, fraction: float) -> str | None:
        """Name of a trusted pulse channel that kept beating through ``[g0, g1]``, if any.

        The pulse of the last beat before the span arrives up to ~0.8 s after its R peak, so
        pulses count from then on; two of ``fraction`` of the usual height mean the heart
        kept ejecting.
        """
        for pv in self.pulses:
            ref = self.pulse_reference(pv, g0)
            if ref is not None and strong_pulses(pv, g0 + 0.8, g1, fraction * ref[0]).size >= 2:
                return pv.name
        return None

    def pulse_note(self, t0: float) -> dict[str, Any]:
        """How the pulse waveforms bear on an event starting at ``t0``: a clause of its
        explanation (``telemed_core.explanations.note``)."""
        trusted = [pv.name for pv in self.pulses if self.pulse_reference(pv, t0) is not None]
        if trusted:
            return note("note_no_pulse", channels=fmt_names(trusted))
        return note("note_no_usable_pulse") if self.pulses else note("note_end")


def _regular_pulse(pv: PulseView, t0: float, max_cv: float) -> tuple[float, float] | None:
    """(median SSF height, median interval s) of the pulses in the 10 s before ``t0`` if there
    are >= 3 with an interval coefficient of variation <= ``max_cv``, else None."""
    x = pv.pulses
    ref = x[(x[:, P_T] >= t0 - 10.0) & (x[:, P_T] < t0)]
    if ref.shape[0] < 3:
        return None
    ibi = np.diff(ref[:, P_T])
    mean = float(ibi.mean())
    if mean <= 0 or float(ibi.std()) / mean > max_cv:
        return None
    return float(np.median(ref[:, P_HEIGHT])), float(np.median(ibi))


def strong_pulses(pv: PulseView, a: float, b: float, height: float) -> FloatArray:
    """Times of pulses in ``[a, b)`` whose SSF height reaches ``height``."""
    x = pv.pulses
    sel = (x[:, P_T] >= a) & (x[:, P_T] < b) & (x[:, P_HEIGHT] >= height)
    return np.asarray(x[sel, P_T], dtype=np.float64)


def fmt_names(names: Sequence[str]) -> str:
    return ", ".join(names)
