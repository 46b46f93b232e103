"""Pulse detection on a pulsatile waveform (ABP or photoplethysmogram, PLETH), streaming.

Method (``method="zong2003-ssf"``): the slope sum function (SSF) of Zong et al. (2003), the
detector behind WFDB's ``wabp`` that most PhysioNet/CinC 2015 entries used for both ABP and
PPG: a causal low-pass (2nd-order Butterworth, 8 Hz), the first difference, its positive part,
summed over a 128 ms window. Each upstroke of a pulse gives one SSF hump whose height is the
rise of the wave over the window (mmHg for ABP, the channel's unit for PLETH). Pulses are SSF
maxima that are the largest within +/- 0.2 s (at most 300 pulses/min) and reach a third of
the reference height, the median of the last 5 accepted pulses (Zong: 60 % of a running
mean of SSF maxima; we use a lower fraction because the pulse height is re-checked against
the channel's own history wherever a decision depends on it). The first 2 s of the stream
seed the reference from the largest hump; after 3 s without a pulse the reference halves
every second, so the detector locks onto a weaker or a new rhythm (and onto noise during a
true arrest: callers judge heights, not counts, see :func:`pulses_in`).

Each pulse records its time (the SSF maximum, near the end of the upstroke), its SSF height,
and its foot and peak values (the minimum over the 0.3 s before and the maximum over the
0.15 s after), so that ABP pulses also carry systolic and diastolic pressure. A hump whose
foot-to-peak rise is under 8 times the smallest step seen between two successive samples is
not a pulse: on a live waveform that step is one ADC level, while a dead sensor's digital
ripple (seen on the Challenge PLETH channels as samples alternating between two distant
codes) never moves by less than its alternation, and its slow drift, perfectly periodic as
it may be, spans only a step or two.

Non-finite samples (NaN) hold the last value: a gap has no slope, hence no pulse.

References:
    Zong W, Heldt T, Moody GB, Mark RG. An open-source algorithm to detect onset of arterial
    blood pressure pulses. Computers in Cardiology 30:259-262 (2003).
    Clifford GD et al. The PhysioNet/Computing in Cardiology Challenge 2015: reducing false
    arrhythmia alarms in the ICU. Computing in Cardiology 42:273-276 (2015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal
from scipy.ndimage import maximum_filter1d

FloatArray = npt.NDArray[np.float64]
_Row = tuple[int, float, float, float]  # sample index, SSF height, foot, peak

LOWPASS_HZ = 8.0
SSF_WINDOW_S = 0.128
PEAK_HALF_WIDTH_S = 0.2
FOOT_S = 0.3
PEAK_AFTER_S = 0.15
ACCEPT_FRACTION = 1.0 / 3.0
MIN_STEPS = 8
N_REFERENCE = 5
LEARN_S = 2.0
DECAY_AFTER_S = 3.0
#: Heights below this fraction of the signal's own magnitude are rounding noise.
FLAT_FLOOR = 1e-9


@dataclass(frozen=True, slots=True)
class Pulses:
    """Pulses found by one ``process`` call: parallel arrays, times in s from the first sample."""

    t_s: FloatArray
    height: FloatArray
    foot: FloatArray
    peak: FloatArray

    @classmethod
    def empty(cls) -> Pulses:
        e = np.zeros(0)
        return cls(e, e, e, e)

    def __len__(self) -> int:
        return int(self.t_s.size)


def _fir(taps: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(b, a)`` of an FIR whose ``lfilter`` recursion is bit-exact across chunks."""
    a = np.zeros_like(taps)
    a[0] = 1.0
    return taps, a


