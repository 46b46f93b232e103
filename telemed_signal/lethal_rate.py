"""Extreme tachycardia from a heart rate fused over every channel, weighted by signal quality.

The Challenge 2015 definition is a heart rate above 140 bpm for 17 consecutive beats. One lead
alone misleads both ways: artefact or tall T waves double its count (a false alarm), a lead
whose detector drops every other beat of a fast rhythm halves it (a missed one). So, as the
leading entries did (Fallet et al. 2016: the rate from the best-quality source; Johnson et al.
2015: channels weighted by their signal-quality indices), each channel gives its own rate and
a quality weight, and the alarm rests on their weighted median:

* an ECG lead: the fastest run of ``tachy_beats`` detected beats in the look-back (a lead
  with fewer beats gives its mean rate over the look-back), weighted 1 where the lead is
  usable over the run (:meth:`LeadView.usable`, SQI >= 0.5) and its beats resemble each other
  (median correlation with the previous beat >= ``run_consistency``), 0.5 where only one of
  the two holds, 0 otherwise;
* a pulse waveform (ABP, PLETH): the fastest run of ``tachy_beats`` pulses reaching 30 % of the
  channel's median upstroke, weighted 1 when the run is regular enough to be a pulse train
  (interval coefficient of variation <= ``pulse_trust_cv``), else 0.

The weighted median (the average of the two middle values when the weight splits evenly) is
compared with ``tachy_bpm`` less ``tachy_tolerance``: one lead full of artefact is outvoted by
a clean lead and the pulse, so it can neither hide a true alarm nor invent one. The tolerance
is chosen by grouped cross-validation over the development alarms (``bench/bench_lethal.py``):
the Challenge annotators confirmed alarms whose rate, measured by us, was well under 140 bpm,
and a missed true alarm costs five times a false one.

References:
    Fallet S, Yazdani S, Vesin JM. False arrhythmia alarms reduction in the intensive care
    unit: a multimodal approach. Physiol Meas 37(8):1217-1232 (2016).
    Johnson AEW, Behar J, Andreotti F, Clifford GD, Oster J. Multimodal heart beat detection
    using signal quality indices. Physiol Meas 36(8):1665-1677 (2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from telemed_core.explanations import explained, note
from telemed_signal.lethal_rules import (
    LOOKBACK_S,
    P_HEIGHT,
    P_T,
    PREV,
    Event,
    Evidence,
    LeadView,
    PulseView,
    T,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ChannelRate:
    """One channel's fastest run: rate (bpm), quality weight (0-1), span (s) and beat times;
    ``last_end_s``: the end of its latest run over the limit (s; ``end_s`` if none is)."""

    name: str
    hr_bpm: float
    weight: float
    start_s: float
    end_s: float
    times_s: tuple[float, ...]
    last_end_s: float


def _fastest(t: FloatArray, k: int) -> tuple[float, int]:
    """(rate bpm, first index) of the fastest run of k + 1 beats in ``t``."""
    hr = 60.0 * k / (t[k:] - t[:-k])
    j = int(np.argmax(hr))
    return float(hr[j]), j


def _last_end(t: FloatArray, k: int, limit_bpm: float, j: int) -> float:
    """End time (s) of the latest run of k + 1 beats in ``t`` faster than ``limit_bpm``; the
    end of the run starting at index ``j`` when none is.

    The fastest run can lie seconds before a tachycardia that goes on just over the limit: the
    episode lasts as long as some run still exceeds it, not only as long as its peak.
    """
    over = np.flatnonzero(60.0 * k / (t[k:] - t[:-k]) > limit_bpm)
    return float(t[(int(over[-1]) if over.size else j) + k])


def _fastest_run_bpm(ev: Evidence, lead: LeadView) -> float:
    """The rate (bpm) of the lead's fastest ``tachy_beats`` run in the look-back (0 if none)."""
    k = ev.p.tachy_beats - 1
    t = ev.detected(lead)[:, T]
    t = t[t >= ev.now_s - LOOKBACK_S]
    return _fastest(t, k)[0] if t.size > k else 0.0


