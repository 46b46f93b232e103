"""Per-lead ECG evidence for the life-threatening arrhythmia detectors, streaming.

:class:`EcgLeadTracker` follows one lead: it keeps a causal 0.5-40 Hz band-passed copy of the
last 6 s, measures every beat the R-peak detector reports, and scores any 4 s window for
fibrillatory or flutter waveforms. Everything is causal (a beat is measured once the 0.4 s
after it has arrived) and chunking never changes a value.

Beat measures (window -0.10..+0.15 s around the R peak, realigned to the largest deflection
within 40 ms):

* ``amp``: peak-to-peak (mV); a QRS far smaller than the lead's usual ones is baseline ripple
  or noise, not a beat (used by asystole and bradycardia).
* ``width_s``: equivalent width, the area of |x| over its peak (s), a robust stand-in for the
  QRS duration that grows with wide, slurred ventricular complexes.
* ``corr``: correlation with the lead's dominant-beat template, the mean of the last 8 beats
  that matched it (correlation >= 0.8; the first 8 beats of >= 0.1 mV seed it; after 16
  mismatches in a row it is re-learnt, so a lasting change of lead position or rhythm becomes
  the new reference). Ventricular beats differ from the dominant (supraventricular)
  morphology, as in template-matching beat classifiers (Hamilton 2002). A fibrillation has
  no QRS to learn: while the monitor finds one in the lead (:meth:`EcgLeadTracker.hold_template`)
  the mismatches counted so far are dropped and the re-learnings of the seconds before (on
  the fibrillation's waves) are undone, so that the rhythm after a fibrillation or flutter is
  compared with the QRS from before it, not with the waves. (The window measures alone do
  not decide this: a wide-complex tachycardia can look fibrillatory by them.)
* ``prev``: the best correlation with the previous beat over +/- 40 ms of lag (broad
  ventricular complexes have no sharp peak to align on): a run of complexes of one focus
  resembles itself, artefact does not. Only the rules on fast or non-dominant runs use it, so
  it is computed for non-dominant beats and beats under 0.48 s after the previous one (NaN
  for the others).
* ``found``: 1 for a complex the R-peak detector skipped and shape matching recovered. A
  non-dominant beat is matched (normalised cross-correlation >= 0.8, at least half its size,
  >= 0.16 s apart) against the 1.2 s around it, because the detector's 200-320 ms refractory
  period and T-wave rule drop every other complex of a fast ventricular tachycardia. The
  rate rules ignore recovered complexes; the VT rule counts them.

Window measures (4 s), classic shock-advisory features reviewed by Amann et al. (2005):

* ``leakage``: the VF-filter leakage of Kuo & Dillman (1978): a notch filter tuned to the
  window's mean frequency (``fdom_hz``, from the ratio of the signal's area to that of its
  first difference) leaves little of a near-sinusoidal (flutter, fibrillation) signal and
  much of a QRS train.
* ``tcsc``: threshold-crossing sample count of Arafat et al. (2009): the share of samples
  whose magnitude exceeds 20 % of the window's maximum; narrow QRS complexes on a quiet
  baseline give a few percent, fibrillation and flutter fill the window.

References:
    Kuo S, Dillman R. Computer detection of ventricular fibrillation. Computers in Cardiology
    5:347-349 (1978).
    Arafat MA, Chowdhury AW, Hasan MK. A simple time domain algorithm for the detection of
    ventricular fibrillation in electrocardiogram. Signal Image Video Process 5:1-10 (2011).
    Amann A, Tratnig R, Unterkofler K. Reliability of old and new ventricular fibrillation
    detection algorithms for automated external defibrillators. Biomed Eng Online 4:60 (2005).
    Hamilton P. Open source ECG analysis. Computers in Cardiology 29:101-104 (2002).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal
from scipy.ndimage import maximum_filter1d

FloatArray = npt.NDArray[np.float64]

BAND_HZ = (0.5, 40.0)
BUFFER_S = 6.0
BEAT_PRE_S = 0.10
BEAT_POST_S = 0.15
REALIGN_S = 0.04
MARGIN_S = 0.25  # beats are measured once this much signal follows the window
TEMPLATE_BEATS = 8
RELEARN_AFTER = 16
#: A re-learning this recent when a fibrillation is found is undone (s): the rule needs 5 s of
#: fibrillatory windows, and 16 fibrillatory waves take about 3 s.
RELEARN_UNDO_S = 8.0
MATCH_CORR = 0.8
WINDOW_S = 4.0
HISTORY_S = 60.0
TCSC_LEVEL = 0.2
MIN_QRS_MV = 0.1
RECOVER_S = 1.2
RECOVER_GAP_S = 0.16
FAST_RR_S = 0.48  # 125 bpm: below every tachycardia limit in use, with a margin


@dataclass(frozen=True, slots=True)
class VfWindow:
    """Fibrillation measures of one 4 s window (see the module docstring)."""

    leakage: float
    tcsc: float
    fdom_hz: float
    ptp_mv: float


def vf_window(x_mv: FloatArray, fs_hz: float) -> VfWindow:
    """VF-filter leakage, TCSC, dominant frequency and peak-to-peak of one window.

    ``x_mv`` is band-passed ECG (no baseline), NaN-free. A window without signal gives
    leakage 1 and TCSC 0 (nothing fibrillatory).
    """
    hi, lo = (float(x_mv.max()), float(x_mv.min())) if x_mv.size else (0.0, 0.0)
    ptp = hi - lo
    abs_x = np.abs(x_mv)
    slope = float(np.abs(x_mv[1:] - x_mv[:-1]).sum())
    if x_mv.size < 8 or slope <= 0 or ptp <= 0:
        return VfWindow(1.0, 0.0, 0.0, ptp)
    half = int(math.floor(math.pi * float(abs_x.sum()) / slope + 0.5))
    half = min(max(half, 1), x_mv.size // 2)
    num = float(np.abs(x_mv[half:] + x_mv[:-half]).sum())
    den = float(abs_x[half:].sum() + abs_x[:-half].sum())
    leakage = num / den if den > 0 else 1.0
    tcsc = float(np.count_nonzero(abs_x > TCSC_LEVEL * max(hi, -lo))) / x_mv.size
    # The mean frequency the VF filter is tuned to, in Hz (Kuo & Dillman): half a period
    # spans ``half`` samples.
    return VfWindow(leakage, tcsc, fs_hz / (2.0 * half), ptp)


class _Shape:
    """A beat waveform prepared for correlations: the whole of it centred and scaled to norm
    1 and, computed when first needed, its windows over +/- 40 ms of lag and its core, for the
    comparison with the previous beat."""

    __slots__ = ("seg", "unit", "_lag_idx", "_lag", "_lagged", "_core")

    def __init__(self, seg: FloatArray, lag_idx: npt.NDArray[np.intp], lag: int) -> None:
        self.seg, self._lag_idx, self._lag = seg, lag_idx, lag
        self.unit = _unit_1d(seg)
        self._lagged: FloatArray | None = None
        self._core: FloatArray | None = None

    def best(self, later: _Shape) -> float:
        """Largest correlation of this beat with a later one over the lags (module doc)."""
        if self._lagged is None:
            self._lagged = _unit(self.seg[self._lag_idx])
        if later._core is None:
            later._core = _unit_1d(later.seg[later._lag : later.seg.size - later._lag])
        return float((self._lagged @ later._core).max())


# The helpers below run for every beat: they call the ufuncs directly (``_add_reduce(x) / n`` is
# bit-for-bit what ``x.mean()`` computes) to spare numpy's wrapper overhead.
_add_reduce = np.add.reduce


def _unit(rows: FloatArray) -> FloatArray:
    centred = rows - _add_reduce(rows, axis=1, keepdims=True) / rows.shape[1]
    norm = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    return np.asarray(centred / np.maximum(norm, 1e-12)[:, None], dtype=np.float64)


def _unit_1d(x: FloatArray) -> FloatArray:
    """``_unit`` of one row, the same numbers."""
    centred = x - _add_reduce(x) / x.size
    norm = math.sqrt(float(np.einsum("ij,ij->i", centred[None], centred[None])[0]))
    return np.asarray(centred / max(norm, 1e-12), dtype=np.float64)


class EcgLeadTracker:
    """Streaming beat and window measures for one ECG lead (see the module docstring).

    ``feed(x_mv, beats)`` appends the next raw samples (mV, NaN = missing) and the absolute
    sample indices of R peaks newly reported for this lead; ``window(now)`` scores the 4 s
    ending at absolute sample ``now``. Measured beats accumulate in :attr:`beats` and are
    trimmed to about the last minute. The state is a 6 s buffer, the template and a few
    dozen recent beats (picklable).
    """

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = float(fs_hz)
        self._ba = signal.butter(2, BAND_HZ, btype="bandpass", fs=self.fs_hz)
        self._zi = np.zeros(4)
        self._last = math.nan
        self.n_seen = 0
        self._buf_len = round(BUFFER_S * self.fs_hz)
        self._buf = np.zeros(0)
        self._pending: list[int] = []
        self._pre, self._post = round(BEAT_PRE_S * self.fs_hz), round(BEAT_POST_S * self.fs_hz)
        self._realign = round(REALIGN_S * self.fs_hz)
        self._margin = round(MARGIN_S * self.fs_hz)
        self._learning: list[FloatArray] = []
        self._matched: list[FloatArray] = []
        self._template: FloatArray | None = None
        self._misses: list[FloatArray] = []
        # (matched beats, template) before the last re-learning, and when it happened
        self._before_relearn: tuple[list[FloatArray], FloatArray | None] | None = None
        self._relearnt_at = 0
        self._segs: dict[int, FloatArray] = {}  # recent beats' waveforms by realigned sample
        self._shapes: dict[int, _Shape] = {}
        self._sum = np.zeros(0)
        self._template_unit = np.zeros(0)
        self._keys: list[int] = []  # realigned sample of each row of ``beats``
        # Rows of ``beats`` in time order, kept in an array that grows as needed: the rules
        # read them every evaluation, so they are never rebuilt from Python lists.
        self._table = np.zeros((64, 6))
        self._n_rows = 0
        self._times: list[float] = []
        self._array: FloatArray | None = None
        n = self._pre + self._post + 1 - 2 * self._realign
        self._lag_idx = np.arange(0, 2 * self._realign + 1, 2)[:, None] + np.arange(n)[None, :]
        self._dup = round(0.1 * self.fs_hz)
        self._scans: list[tuple[int, FloatArray, float]] = []
        self._recovered: set[int] = set()

    @property
    def template(self) -> FloatArray | None:
        """The dominant-beat template (band-passed mV, -0.10..+0.15 s), None while learning."""
        return self._template

    def feed(self, x_mv: FloatArray, beats: npt.NDArray[np.int64]) -> None:
        """Append samples and newly reported R peaks; measure the beats now complete."""
        x = np.asarray(x_mv, dtype=np.float64)
        miss = ~np.isfinite(x)
        if miss.any():
            held = np.where(miss, np.nan, x)
            idx = np.where(miss, 0, np.arange(x.size))
            np.maximum.accumulate(idx, out=idx)
            held = held[idx]
            lead = miss & (np.cumsum(~miss) == 0)
            held[lead] = self._last if math.isfinite(self._last) else 0.0
            x = held
        if x.size:
            if self.n_seen == 0:
                self._zi = signal.lfilter_zi(*self._ba) * x[0]
            y, self._zi = signal.lfilter(*self._ba, x, zi=self._zi)
            self._last = float(x[-1])
            self._buf = np.concatenate((self._buf, y))[-self._buf_len :]
            self.n_seen += x.size
        self._pending += [int(b) for b in np.asarray(beats).tolist()]
        self._measure()

    def _measure(self) -> None:
        """Measure every pending beat whose window and margin have arrived, in time order,
        then run the look-arounds of non-dominant beats whose +/- 1.2 s have arrived."""
        limit = self.n_seen - self._post - self._realign - self._margin
        reach = round(RECOVER_S * self.fs_hz) + self._pre + self._post + self._margin
        while True:
            ready = sorted(b for b in self._pending if b < limit)
            self._pending = [b for b in self._pending if b >= limit]
            for b in ready:
                self._measure_one(b)
            due = [s for s in self._scans if s[0] + reach <= self.n_seen]
            self._scans = [s for s in self._scans if s[0] + reach > self.n_seen]
            for key, seg, amp in due:
                self._recover(key, seg, amp)
            if not ready and not due:
                return

    def _measure_one(self, b: int) -> None:
        start = self.n_seen - self._buf.size
        i = b - start
        if i - self._pre - self._realign < 0:
            return
        w = self._buf[i - self._realign : i + self._realign + 1]
        i += int(np.abs(w - _add_reduce(w) / w.size).argmax()) - self._realign
        key = start + i
        keys, near = self._keys, bisect.bisect(self._keys, key)
        if (near > 0 and abs(keys[near - 1] - key) < self._dup) or (
            near < len(keys) and abs(keys[near] - key) < self._dup
        ):
            return  # the same complex, reported by the detector and recovered by matching
        seg = self._buf[i - self._pre : i + self._post + 1]
        seg = seg - np.partition(seg, seg.size // 2)[seg.size // 2]  # minus its median
        hi, lo = float(seg.max()), float(seg.min())
        peak = max(hi, -lo)  # the largest |sample|
        width = float(np.abs(seg).sum()) / self.fs_hz / peak if peak > 0 else 0.0
        amp = hi - lo
        shape = _Shape(seg, self._lag_idx, self._realign)
        corr = self._match(seg, shape.unit, amp)
        t = b / self.fs_hz
        k = bisect.bisect(self._times, t)
        before = self._shapes.get(self._keys[k - 1]) if k > 0 else None
        # Only runs of non-dominant or fast beats are ever judged on their likeness.
        odd = not corr >= MATCH_CORR
        fast = k > 0 and t - self._times[k - 1] < FAST_RR_S
        prev = before.best(shape) if before is not None and (odd or fast) else math.nan
        found = 1.0 if b in self._recovered else 0.0
        self._recovered.discard(b)
        self._insert_row(k, (t, amp, width, corr, prev, found))
        self._times.insert(k, t)
        self._keys.insert(k, key)
        self._segs[key] = seg
        self._shapes[key] = shape
        after = self._shapes.get(self._keys[k + 1]) if k + 1 < self._n_rows else None
        if after is not None:
            nxt = self._table[k + 1]
            if not nxt[3] >= MATCH_CORR or nxt[0] - t < FAST_RR_S:
                nxt[4] = shape.best(after)
        self._array = None
        if self._times[-1] - self._times[0] > HISTORY_S + 10.0:
            cut = bisect.bisect_left(self._times, self._times[-1] - HISTORY_S)
            n = self._n_rows
            self._table[: n - cut] = self._table[cut:n]
            self._n_rows = n - cut
            del self._times[:cut], self._keys[:cut]
        if len(self._segs) > 32:
            horizon = self.n_seen - self._buf_len
            self._segs = {j: v for j, v in self._segs.items() if j >= horizon}
            live = set(self._keys[-4:])  # neighbours of beats still to come keep their shapes
            self._shapes = {j: v for j, v in self._shapes.items() if j >= horizon or j in live}
        if math.isfinite(corr) and corr < MATCH_CORR and amp >= MIN_QRS_MV:
            self._scans.append((key, seg, amp))

    @property
    def beats(self) -> FloatArray:
        """Measured beats of the last minute or so, one row each: time s, amp mV, width s,
        corr with the template, corr with the previous beat, 1 if recovered by matching."""
        if self._array is None:
            self._array = self._table[: self._n_rows].copy()
        return self._array

    def _insert_row(self, k: int, row: tuple[float, ...]) -> None:
        n = self._n_rows
        if n == self._table.shape[0]:
            self._table = np.concatenate((self._table, np.zeros_like(self._table)))
        if k < n:
            self._table[k + 1 : n + 1] = self._table[k:n]
        self._table[k] = row
        self._n_rows = n + 1

    def _recover(self, key: int, seg: FloatArray, amp: float) -> None:
        """Queue the complexes within 1.2 s of the non-dominant beat at realigned sample
        ``key`` that match its shape and that the R-peak detector skipped (module docstring)."""
        n = seg.size
        i = key - (self.n_seen - self._buf.size)
        lo = max(0, i - self._pre - round(RECOVER_S * self.fs_hz))
        hi = min(self._buf.size - self._margin, i - self._pre + round(RECOVER_S * self.fs_hz) + n)
        y = self._buf[lo:hi]
        if y.size <= n:
            return
        tpl = seg - _add_reduce(seg) / seg.size
        tpl = tpl / (math.sqrt(float(tpl.dot(tpl))) + 1e-12)
        dot = np.correlate(y, tpl, mode="valid")
        c1 = np.concatenate(([0.0], np.cumsum(y)))
        c2 = np.concatenate(([0.0], np.cumsum(y * y)))
        s1, s2 = c1[n:] - c1[:-n], c2[n:] - c2[:-n]
        norm = np.sqrt(np.maximum(s2 - s1 * s1 / n, 1e-18))
        ncc = dot / norm
        gap = round(RECOVER_GAP_S * self.fs_hz)
        peaks = np.flatnonzero(
            (ncc >= 0.8) & (ncc == maximum_filter1d(ncc, 2 * gap + 1, mode="constant"))
        )
        start = self.n_seen - self._buf.size
        known = np.asarray(sorted({*self._segs, *self._pending}), dtype=np.int64)
        for k in peaks.tolist():
            cand = start + lo + k + self._pre
            w = y[k : k + n]
            if w.max() - w.min() < 0.5 * amp:
                continue
            if known.size and np.abs(known - cand).min() < gap:
                continue
            self._pending.append(int(cand))
            self._recovered.add(int(cand))
            known = np.append(known, cand)

    def _match(self, seg: FloatArray, unit: FloatArray, amp: float) -> float:
        """Correlation with the template; maintain the template (module docstring).

        ``unit`` is ``seg`` centred and scaled to norm 1. Complexes under ``MIN_QRS_MV`` (a
        flat or disconnected lead's ripple) are compared but never shape the template.
        """
        if self._template is None:
            if amp >= MIN_QRS_MV:
                self._learning.append(seg)
                if len(self._learning) >= TEMPLATE_BEATS:
                    self._set_template(self._learning, np.median(self._learning, axis=0))
                    self._learning = []
            return math.nan
        c = float(unit @ self._template_unit)
        if amp < MIN_QRS_MV:
            return c
        if c >= MATCH_CORR:
            self._matched.append(seg)
            self._sum += seg
            if len(self._matched) > TEMPLATE_BEATS:
                self._sum -= self._matched.pop(0)
            self._set_template(self._matched, self._sum / len(self._matched), self._sum)
            self._misses = []
        else:
            self._misses.append(seg)
            if len(self._misses) >= RELEARN_AFTER:
                recent = self._misses[-TEMPLATE_BEATS:]
                undo = round(RELEARN_UNDO_S * self.fs_hz)
                if self._before_relearn is None or self.n_seen - self._relearnt_at > undo:
                    # the template before a chain of quick re-learnings is the one to restore
                    self._before_relearn = (self._matched, self._template)
                self._relearnt_at = self.n_seen
                self._set_template(recent, np.median(recent, axis=0))
                self._misses = []
        return c

    def hold_template(self) -> None:
        """The lead shows a fibrillation now: forget the mismatches counted towards a
        re-learning and undo those made in the last ``RELEARN_UNDO_S`` (module docstring)."""
        self._misses = []
        if self._before_relearn is None:
            return
        if self.n_seen - self._relearnt_at <= round(RELEARN_UNDO_S * self.fs_hz):
            matched, template = self._before_relearn
            if template is not None:
                self._set_template(matched, template)
        self._before_relearn = None

    def _set_template(
        self, matched: list[FloatArray], template: FloatArray, total: FloatArray | None = None
    ) -> None:
        if matched is not self._matched:
            self._matched = list(matched)
        self._sum = np.sum(self._matched, axis=0) if total is None else total
        self._template = template
        centred = template - _add_reduce(template) / template.size
        # sqrt(x . x) is how ``np.linalg.norm`` computes a vector's norm.
        self._template_unit = centred / max(math.sqrt(float(centred.dot(centred))), 1e-12)

    def window(self, now: int) -> VfWindow | None:
        """Measures of the 4 s ending at absolute sample ``now`` (None if not buffered)."""
        n = round(WINDOW_S * self.fs_hz)
        end = now - (self.n_seen - self._buf.size)
        if end > self._buf.size or end - n < 0:
            return None
        return vf_window(self._buf[end - n : end], self.fs_hz)

    def recent(self, now: int, span_s: float) -> FloatArray:
        """The band-passed samples of the ``span_s`` seconds before absolute sample ``now``."""
        end = now - (self.n_seen - self._buf.size)
        lo = max(0, end - round(span_s * self.fs_hz))
        return self._buf[lo : max(lo, end)]
