"""ECG R-peak detection: a causal, streaming Hamilton-Tompkins detector, and beat matching.

Method (``method="hamilton1986"``): band-pass 5-15 Hz, 10 ms first difference, |.|, 120 ms
moving-window integration (MWI); MWI peaks (largest within +/- 100 ms) compete with their
neighbours (the larger wins within 200 ms, or 320 ms on a noisy lead); the QRS/noise decision
uses Hamilton & Tompkins' median-based adaptive threshold, search-back at 1.5 RR for peaks
above half the threshold, Pan & Tompkins' T-wave slope test, Hamilton's baseline-shift test
and learning/re-learning period; the R peak is placed at the largest |band-passed| sample of
the complex, corrected for the filter's group delay. See
:mod:`telemed_signal.ecg_features` and :mod:`telemed_signal.ecg_rules`.

Choices that differ from the 1986 paper: a Butterworth band-pass instead of the integer
filters designed for 200 Hz (so any sampling rate works), a 120 ms integration window (between
Hamilton's 80 ms and Pan & Tompkins' 150 ms), a symmetric peak neighbourhood (as in WFDB's
gqrs) that widens from 200 to 320 ms when the noise-peak level exceeds 10 % of the QRS level,
a 2 s learning period (Hamilton: 8 s) whose beats are classified once it ends, and a
search-back interval capped at 2.5 s so that the reporting delay is bounded.

Entry points: :class:`RPeakDetector` (one stream), :class:`RPeakDetectorBank` (many streams
of the same rate in one vectorised call, identical results), :func:`detect_r_peaks` (a whole
recording) and :func:`match_beats` (scoring against reference annotations).

References:
    Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules using the
    MIT/BIH arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165 (1986).
    Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
    32(3):230-236 (1985).
    Hamilton P. Open source ECG analysis. Computers in Cardiology 29:101-104 (2002).
    ANSI/AAMI EC57: testing and reporting performance results of cardiac rhythm and ST
    segment measurement algorithms (150 ms match window).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import numpy.typing as npt

from telemed_signal.ecg_features import Candidate, QrsFeatureStream
from telemed_signal.ecg_rules import HamiltonRules

__all__ = [
    "BEAT_SYMBOLS",
    "FS_RANGE_HZ",
    "MAX_DELAY_S",
    "RPeakDetector",
    "RPeakDetectorBank",
    "detect_r_peaks",
    "match_beats",
]

IndexArray = npt.NDArray[np.int64]

#: MIT-BIH annotation codes that denote a beat (everything else is rhythm, noise, comments).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
#: Sampling rates accepted; accuracy is tested at 130, 250, 360 and 1000 Hz.
FS_RANGE_HZ = (100.0, 2000.0)
#: Upper bound on the time between an R peak and the ``process`` call that reports it,
#: counted in samples fed (normally about 0.6 s; search-back and learning take longer).
MAX_DELAY_S = 3.0


def _check_fs(fs_hz: float) -> float:
    if isinstance(fs_hz, bool) or not isinstance(fs_hz, Real):
        raise ValueError(f"fs_hz must be a number, got {fs_hz!r}")
    fs = float(fs_hz)
    if not math.isfinite(fs) or not FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]:
        raise ValueError(f"fs_hz must be within {FS_RANGE_HZ} Hz, got {fs_hz!r}")
    return fs


def _as_samples(ecg: npt.ArrayLike, ndim: int) -> npt.NDArray[np.float64]:
    arr = np.asarray(ecg)
    if arr.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array of ECG samples, got shape {arr.shape}")
    if arr.dtype != np.float64:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"ECG samples must be real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    return arr


class RPeakDetectorBank:
    """``n_streams`` independent :class:`RPeakDetector` streams advanced by one call.

    ``process(chunks)`` takes an ``(n_streams, m)`` array, the next ``m`` samples of every
    lead (all at ``fs_hz``), and returns one int64 index array per stream, exactly what a
    separate :class:`RPeakDetector` would return for that lead. Filtering and peak search are
    vectorised across streams, so the per-call overhead is paid once for the whole bank.
    """

    method = "hamilton1986"

    def __init__(self, fs_hz: float, n_streams: int) -> None:
        if isinstance(n_streams, bool) or not isinstance(n_streams, int) or n_streams < 1:
            raise ValueError(f"n_streams must be a positive int, got {n_streams!r}")
        self.fs_hz = _check_fs(fs_hz)
        self.n_streams = n_streams
        self._features = QrsFeatureStream(self.fs_hz, n_streams)
        self._rules = [HamiltonRules(self.fs_hz) for _ in range(n_streams)]
        self._flushed = False

    @property
    def n_samples(self) -> int:
        """Number of samples consumed so far by each stream."""
        return self._features.n_seen

    def process(self, chunks: npt.ArrayLike) -> list[IndexArray]:
        """Consume the next ``(n_streams, m)`` samples; return the new R peaks per stream."""
        if self._flushed:
            raise ValueError("stream already flushed; start a new detector")
        x = _as_samples(chunks, 2)
        if x.shape[0] != self.n_streams:
            raise ValueError(f"expected {self.n_streams} rows (one per stream), got {x.shape[0]}")
        if self.n_streams == 1:  # a single lead takes the compiled steady-chunk path
            return [self._process_one(x[0])]
        return self._collect(self._features.push(x), final=False)

    def _process_one(self, chunk: npt.ArrayLike) -> IndexArray:
        """``process`` for a one-stream bank fed a 1-D chunk (the :class:`RPeakDetector` path)."""
        if self._flushed:
            raise ValueError("stream already flushed; start a new detector")
        features, rules = self._features, self._rules[0]
        for c in features.push_lead(_as_samples(chunk, 1)):
            rules.feed(c)
        rules.advance(features.next_check - 1)  # the horizon
        return np.array(rules.take(), dtype=np.int64)

    def flush(self) -> list[IndexArray]:
        """End every stream and return the R peaks still pending, per stream."""
        if self._flushed:
            return [np.zeros(0, dtype=np.int64) for _ in self._rules]
        self._flushed = True
        return self._collect(self._features.finish(), final=True)

    def _collect(self, found: list[list[Candidate]], final: bool) -> list[IndexArray]:
        out = []
        for rules, candidates in zip(self._rules, found, strict=True):
            for c in candidates:
                rules.feed(c)
            if final:
                rules.finish(self._features.horizon)
            else:
                rules.advance(self._features.horizon)
            out.append(np.asarray(rules.take(), dtype=np.int64))
        return out


class RPeakDetector:
    """Streaming R-peak detector for one ECG lead (Hamilton & Tompkins 1986, see module doc).

    ``process(chunk)`` takes the next samples (1-D, any length including 0, in any amplitude
    unit: the detector is scale-invariant) and returns the absolute sample indices (int64,
    increasing, counted from the first sample ever fed) of the R peaks found since the last
    call. It is causal: a peak is reported at most ``MAX_DELAY_S`` (3 s) of signal after it
    occurred, usually about 0.6 s after. ``flush()`` ends the stream and returns the peaks
    still pending. The result never depends on how the signal is cut into chunks.

    Non-finite samples (NaN, inf) are a gap: no beat is placed in it nor in the 0.2 s after
    it, while the filters restart. A flat or clipped stretch yields no beats.

    The state is a few fixed-size arrays and scalars (no buffer grows with time), plus room
    to filter the next chunk in place, sized to the chunks fed (at most 8192 samples) and not
    pickled; the object is picklable, which is how it is checkpointed.
    """

    method = "hamilton1986"

    def __init__(self, fs_hz: float) -> None:
        self._bank = RPeakDetectorBank(fs_hz, 1)
        self.fs_hz = self._bank.fs_hz

    @property
    def n_samples(self) -> int:
        """Number of samples consumed so far."""
        return self._bank.n_samples

    def process(self, chunk: npt.ArrayLike) -> IndexArray:
        """Consume the next samples; return the new R-peak sample indices (int64)."""
        return self._bank._process_one(chunk)

    def flush(self) -> IndexArray:
        """End the stream and return the R peaks still pending (int64 sample indices)."""
        return self._bank.flush()[0]


def detect_r_peaks(ecg: npt.ArrayLike, fs_hz: float) -> IndexArray:
    """R-peak sample indices (int64) of a whole single-lead ECG recording.

    ``ecg`` is 1-D in any amplitude unit, sampled at ``fs_hz`` Hz; NaN marks a gap. The result
    is exactly what :class:`RPeakDetector` streams for the same samples.
    """
    detector = RPeakDetector(fs_hz)
    return np.concatenate((detector.process(ecg), detector.flush()))


def match_beats(
    detected: npt.ArrayLike,
    reference: npt.ArrayLike,
    fs_hz: float,
    tolerance_s: float = 0.15,
) -> tuple[int, int, int]:
    """Match detected to reference beats one to one; return ``(tp, fp, fn)``.

    Greedy nearest matching as in WFDB ``bxb``/EC57: each reference beat, in time order,
    takes the closest still-unmatched detection within ``tolerance_s`` seconds (ties go to
    the earlier one). Indices are samples at ``fs_hz`` Hz.
    """
    fs = float(fs_hz)
    if not (math.isfinite(fs) and fs > 0 and math.isfinite(tolerance_s) and tolerance_s >= 0):
        raise ValueError("fs_hz must be > 0 and tolerance_s >= 0")
    det = np.sort(np.asarray(detected, dtype=np.int64).ravel())
    ref = np.sort(np.asarray(reference, dtype=np.int64).ravel())
    tol = tolerance_s * fs
    used = np.zeros(det.size, dtype=bool)
    tp = 0
    for r in ref.tolist():
        lo = int(np.searchsorted(det, r - tol, side="left"))
        hi = int(np.searchsorted(det, r + tol, side="right"))
        free = [k for k in range(lo, hi) if not used[k]]
        if free:
            best = min(free, key=lambda k: abs(int(det[k]) - r))
            used[best] = True
            tp += 1
    return tp, det.size - tp, ref.size - tp