def lead_rate(ev: Evidence, lead: LeadView) -> ChannelRate | None:
    """The lead's fastest ``tachy_beats`` run in the look-back and its weight."""
    k, now = ev.p.tachy_beats - 1, ev.now_s
    b = ev.detected(lead)
    b = b[b[:, T] >= now - LOOKBACK_S]
    t = b[:, T]
    if t.size <= k:  # too few beats for a run: its mean rate over the look-back
        weight = 1.0 if lead.usable(now - LOOKBACK_S, now) else 0.0
        hr = 60.0 * max(t.size - 1, 0) / LOOKBACK_S
        return ChannelRate(lead.name, hr, weight, now, now, (), now)
    hr, j = _fastest(t, k)
    lo, hi = float(t[j]), float(t[j + k])
    prev = b[j + 1 : j + k + 1, PREV]
    prev = np.where(np.isnan(prev), 1.0, prev)
    alike = float(np.median(prev)) >= ev.p.run_consistency
    weight = 0.5 * (alike + lead.usable(lo, hi))
    times = tuple(float(v) for v in t[j : j + k + 1])
    return ChannelRate(
        lead.name, hr, weight, lo, hi, times, _last_end(t, k, ev.p.tachy_limit_bpm, j)
    )


def pulse_rate(ev: Evidence, pv: PulseView) -> ChannelRate | None:
    """The pulse channel's fastest ``tachy_beats`` run of strong pulses and its weight."""
    k, now = ev.p.tachy_beats - 1, ev.now_s
    x = pv.pulses[pv.pulses[:, P_T] >= now - LOOKBACK_S]
    if x.shape[0] <= k:
        return None  # a pulse sensor that shows little proves nothing either way
    x = x[x[:, P_HEIGHT] >= 0.3 * float(np.median(x[:, P_HEIGHT]))]
    t = x[:, P_T]
    if t.size <= k:
        return None
    hr, j = _fastest(t, k)
    ibi = np.diff(t[j : j + k + 1])
    regular = float(ibi.std()) <= ev.p.pulse_trust_cv * float(ibi.mean())
    lo, hi = float(t[j]), float(t[j + k])
    times = tuple(float(v) for v in t[j : j + k + 1])
    last = _last_end(t, k, ev.p.tachy_limit_bpm, j)
    return ChannelRate(pv.name, hr, float(regular), lo, hi, times, last)


def weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """The weighted median; the mean of the two middle values when the weight splits evenly."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    c = np.cumsum(w) / w.sum()
    i = int(np.searchsorted(c, 0.5 - 1e-9))
    if abs(c[i] - 0.5) < 1e-9 and i + 1 < v.size:
        return float(0.5 * (v[i] + v[i + 1]))
    return float(v[i])


def tachycardia(ev: Evidence) -> Event | None:
    """Extreme tachycardia from the quality-weighted median rate of all channels (module
    docstring); the event spans the best-weighted fast channel's runs above the limit, from its
    fastest run to its latest one."""
    p = ev.p
    limit = p.tachy_bpm * (1 - p.tachy_tolerance)
    pulse_rates = [r for pv in ev.pulses if (r := pulse_rate(ev, pv)) is not None]
    # No channel with a run over the limit means no alarm whatever the weights (the weighted
    # median cannot exceed the fastest rate): skip the leads' SQI, most of this rule's cost.
    if not any(r.hr_bpm > limit and r.times_s for r in pulse_rates) and not any(
        _fastest_run_bpm(ev, lead) > limit for lead in ev.leads
    ):
        return None
    rates = [r for lead in ev.leads if (r := lead_rate(ev, lead)) is not None]
    rates += pulse_rates
    rates = [r for r in rates if r.weight > 0]
    if not rates:
        return None
    fused = weighted_median(
        np.array([r.hr_bpm for r in rates]), np.array([r.weight for r in rates])
    )
    fast = [r for r in rates if r.hr_bpm > limit and r.times_s]
    if fused <= limit or not fast:
        return None
    lead = max(fast, key=lambda r: (r.weight, r.hr_bpm))
    within = (
        None
        if fused > p.tachy_bpm
        else note("note_within_tolerance", tolerance_pct=round(100 * p.tachy_tolerance, 1))
    )
    return Event(
        "extreme_tachycardia",
        lead.start_s,
        max(lead.end_s, lead.last_end_s),
        tuple(r.name for r in rates),
        {
            "hr_bpm": round(fused, 1),
            "limit_bpm": p.tachy_bpm,
            "beats": p.tachy_beats,
            "beat_times_s": [round(v, 2) for v in lead.times_s],
            "channel_hr_bpm": {r.name: round(r.hr_bpm, 1) for r in rates},
            "channel_weight": {r.name: r.weight for r in rates},
        },
        **explained(
            "lethal_tachycardia",
            hr_bpm=round(float(fused)),
            beats=p.tachy_beats,
            from_s=round(lead.start_s, 1),
            to_s=round(lead.end_s, 1),
            channel_rates=", ".join(f"{r.name} {r.hr_bpm:.0f}" for r in rates),
            limit_bpm=p.tachy_bpm,
            within_note=within,
        ),  # fmt: skip
    )