class PulseDetector:
    """Streaming SSF pulse detector for one ABP or PLETH channel (see the module docstring).

    ``process(chunk)`` takes the next samples (1-D, any length) and returns the
    :class:`Pulses` whose look-ahead (0.2 s) is complete; results never depend on chunking.
    The state is a few filter registers, a 0.5 s tail and a handful of floats (picklable).
    """

    method = "zong2003-ssf"

    def __init__(self, fs_hz: float) -> None:
        if not 50.0 <= float(fs_hz) <= 2000.0:
            raise ValueError(f"fs_hz must be within 50-2000 Hz, got {fs_hz!r}")
        self.fs_hz = float(fs_hz)
        self._lp = signal.butter(2, LOWPASS_HZ, fs=self.fs_hz)
        self._zi_lp = np.zeros(2)
        w = max(2, round(SSF_WINDOW_S * self.fs_hz))
        self._sum = _fir(np.ones(w))
        self._zi_sum = np.zeros(w - 1)
        self.hold = max(1, round(PEAK_HALF_WIDTH_S * self.fs_hz))
        self.foot = round(FOOT_S * self.fs_hz)
        self.after = round(PEAK_AFTER_S * self.fs_hz)
        self.lookahead = max(self.hold, self.after)
        self._tail_len = self.foot + self.hold + self.lookahead + 2
        self._tail = np.zeros((2, self._tail_len))  # rows: low-passed signal, SSF
        self._last_x = np.nan
        self._last_lp = np.nan
        self.n_seen = 0
        self._next_check = 0
        self._heights: list[float] = []
        self._learned = False
        self._learning: list[_Row] = []
        self._last_pulse = -(10**9)
        self.quantum = math.inf  # the smallest step seen between successive samples
        self._prev = 0.0

    @property
    def reference(self) -> float | None:
        """The current reference SSF height (None while learning)."""
        return float(np.median(self._heights)) if self._heights else None

    def process(self, chunk: npt.ArrayLike) -> Pulses:
        """Consume the next samples; return the pulses now final."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size == 0:
            return Pulses.empty()
        x = self._hold_gaps(x)
        step = np.abs(np.diff(np.concatenate(([x[0] if self.n_seen == 0 else self._prev], x))))
        step = step[step > FLAT_FLOOR * np.abs(x).max()]
        if step.size:
            self.quantum = min(self.quantum, float(step.min()))
        self._prev = float(x[-1])
        if self.n_seen == 0:
            self._zi_lp = signal.lfilter_zi(*self._lp) * x[0]
            self._last_lp = x[0]
            self._tail[0] = x[0]  # as if the signal had always been at its first value
        lp, self._zi_lp = signal.lfilter(*self._lp, x, zi=self._zi_lp)
        d = np.diff(np.concatenate(([self._last_lp], lp)))
        self._last_lp = float(lp[-1])
        d[d <= FLAT_FLOOR * np.abs(lp)] = 0.0
        ssf, self._zi_sum = signal.lfilter(*self._sum, d, zi=self._zi_sum)
        seg = np.concatenate((self._tail, np.stack((lp, ssf))), axis=1)
        origin = self.n_seen - self._tail_len
        self.n_seen += x.size
        self._tail = seg[:, -self._tail_len :].copy()
        return self._examine(seg, origin, self.n_seen - 1 - self.lookahead)

    def _hold_gaps(self, x: FloatArray) -> FloatArray:
        """Replace non-finite samples by the last finite one (0 before any)."""
        bad = ~np.isfinite(x)
        if not bad.any():
            self._last_x = float(x[-1])
            return x
        idx = np.where(bad, 0, np.arange(x.size))
        np.maximum.accumulate(idx, out=idx)
        start = self._last_x if np.isfinite(self._last_x) else 0.0
        lead = bad & (np.cumsum(~bad) == 0)
        y = x[idx]
        y[lead] = start
        self._last_x = float(y[-1])
        return np.asarray(y, dtype=np.float64)

    def _examine(self, seg: FloatArray, origin: int, last: int) -> Pulses:
        """Judge SSF maxima at absolute samples ``next_check..last``."""
        first = max(self._next_check, origin + self.foot + self.hold)
        if last < first:
            return Pulses.empty()
        self._next_check = last + 1
        lo, hi = first - origin, last - origin
        ssf = seg[1]
        peak = maximum_filter1d(ssf, 2 * self.hold + 1, mode="constant", cval=np.inf)
        cols = lo + np.flatnonzero((ssf[lo : hi + 1] > 0) & (ssf[lo : hi + 1] == peak[lo : hi + 1]))
        learn_end = round(LEARN_S * self.fs_hz)
        out: list[_Row] = []
        # Foot (minimum over the 0.3 s before) and peak (maximum over the 0.15 s after) of
        # every candidate at once.
        foot = seg[0][cols[:, None] + np.arange(-self.foot, 1)].min(axis=1, initial=np.inf)
        top = seg[0][cols[:, None] + np.arange(self.after + 1)].max(axis=1, initial=-np.inf)
        for c, v, f, h in zip(
            cols.tolist(), ssf[cols].tolist(), foot.tolist(), top.tolist(), strict=True
        ):
            row = (c + origin, v, f, h)
            if not self._learned and row[0] < learn_end:
                self._learning.append(row)
                continue
            if not self._learned:
                out += self._end_learning()
            out += self._judge(row)
        if not self._learned and last >= learn_end:
            out += self._end_learning()
        return self._pack(out)

    def _judge(self, row: _Row) -> list[_Row]:
        idx, h = row[0], row[1]
        if idx - self._last_pulse <= self.hold:
            return []  # the flat top of a quantised hump
        if row[3] - row[2] < MIN_STEPS * self.quantum:
            return []  # a ripple of a few ADC steps on a dead channel, not a pulse
        if self._heights and h < ACCEPT_FRACTION * self._decayed_reference(idx):
            return []
        self._accept(idx, h)
        return [row]

    def _end_learning(self) -> list[_Row]:
        """Seed the reference from the largest early hump and judge the buffered ones."""
        self._learned = True
        buffered, self._learning = self._learning, []
        if buffered:
            self._heights = [max(r[1] for r in buffered)]
        return [r for row in buffered for r in self._judge(row)]

    def _decayed_reference(self, idx: int) -> float:
        h = sorted(self._heights)
        ref = 0.5 * (h[(len(h) - 1) // 2] + h[len(h) // 2])
        quiet_s = (idx - self._last_pulse) / self.fs_hz - DECAY_AFTER_S
        return ref * 0.5**quiet_s if quiet_s > 0 else ref

    def _accept(self, idx: int, h: float) -> None:
        if (idx - self._last_pulse) / self.fs_hz > DECAY_AFTER_S:
            self._heights = []  # after a quiet spell the old reference no longer applies
        self._heights = (self._heights + [h])[-N_REFERENCE:]
        self._last_pulse = idx

    def _pack(self, rows: list[_Row]) -> Pulses:
        if not rows:
            return Pulses.empty()
        a = np.asarray(rows, dtype=np.float64)
        return Pulses(a[:, 0] / self.fs_hz, a[:, 1], a[:, 2], a[:, 3])


def detect_pulses(x: npt.ArrayLike, fs_hz: float) -> Pulses:
    """All pulses of a whole ABP or PLETH recording sampled at ``fs_hz`` (NaN = gap)."""
    det = PulseDetector(fs_hz)
    arr = np.asarray(x, dtype=np.float64)
    pad = np.full(det.lookahead + 1, arr[np.isfinite(arr)][-1] if np.isfinite(arr).any() else 0.0)
    head, tail = det.process(arr), det.process(pad)
    keep = tail.t_s < arr.size / det.fs_hz
    return Pulses(
        np.concatenate((head.t_s, tail.t_s[keep])),
        np.concatenate((head.height, tail.height[keep])),
        np.concatenate((head.foot, tail.foot[keep])),
        np.concatenate((head.peak, tail.peak[keep])),
    )
