"""Asystole and extreme bradycardia rules on the evidence of :mod:`telemed_signal.lethal_rules`
(whose docstring gives the definitions, how the channels are combined and the tolerances).

An episode lasts as long as its condition is still seen, not only over its worst stretch: a
bradycardia's event runs from its slowest run to the end of its latest qualifying run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from telemed_core.explanations import explained, note
from telemed_signal.lethal_rules import Event, Evidence, fmt_names, strong_pulses

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------- asystole


def asystole(ev: Evidence) -> Event | None:
    """The longest pause >= ``asystole_min_s`` between confirmed beats in the last 20 s (or
    since the last one, if nothing QRS-sized has appeared since), seen by a usable lead and
    not contradicted by a trusted pulse channel."""
    p, now = ev.p, ev.now_s
    beats = ev.confirmed[ev.confirmed >= now - 20.0]
    if not beats.size:
        return None
    ends = np.append(beats[1:], now)
    if now - beats[-1] >= p.asystole_min_s:
        hits = [t for lead in ev.leads if (t := lead.deflection_after(beats[-1], now))]
        ends[-1] = min(hits, default=now)
    gaps = ends - beats
    for i in np.argsort(-gaps).tolist():
        g0, g1 = float(beats[i]), float(ends[i])
        if g1 - g0 < p.asystole_min_s:
            return None
        seen = [lead.name for lead in ev.leads if lead.usable(g0, g1)]
        if not seen or ev.pulse_through(g0, g1, p.pulse_asystole_fraction) is not None:
            continue
        ongoing = g1 >= now
        return Event(
            "asystole",
            g0,
            g1,
            tuple(seen) + tuple(pv.name for pv in ev.pulses),
            {
                "pause_s": round(g1 - g0, 2),
                "limit_s": p.asystole_s,
                "ongoing": ongoing,
                "last_beat_s": round(g0, 2),
                "next_beat_s": None if ongoing else round(g1, 2),
            },
            **explained(
                "lethal_asystole",
                pause_s=round(g1 - g0, 1),
                leads=fmt_names(seen),
                ongoing_note=note("note_ongoing") if ongoing else None,
                tolerance_note=note(
                    "note_asystole_tolerance",
                    limit_s=p.asystole_s,
                    tolerance_s=p.duration_tolerance_s,
                )
                if g1 - g0 < p.asystole_s
                else None,
                pulse_note=ev.pulse_note(g0),
            ),  # fmt: skip
        )
    return None


# ---------------------------------------------------------------- bradycardia


def bradycardia(ev: Evidence) -> Event | None:
    """The slowest run of ``brady_beats`` confirmed beats in the last 20 s, if its rate is
    below the limit, a usable lead shows it and no trusted pulse beats faster."""
    p = ev.p
    beats = ev.confirmed[ev.confirmed >= ev.now_s - 20.0]
    k = p.brady_beats - 1
    if beats.size <= k:
        return None
    hr = 60.0 * k / (beats[k:] - beats[:-k])
    for j in np.argsort(hr).tolist():
        if hr[j] >= p.brady_limit_bpm:
            return None
        a, b = float(beats[j]), float(beats[j + k])
        seen = [lead.name for lead in ev.leads if lead.usable(a, b)]
        if not seen or _pulse_faster(ev, a, b) is not None:
            continue
        return Event(
            "extreme_bradycardia",
            a,
            _latest_slow_end(ev, beats, hr, j),
            tuple(seen),
            {
                "hr_bpm": round(float(hr[j]), 1),
                "limit_bpm": p.brady_bpm,
                "beats": k + 1,
                "beat_times_s": [round(float(v), 2) for v in beats[j : j + k + 1]],
            },
            **explained(
                "lethal_bradycardia",
                hr_bpm=round(float(hr[j])),
                beats=k + 1,
                from_s=round(a, 1),
                to_s=round(b, 1),
                leads=fmt_names(seen),
                limit_note=_limit(float(hr[j]), p.brady_bpm, p.rate_tolerance, above=False),
            ),  # fmt: skip
        )
    return None


def _latest_slow_end(ev: Evidence, beats: FloatArray, hr: FloatArray, j: int) -> float:
    """End (s) of the latest run under the limit that a usable lead shows and no trusted pulse
    contradicts, at least that of run ``j``: the episode lasts while slow runs go on, not only
    as long as its slowest one."""
    k = ev.p.brady_beats - 1
    for i in np.flatnonzero(hr < ev.p.brady_limit_bpm)[::-1].tolist():
        if i <= j:
            break
        a, b = float(beats[i]), float(beats[i + k])
        if any(lead.usable(a, b) for lead in ev.leads) and _pulse_faster(ev, a, b) is None:
            return b
    return float(beats[j + k])


def _limit(hr_bpm: float, limit_bpm: float, tolerance: float, above: bool) -> dict[str, Any]:
    """The limit for an explanation, naming the tolerance when the rate is within it."""
    beyond = hr_bpm > limit_bpm if above else hr_bpm < limit_bpm
    if beyond:
        return note("note_limit", limit_bpm=limit_bpm)
    return note(
        "note_limit_tolerance", limit_bpm=limit_bpm, tolerance_pct=round(100 * tolerance, 1)
    )


def _pulse_faster(ev: Evidence, a: float, b: float) -> str | None:
    """A trusted pulse channel with two more strong pulses than the run has beats over
    ``[a, b]`` (shifted by the pulse transit time): the ECG missed beats, the pulse did not."""
    for pv in ev.pulses:
        ref = ev.pulse_reference(pv, a)
        if ref is None:
            continue
        if strong_pulses(pv, a + 0.1, b + 0.6, 0.3 * ref[0]).size >= ev.p.brady_beats + 2:
            return pv.name
    return None
