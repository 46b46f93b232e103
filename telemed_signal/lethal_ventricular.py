"""Ventricular tachycardia and ventricular flutter/fibrillation rules (see lethal_rules).

Ventricular tachycardia (>= 5 consecutive ventricular beats faster than 100 bpm): a beat is
ventricular when its QRS differs from the lead's dominant (supraventricular) template,
correlation < 0.8, as in template-matching beat classifiers (Hamilton 2002). A run counts
only if it looks like one rhythm rather than artefact: its complexes resemble each other
(median correlation between successive beats >= 0.6) and have nearly the same size (median
absolute deviation <= 15 % of the median amplitude; a ventricular focus repeats the same
depolarisation, motion artefact does not), its lead is usable, and no other usable lead shows
dominant-morphology beats (correlation >= 0.8 and at least half the lead's usual QRS amplitude,
for most of them) over the same span. Where a pulse waveform is trusted (it beat regularly and in
step with the ECG before the run, :meth:`Evidence.pulse_reference`), the heart's mechanics must
respond: ventricular beats change the filling time and the stroke volume, so the pulse either
follows the faster rate or loses height. A trusted pulse whose every interval through the run
stays within ``vt_pulse_steady`` (15 %) of its usual one and whose every beat keeps
``vt_pulse_height`` (80 %) of its usual height shows an unchanged rhythm: the "run" is a change
of the ECG alone (artefact, lead movement) and is not reported. The rate limit is 100 bpm less
``vt_tolerance``; the tolerance and whether the pulse check runs are chosen by cross-validation
(``bench/_lethal_cv.py``).

Ventricular flutter/fibrillation (a fibrillatory, flutter or oscillatory waveform >= 4 s): a
4 s window is fibrillatory when the VF-filter leakage of Kuo & Dillman (1978) is below 0.55
(a near-sinusoidal waveform passes the notch poorly) and the threshold-crossing sample count
of Arafat et al. (2009) is above 0.45 (the waveform fills the window instead of QRS spikes on
a quiet baseline), at >= 0.1 mV; two consecutive windows (>= 5 s) make an episode. Amann et
al. (2005) found these among the most reliable time-domain VF detectors; the thresholds sit
between the published operating points and our development alarms. A second usable lead with
a quiet baseline (TCSC < 0.25) in the same windows shows organised activity, so the first is
artefact; a trusted pulse beating through at >= half its usual upstroke vetoes (VF has no
output).

References:
    Hamilton P. Open source ECG analysis. Computers in Cardiology 29:101-104 (2002).
    Kuo S, Dillman R. Computer detection of ventricular fibrillation. Computers in Cardiology
    5:347-349 (1978).
    Arafat MA, Chowdhury AW, Hasan MK. A simple time domain algorithm for the detection of
    ventricular fibrillation in electrocardiogram. Signal Image Video Process 5:1-10 (2011).
    Amann A, Tratnig R, Unterkofler K. Reliability of old and new ventricular fibrillation
    detection algorithms for automated external defibrillators. Biomed Eng Online 4:60 (2005).
    Clifford GD et al. The PhysioNet/Computing in Cardiology Challenge 2015: reducing false
    arrhythmia alarms in the ICU. Computing in Cardiology 42:273-276 (2015).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from telemed_core.explanations import explained
from telemed_signal.lethal_rules import (
    AMP,
    CORR,
    P_HEIGHT,
    P_T,
    PREV,
    W_FDOM,
    W_LEAK,
    W_PTP,
    W_T,
    W_TCSC,
    WIDTH,
    Event,
    Evidence,
    LeadView,
    LethalParams,
    T,
)

FloatArray = npt.NDArray[np.float64]


def ventricular_tachycardia(ev: Evidence) -> Event | None:
    """The longest qualifying run of non-dominant beats in the last 20 s (module docstring);
    the event lasts to the end of the latest qualifying run, so a long run a while ago does not
    hide that the rhythm is still going on."""
    p = ev.p
    best: tuple[LeadView, FloatArray, float] | None = None
    last_end = -np.inf
    for lead in ev.leads:
        b = lead.beats[lead.beats[:, T] >= ev.now_s - 20.0]
        odd = np.isfinite(b[:, CORR]) & (b[:, CORR] < p.dominant_corr)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], odd.astype(np.int8), [0]))))
        for lo, hi in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            run = b[lo:hi]
            longer = best is None or run.shape[0] > best[1].shape[0]
            if run.shape[0] < p.vt_beats or not (longer or run[-1, T] > last_end):
                continue
            t0, t1 = float(run[0, T]), float(run[-1, T])
            hr = 60.0 * (run.shape[0] - 1) / (t1 - t0)
            if hr <= p.vt_limit_bpm or not _one_rhythm(run, p) or not lead.usable(t0, t1):
                continue
            if _dominant_elsewhere(ev, lead, t0, t1, p) or _pulse_unperturbed(ev, t0, t1, p):
                continue
            last_end = max(last_end, t1)
            if longer:
                best = (lead, run, hr)
    return None if best is None else _vt_event(best[0], best[1], best[2], last_end, p)


def _vt_event(lead: LeadView, run: FloatArray, hr: float, end_s: float, p: LethalParams) -> Event:
    t0, t1 = float(run[0, T]), float(run[-1, T])
    corr, width = float(np.median(run[:, CORR])), float(np.median(run[:, WIDTH]))
    return Event(
        "ventricular_tachycardia",
        t0,
        max(t1, end_s),
        (lead.name,),
        {
            "beats": int(run.shape[0]),
            "hr_bpm": round(hr, 1),
            "limit_bpm": p.vt_bpm,
            "template_corr": round(corr, 2),
            "width_ms": round(1000 * width),
            "beat_times_s": [round(float(v), 2) for v in run[:, T]],
        },
        **explained(
            "lethal_vt",
            beats=int(run.shape[0]),
            lead=lead.name,
            corr=round(corr, 2),
            width_ms=round(1000 * width),
            hr_bpm=round(hr),
            from_s=round(t0, 1),
            to_s=round(t1, 1),
        ),  # fmt: skip
    )


def _one_rhythm(run: FloatArray, p: LethalParams) -> bool:
    """Successive complexes alike and of nearly one size (module docstring)."""
    prev = run[1:, PREV]
    prev = prev[np.isfinite(prev)]
    if prev.size and float(np.median(prev)) < p.run_consistency:
        return False
    a = run[:, AMP]
    med = float(np.median(a))
    return med > 0 and float(np.median(np.abs(a - med))) <= p.run_amp_spread * med


def _dominant_elsewhere(
    ev: Evidence, lead: LeadView, t0: float, t1: float, p: LethalParams
) -> bool:
    """Another usable lead whose beats over ``[t0, t1]`` mostly match its dominant QRS in
    shape and size (a ventricular complex can keep the dominant shape in one lead, rarely its
    size too)."""
    for other in ev.leads:
        if other is lead or not other.usable(t0, t1):
            continue
        b = other.beats[(other.beats[:, T] >= t0 - 0.15) & (other.beats[:, T] <= t1 + 0.15)]
        b = b[np.isfinite(b[:, CORR])]
        like = (b[:, CORR] >= p.dominant_corr) & (
            b[:, AMP] >= p.dominant_amp_fraction * other.amp_ref
        )
        if b.shape[0] >= 3 and float(np.mean(like)) >= 0.6:
            return True
    return False


def _pulse_unperturbed(ev: Evidence, t0: float, t1: float, p: LethalParams) -> str | None:
    """Name of a trusted pulse channel whose beats through ``[t0, t1]`` (and the transit time
    after it) keep the interval and height they had before, if any (module docstring)."""
    if p.vt_pulse_steady <= 0:
        return None
    for pv in ev.pulses:
        ref = ev.pulse_reference(pv, t0)
        if ref is None:
            continue
        x = pv.pulses
        before = x[x[:, P_T] < t0, P_T]
        span = x[(x[:, P_T] >= t0) & (x[:, P_T] <= t1 + 1.0)]
        if span.shape[0] < 2 or not before.size:
            continue
        intervals = np.diff(np.concatenate((before[-1:], span[:, P_T])))
        steady = float(np.max(np.abs(intervals / ref[1] - 1.0))) <= p.vt_pulse_steady
        if steady and float(span[:, P_HEIGHT].min()) >= p.vt_pulse_height * ref[0]:
            return pv.name
    return None


def fibrillation(ev: Evidence) -> Event | None:
    """The longest run of >= 2 consecutive fibrillatory windows in the last 20 s of a usable
    lead, not contradicted by another lead or a trusted pulse (module docstring)."""
    p = ev.p
    best: Event | None = None
    for lead in ev.leads:
        w = lead.windows[lead.windows[:, W_T] >= ev.now_s - 20.0]
        fib = (
            (w[:, W_LEAK] < p.vf_leakage)
            & (w[:, W_TCSC] > p.vf_tcsc)
            & (w[:, W_PTP] >= p.vf_min_ptp_mv)
        )
        pair = np.flatnonzero(fib[1:] & fib[:-1]) + 1
        if not pair.size:
            continue
        ends = w[pair, W_T]
        t0, t1 = float(ends[0]) - 5.0, float(ends[-1])
        if best is not None and t1 - t0 <= best.values["duration_s"]:
            continue
        if not lead.usable(t0, t1) or _organised_elsewhere(ev, lead, ends, p):
            continue
        if ev.pulse_through(t0, t1, p.pulse_vf_fraction) is not None:
            continue
        sel = w[fib]
        values = {
            "leakage": round(float(np.median(sel[:, W_LEAK])), 2),
            "tcsc": round(float(np.median(sel[:, W_TCSC])), 2),
            "dominant_hz": round(float(np.median(sel[:, W_FDOM])), 1),
            "duration_s": round(t1 - t0, 1),
            "limit_s": 4.0,
        }
        best = Event(
            "ventricular_flutter_fib",
            t0,
            t1,
            (lead.name,),
            values,
            **explained(
                "lethal_vf",
                lead=lead.name,
                duration_s=round(t1 - t0),
                leakage=values["leakage"],
                tcsc=values["tcsc"],
                dominant_hz=values["dominant_hz"],
                pulse_note=ev.pulse_note(t0),
            ),  # fmt: skip
        )
    return best


def _organised_elsewhere(ev: Evidence, lead: LeadView, ends: FloatArray, p: LethalParams) -> bool:
    """Another usable lead with a quiet baseline between complexes in the same windows."""
    for other in ev.leads:
        if other is lead:
            continue
        w = other.windows[np.isin(other.windows[:, W_T], ends)]
        if not w.shape[0] or not other.usable(float(ends[0]) - 4.0, float(ends[-1])):
            continue
        if float(np.mean(w[:, W_TCSC] < p.organised_tcsc)) >= 0.5:
            return True
    return False
