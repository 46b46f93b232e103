"""Everything computed from beat times: heart rate, RR/NN series, pauses, brady- and tachycardia.

Beat times are seconds (float, strictly increasing) on one clock; a streaming object maps
them to UTC with its ``t0`` (the UTC instant of beat time 0; the default, the Unix epoch,
lets beat times be epoch seconds). Heart rates are beats per minute, intervals seconds.

Ectopic handling (``classify_rr``): the 20 % rule of Malik et al. (1993) and Kamath & Fallen
(1995): an interval more than 20 % shorter than the reference is premature, the long interval
right after a premature one is its compensatory pause, any other interval more than 20 % longer
is long (a missed beat, a pause, a dropped detection). The reference is the median of the five
preceding intervals, not the single preceding one, so that one ectopic does not also flag the
normal interval after its pause, and a genuine change of rate is followed within three beats.
Intervals below ``min_rr_s`` (0.2 s, 300 bpm) are artefacts. NN intervals are the normal ones;
``clean_rr`` replaces the others with the reference (causal, so streaming gives the same).

Rate and pause limits follow the PhysioNet/CinC Challenge 2015 alarm definitions (asystole: no
QRS for >= 4 s; extreme bradycardia < 40 bpm; extreme tachycardia > 140 bpm) with the common
monitor defaults (low 50 bpm, high 120 bpm) as the first tier, and a 3 s pause as in
ambulatory ECG reporting.

References:
    Malik M, Xia R, Odemuyiwa O, Staunton A, Poloniecki J, Camm AJ. Influence of the
    recognition artefact in automatic analysis of long-term electrocardiograms on time-domain
    measurement of heart rate variability. Med Biol Eng Comput 31:539-544 (1993).
    Kamath MV, Fallen EL. Correction of the heart rate variability signal for ectopics and
    missing beats. In: Malik M, Camm AJ (eds), Heart Rate Variability. Futura, 75-85 (1995).
    Clifford GD et al. The PhysioNet/Computing in Cardiology Challenge 2015: reducing false
    arrhythmia alarms in the ICU. Computing in Cardiology 42:273-276 (2015).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from telemed_core.explanations import explained
from telemed_signal.findings import Finding, Severity

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The UTC instant of beat time 0 when none is given: beat times are then Unix epoch seconds.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RATE_METHOD = "Averaged HR (last {k} RR) beyond {lo:g}/{hi:g} bpm for >= {dur:g} s"
PAUSE_METHOD = "No beat for >= {pause:g} s (asystole >= {asy:g} s, PhysioNet/CinC 2015)"


def check_beat_times(beat_times_s: npt.ArrayLike) -> FloatArray:
    """Validate beat times (s) and return them as float64: 1-D, finite, strictly increasing.

    An empty array is valid. Raises ValueError naming the first offending beat otherwise.
    """
    t = np.asarray(beat_times_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"beat_times_s must be 1-D, got shape {t.shape}")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise ValueError(f"beat_times_s must be finite; beat {bad[0]} is {t[bad[0]]}")
    step = np.flatnonzero(np.diff(t) <= 0)
    if step.size:
        i = int(step[0])
        raise ValueError(
            f"beat_times_s must be strictly increasing; beat {i + 1} ({t[i + 1]} s) "
            f"does not follow beat {i} ({t[i]} s)"
        )
    return t


def utc_at(t0: datetime, t_s: float) -> datetime:
    """The UTC-aware datetime of beat time ``t_s`` seconds on a clock starting at ``t0``."""
    return (t0 + timedelta(seconds=float(t_s))).astimezone(UTC)


def check_t0(t0: datetime) -> datetime:
    """Return ``t0`` in UTC; raise ValueError for a naive datetime."""
    if t0.tzinfo is None or t0.utcoffset() is None:
        raise ValueError("t0 must be a timezone-aware (UTC) datetime")
    return t0.astimezone(UTC)


def rr_intervals_s(beat_times_s: npt.ArrayLike) -> FloatArray:
    """RR intervals (s): ``rr[i]`` runs from beat ``i`` to beat ``i + 1`` (length n - 1)."""
    return np.diff(check_beat_times(beat_times_s))


def instantaneous_hr_bpm(beat_times_s: npt.ArrayLike) -> FloatArray:
    """Beat-to-beat heart rate 60 / RR (bpm), one per beat from the second (length n - 1)."""
    return 60.0 / rr_intervals_s(beat_times_s)


def average_hr_bpm(beat_times_s: npt.ArrayLike, n_intervals: int = 8) -> FloatArray:
    """Heart rate averaged over the last ``n_intervals`` RR intervals (bpm), per beat.

    Value ``i`` belongs to beat ``i + 1`` (length n - 1) and is ``60 k / (t[i+1] - t[i+1-k])``
    with ``k = min(i + 1, n_intervals)``: 60 over the mean RR, as monitors display it.
    """
    if n_intervals < 1:
        raise ValueError("n_intervals must be >= 1")
    t = check_beat_times(beat_times_s)
    if t.size < 2:
        return np.empty(0)
    idx = np.arange(1, t.size)
    back = np.maximum(idx - n_intervals, 0)
    return 60.0 * (idx - back) / (t[idx] - t[back])


def binned_hr_bpm(
    beat_times_s: npt.ArrayLike, window_s: float = 60.0
) -> tuple[FloatArray, FloatArray]:
    """Mean heart rate per fixed window (bpm): ``(window_start_s, hr_bpm)``.

    Windows start at multiples of ``window_s`` on the beat clock; an RR interval belongs to the
    window holding its ending beat; HR is 60 x intervals / their summed length. Windows with
    no interval are NaN (a gap, never a rate of zero).
    """
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError("window_s must be > 0")
    t = check_beat_times(beat_times_s)
    if t.size < 2:
        return np.empty(0), np.empty(0)
    rr = np.diff(t)
    win = np.floor(t[1:] / window_s).astype(np.int64)
    first = int(win[0])
    n = np.bincount(win - first)
    total = np.bincount(win - first, weights=rr)
    with np.errstate(invalid="ignore", divide="ignore"):
        hr = np.where(n > 0, 60.0 * n / total, np.nan)
    starts = np.asarray((first + np.arange(n.size)) * window_s, dtype=np.float64)
    return starts, np.asarray(hr, dtype=np.float64)


class RrClass(IntEnum):
    """Label of one RR interval (see the module docstring)."""

    NORMAL = 0
    PREMATURE = 1
    COMPENSATORY = 2
    LONG = 3
    ARTEFACT = 4


@dataclass(frozen=True, slots=True)
class RrSeries:
    """RR intervals with their labels: ``nn_s`` has the non-normal ones replaced."""

    rr_s: FloatArray
    nn_s: FloatArray
    label: npt.NDArray[np.int8]

    @property
    def is_nn(self) -> BoolArray:
        return np.asarray(self.label == RrClass.NORMAL, dtype=np.bool_)


class EctopicFilter:
    """Streaming 20 % ectopic rule (Malik 1993, Kamath & Fallen 1995; module docstring).

    ``process(rr_s)`` labels the next RR intervals and returns an :class:`RrSeries`; the state
    is the last ``ref_intervals`` intervals and whether the last one was premature.
    """

    def __init__(
        self, threshold: float = 0.2, ref_intervals: int = 5, min_rr_s: float = 0.2
    ) -> None:
        if not 0 < threshold < 1 or ref_intervals < 1 or not min_rr_s >= 0:
            raise ValueError("need 0 < threshold < 1, ref_intervals >= 1, min_rr_s >= 0")
        self.threshold, self.ref_intervals, self.min_rr_s = threshold, ref_intervals, min_rr_s
        self._hist: list[float] = []
        self._last_premature = False

    def process(self, rr_s: npt.ArrayLike) -> RrSeries:
        """Label the next RR intervals (s); see :class:`RrClass`."""
        rr = np.asarray(rr_s, dtype=np.float64).ravel()
        if not np.all(np.isfinite(rr)) or np.any(rr <= 0):
            raise ValueError("RR intervals must be finite and > 0")
        ref = self._reference(rr)
        label = np.full(rr.size, RrClass.NORMAL, dtype=np.int8)
        known = np.isfinite(ref)
        premature = known & (rr < (1 - self.threshold) * ref)
        long_ = known & (rr > (1 + self.threshold) * ref)
        after_premature = np.concatenate(([self._last_premature], premature[:-1]))
        label[premature] = RrClass.PREMATURE
        label[long_] = RrClass.LONG
        label[long_ & after_premature] = RrClass.COMPENSATORY
        label[rr < self.min_rr_s] = RrClass.ARTEFACT
        if rr.size:
            self._hist = (self._hist + rr.tolist())[-self.ref_intervals :]
            self._last_premature = bool(premature[-1])
        nn = np.where((label == RrClass.NORMAL) | ~known, rr, ref)
        return RrSeries(rr, nn, label)

    def _reference(self, rr: FloatArray) -> FloatArray:
        """Median of the ``ref_intervals`` intervals before each one (NaN with no history)."""
        k = self.ref_intervals
        padded = np.concatenate((np.full(k, np.nan), self._hist, rr))[-(rr.size + k) :]
        windows = sliding_window_view(padded, k)[: rr.size]
        ref = np.full(rr.size, np.nan)
        some = ~np.all(np.isnan(windows), axis=1)
        if some.any():
            ref[some] = np.nanmedian(windows[some], axis=1)
        return ref

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint."""
        return {
            "v": 1,
            "threshold": self.threshold,
            "ref_intervals": self.ref_intervals,
            "min_rr_s": self.min_rr_s,
            "hist": list(self._hist),
            "last_premature": self._last_premature,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EctopicFilter:
        """Rebuild a filter from ``to_state()``; raises ValueError on an unknown version."""
        if state.get("v") != 1:
            raise ValueError(f"unsupported EctopicFilter state version {state.get('v')!r}")
        f = cls(state["threshold"], state["ref_intervals"], state["min_rr_s"])
        f._hist = [float(x) for x in state["hist"]]
        f._last_premature = bool(state["last_premature"])
        return f


def classify_rr(rr_s: npt.ArrayLike, threshold: float = 0.2) -> npt.NDArray[np.int8]:
    """Label each RR interval (s) with :class:`RrClass` by the 20 % rule (module docstring)."""
    return EctopicFilter(threshold).process(rr_s).label


def clean_rr(beat_times_s: npt.ArrayLike, threshold: float = 0.2) -> RrSeries:
    """RR series of the beats with labels and ectopic-replaced NN intervals (module docstring)."""
    return EctopicFilter(threshold).process(rr_intervals_s(beat_times_s))


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Thresholds of :class:`RhythmMonitor` (bpm, seconds)."""

    brady_bpm: float = 50.0
    tachy_bpm: float = 120.0
    extreme_brady_bpm: float = 40.0
    extreme_tachy_bpm: float = 140.0
    hysteresis_bpm: float = 3.0
    min_duration_s: float = 10.0
    avg_intervals: int = 8
    pause_s: float = 3.0
    asystole_s: float = 4.0

    def __post_init__(self) -> None:
        ok = (
            0 < self.extreme_brady_bpm <= self.brady_bpm < self.tachy_bpm
            and self.tachy_bpm <= self.extreme_tachy_bpm
            and self.hysteresis_bpm >= 0
            and self.min_duration_s >= 0
            and self.avg_intervals >= 1
            and 0 < self.pause_s <= self.asystole_s
        )
        if not ok:
            raise ValueError(f"inconsistent rate limits: {self}")


@dataclass(slots=True)
class _RateEpisode:
    """A run of beats whose averaged HR is beyond a limit (times on the beat clock)."""

    start_s: float
    last_s: float
    worst_bpm: float
    reported: str | None = None  # the Severity value last reported, None before onset


class RhythmMonitor:
    """Streaming pauses/asystole, bradycardia and tachycardia from beat times, as Findings.

    ``process(beat_times_s, now_s=None)`` takes the next beat times (s, increasing, after the
    previous chunk) and returns the Findings they complete or start:

    * ``pause``: no beat for >= ``pause_s`` (MEDIUM), HIGH from ``asystole_s`` on, with
      ``values["asystole"]``. Reported with its end when the next beat arrives; pass ``now_s``
      (the time the stream has been received up to) to be told of a pause while it lasts.
    * ``bradycardia`` / ``tachycardia``: the HR averaged over ``avg_intervals`` RR stays
      beyond the limit (with ``hysteresis_bpm`` to leave it) for >= ``min_duration_s``. An
      ongoing Finding (end None) at onset, again if it turns extreme (HIGH), and a closing one.

    The caller should not raise alarms on beats from unusable ECG (see
    :mod:`telemed_signal.ecg_quality`): a lead-off looks exactly like asystole here.
    """

    def __init__(
        self, patient_id: str, t0: datetime = EPOCH, limits: RateLimits | None = None
    ) -> None:
        self.patient_id = patient_id
        self.t0 = check_t0(t0)
        self.limits = limits or RateLimits()
        self._times: list[float] = []  # the last avg_intervals beats
        self._pause_reported: str | None = None
        self._episodes: dict[str, _RateEpisode | None] = {"bradycardia": None, "tachycardia": None}

    @property
    def rate_method(self) -> str:
        lim = self.limits
        return RATE_METHOD.format(
            k=lim.avg_intervals, lo=lim.brady_bpm, hi=lim.tachy_bpm, dur=lim.min_duration_s
        )

    @property
    def pause_method(self) -> str:
        return PAUSE_METHOD.format(pause=self.limits.pause_s, asy=self.limits.asystole_s)

    def process(self, beat_times_s: npt.ArrayLike, now_s: float | None = None) -> list[Finding]:
        """Consume the next beat times (s); return the Findings (see the class docstring)."""
        t = check_beat_times(beat_times_s)
        if self._times and t.size and t[0] <= self._times[-1]:
            raise ValueError(f"beat {t[0]} s does not follow the previous beat {self._times[-1]} s")
        out: list[Finding] = []
        if t.size:
            out += self._pauses(t)
            hist = np.concatenate((self._times, t))
            k = np.minimum(np.arange(len(self._times), hist.size), self.limits.avg_intervals)
            idx = np.arange(len(self._times), hist.size)
            valid = k > 0
            hr = 60.0 * k[valid] / (hist[idx[valid]] - hist[idx[valid] - k[valid]])
            times = hist[idx[valid]]
            out += self._rate(times, hr, "bradycardia")
            out += self._rate(times, hr, "tachycardia")
            self._times = hist[-self.limits.avg_intervals :].tolist()
            self._pause_reported = None
        if now_s is not None and self._times:
            out += self._ongoing_pause(float(now_s))
        return sorted(out, key=lambda f: f.start)

    def _pauses(self, t: FloatArray) -> list[Finding]:
        prev = np.concatenate((self._times[-1:], t))
        gaps = np.diff(prev)
        return [
            self._pause_finding(float(prev[i]), float(gaps[i]), ended=True)
            for i in np.flatnonzero(gaps >= self.limits.pause_s)
        ]

    def _ongoing_pause(self, now_s: float) -> list[Finding]:
        gap = now_s - self._times[-1]
        if gap < self.limits.pause_s:
            return []
        severity = self._pause_severity(gap)
        if self._pause_reported == severity.value or self._pause_reported == Severity.HIGH.value:
            return []
        self._pause_reported = severity.value
        return [self._pause_finding(self._times[-1], gap, ended=False)]

    def _pause_severity(self, gap_s: float) -> Severity:
        return Severity.HIGH if gap_s >= self.limits.asystole_s else Severity.MEDIUM

    def _pause_finding(self, start_s: float, gap_s: float, ended: bool) -> Finding:
        asystole = gap_s >= self.limits.asystole_s
        what = "asystole" if asystole else "pause"
        return Finding(
            patient_id=self.patient_id,
            kind="pause",
            start=utc_at(self.t0, start_s),
            end=utc_at(self.t0, start_s + gap_s) if ended else None,
            severity=self._pause_severity(gap_s),
            method=self.pause_method,
            values={"pause_s": round(gap_s, 3), "asystole": asystole},
            window_s=gap_s,
            **explained(what if ended else f"{what}_ongoing", pause_s=round(gap_s, 1)),
        )

    def _rate(self, times: FloatArray, hr: FloatArray, kind: str) -> list[Finding]:
        """Schmitt-trigger the averaged HR against one limit; report runs (vectorised)."""
        lim = self.limits
        if kind == "bradycardia":
            enter, leave = hr < lim.brady_bpm, hr > lim.brady_bpm + lim.hysteresis_bpm
        else:
            enter, leave = hr > lim.tachy_bpm, hr < lim.tachy_bpm - lim.hysteresis_bpm
        state = _schmitt(enter, leave, self._episodes[kind] is not None)
        # An episode carried over from the last chunk ended at this chunk's first beat.
        out = self._close(kind) if state.size and not state[0] else []
        edges = np.flatnonzero(np.diff(np.concatenate(([False], state, [False])).astype(np.int8)))
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            out += self._extend(kind, times[lo:hi], hr[lo:hi])
            if hi < state.size:
                out += self._close(kind)
        return out

    def _extend(self, kind: str, times: FloatArray, hr: FloatArray) -> list[Finding]:
        worst = float(hr.min() if kind == "bradycardia" else hr.max())
        ep = self._episodes[kind]
        if ep is None:
            ep = self._episodes[kind] = _RateEpisode(float(times[0]), float(times[-1]), worst)
        else:
            ep.last_s = float(times[-1])
            ep.worst_bpm = (
                min(ep.worst_bpm, worst) if kind == "bradycardia" else max(ep.worst_bpm, worst)
            )
        if ep.last_s - ep.start_s < self.limits.min_duration_s:
            return []
        severity = self._rate_severity(kind, ep.worst_bpm)
        if ep.reported == severity.value or ep.reported == Severity.HIGH.value:
            return []
        ep.reported = severity.value
        return [self._rate_finding(kind, ep, ended=False)]

    def _close(self, kind: str) -> list[Finding]:
        ep, self._episodes[kind] = self._episodes[kind], None
        return [] if ep is None or ep.reported is None else [self._rate_finding(kind, ep, True)]

    def _rate_severity(self, kind: str, worst_bpm: float) -> Severity:
        lim = self.limits
        extreme = (
            worst_bpm < lim.extreme_brady_bpm
            if kind == "bradycardia"
            else worst_bpm > lim.extreme_tachy_bpm
        )
        return Severity.HIGH if extreme else Severity.MEDIUM

    def _rate_finding(self, kind: str, ep: _RateEpisode, ended: bool) -> Finding:
        lim = self.limits
        limit = lim.brady_bpm if kind == "bradycardia" else lim.tachy_bpm
        duration = ep.last_s - ep.start_s
        return Finding(
            patient_id=self.patient_id,
            kind=kind,
            start=utc_at(self.t0, ep.start_s),
            end=utc_at(self.t0, ep.last_s) if ended else None,
            severity=self._rate_severity(kind, ep.worst_bpm),
            method=self.rate_method,
            values={
                "hr_bpm": round(ep.worst_bpm, 1),
                "limit_bpm": limit,
                "duration_s": round(duration, 1),
            },
            window_s=duration,
            **explained(
                kind if ended else f"{kind}_ongoing",
                duration_s=round(duration),
                hr_bpm=round(ep.worst_bpm),
                limit_bpm=limit,
            ),
        )

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint: limits, the last beats and open episodes."""
        return {
            "v": 1,
            "patient_id": self.patient_id,
            "t0": self.t0.isoformat(),
            "limits": asdict(self.limits),
            "times": list(self._times),
            "pause_reported": self._pause_reported,
            "episodes": {k: None if e is None else asdict(e) for k, e in self._episodes.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RhythmMonitor:
        """Rebuild a monitor from ``to_state()``; raises ValueError on an unknown version."""
        if state.get("v") != 1:
            raise ValueError(f"unsupported RhythmMonitor state version {state.get('v')!r}")
        mon = cls(
            state["patient_id"], datetime.fromisoformat(state["t0"]), RateLimits(**state["limits"])
        )
        mon._times = [float(x) for x in state["times"]]
        mon._pause_reported = state["pause_reported"]
        mon._episodes = {
            k: None if e is None else _RateEpisode(**e) for k, e in state["episodes"].items()
        }
        return mon


def _schmitt(enter: BoolArray, leave: BoolArray, initial: bool) -> BoolArray:
    """State of a two-threshold trigger per sample: on at ``enter``, off at ``leave``."""
    event = np.where(enter, 1, np.where(leave, -1, 0))
    pos = np.where(event != 0, np.arange(event.size), -1)
    last = np.maximum.accumulate(pos) if pos.size else pos
    state: BoolArray = np.where(last >= 0, event[np.maximum(last, 0)] == 1, initial).astype(bool)
    return state
