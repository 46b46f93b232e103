"""ECG signal-quality index (SQI) per window: is this stretch of one lead usable for beats?

``ecg_sqi(ecg_mv, fs_hz)`` cuts one lead (mV, NaN for missing samples, 130-500 Hz) into
windows of ``window_s`` (2 s) and scores each in [0, 1] with the reason for the score. Each
check gives a factor in [0, 1]; the SQI is the smallest (the worst problem) times the share of
samples present, and the reason names the check that set it:

* ``missing``: NaN/inf samples (a dropout); the factor is the share of samples present.
* ``flat``: peak-to-peak below 10 microvolts, or nearly every sample equal to the one before:
  a lead-off or a stuck channel.
* ``clipped``: a plateau of >= 30 ms at the window's maximum or minimum that lies a quarter of
  the range or more from the median or holds half the samples (the amplifier or ADC at its
  rail, typical of lead-off and motion; a flat quantised baseline that happens to be the
  extreme is not a rail), or a peak-to-peak above 10 mV. A noiseless synthetic trace whose
  baseline is exactly its minimum would count as clipped: real leads always carry some noise.
* ``noise``: broadband (muscle, electrode) noise. Its amplitude is estimated robustly from the
  second difference, 1.4826 MAD / sqrt(6) (white noise multiplies its variance by 6 there,
  while the ECG's slope changes little between samples except inside the QRS), and compared
  with the peak-to-peak: the factor falls from 1 at a ratio of 25 to 0 at 10. Noise below
  20 microvolts never counts, whatever the ratio.
* ``baseline_wander``: the range of the medians of eight sub-windows (a median over a quarter
  second ignores the QRS) falls from 1 at 2 mV to 0 at 4 mV.

Checks that need a QRS in the window (kurtosis, the QRS-band power ratio pSQI, template
match) are deliberately left out: they score a true asystole or a ventricular fibrillation as
noise, exactly the events whose alarms must not be suppressed. Likewise a low but non-flat
signal is not penalised. The noise and wander limits were checked on the PhysioNet/CinC 2015
alarms (true-alarm windows stay usable, several false ones do not) and the 2017 strips (noisy
"~" against normal "N"); see ``tests/telemed_signal/test_ecg_quality.py``. The pipeline
should not raise beat-derived alarms (pause, asystole, rate, AF) over windows whose SQI is
below 0.5: see :func:`is_usable`.

References:
    Li Q, Mark RG, Clifford GD. Robust heart rate estimation from multiple asynchronous noisy
    sources using signal quality indices and a Kalman filter. Physiol Meas 29(1):15-32 (2008).
    Clifford GD, Behar J, Li Q, Rezek I. Signal quality indices and data fusion for
    determining clinical acceptability of electrocardiograms. Physiol Meas 33(9):1419 (2012).
    Behar J, Oster J, Li Q, Clifford GD. ECG signal quality during arrhythmia and its
    application to false alarm reduction. IEEE Trans Biomed Eng 60(6):1660-1666 (2013).
    Clifford GD et al. The PhysioNet/Computing in Cardiology Challenge 2015: reducing false
    arrhythmia alarms in the ICU. Computing in Cardiology 42:273-276 (2015).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Sampling rates the thresholds were checked for (Hz).
FS_RANGE_HZ = (100.0, 1000.0)


class SqiReason(IntEnum):
    """What set a window's SQI (``OK`` when every check passed)."""

    OK = 0
    MISSING = 1
    FLAT = 2
    CLIPPED = 3
    NOISE = 4
    BASELINE_WANDER = 5


@dataclass(frozen=True, slots=True)
class SqiParams:
    """Limits of :func:`ecg_sqi` (mV, s, and the dimensionless peak-to-peak/noise ratio)."""

    window_s: float = 2.0
    flat_ptp_mv: float = 0.01
    flat_still_fraction: float = 0.95
    max_ptp_mv: float = 10.0
    plateau_s: float = 0.03
    snr_good: float = 25.0
    snr_bad: float = 10.0
    noise_floor_mv: float = 0.02
    wander_good_mv: float = 2.0
    wander_bad_mv: float = 4.0

    def __post_init__(self) -> None:
        ok = (
            self.window_s >= 1.0
            and 0 <= self.flat_ptp_mv < self.max_ptp_mv
            and 0 < self.flat_still_fraction <= 1
            and self.plateau_s > 0
            and 0 < self.snr_bad < self.snr_good
            and self.noise_floor_mv >= 0
            and 0 < self.wander_good_mv < self.wander_bad_mv
        )
        if not ok:
            raise ValueError(f"invalid SQI parameters: {self}")


@dataclass(frozen=True, slots=True)
class EcgQuality:
    """SQI per window: ``start_s[i]`` (s from the first sample) to ``start_s[i] + window_s``."""

    start_s: FloatArray
    window_s: float
    sqi: FloatArray
    reason: npt.NDArray[np.int8]

    def reasons(self) -> list[str]:
        """The reasons as lower-case names (``"ok"``, ``"flat"``, ...)."""
        return [SqiReason(int(r)).name.lower() for r in self.reason]

    def __len__(self) -> int:
        return int(self.sqi.size)


def _check_fs(fs_hz: float) -> float:
    fs = float(fs_hz)
    if not (math.isfinite(fs) and FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]):
        raise ValueError(f"fs_hz must be within {FS_RANGE_HZ} Hz, got {fs_hz!r}")
    return fs


def _ramp(x: FloatArray, bad: float, good: float) -> FloatArray:
    """0 at ``bad`` or below, 1 at ``good`` or above, linear between."""
    return np.asarray(np.clip((x - bad) / (good - bad), 0.0, 1.0), dtype=np.float64)


def _row_median(x: FloatArray, axis: int) -> FloatArray:
    """``np.nanmedian`` along ``axis``; the plain median (same values, many times faster
    than NaN masking) when nothing is missing, the common case."""
    if not np.isnan(x).any():
        return np.asarray(np.median(x, axis=axis), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are handled by callers
        return np.asarray(np.nanmedian(x, axis=axis), dtype=np.float64)


def _noise_mv(w: FloatArray) -> FloatArray:
    """Robust broadband noise amplitude of each row (mV): 1.4826 MAD(second difference) / sqrt 6.

    White noise of SD s gives a second difference of SD s sqrt 6; an ECG, or a 5 Hz
    fibrillation wave, changes slope little from one sample to the next outside the QRS.
    """
    d = np.abs(np.diff(w, n=2, axis=1))
    return np.asarray(1.4826 / math.sqrt(6.0) * _row_median(d, axis=1), dtype=np.float64)


def _wander_mv(w: FloatArray) -> FloatArray:
    """Range of the medians of eight equal sub-windows of each row (mV)."""
    k = 8
    sub = w[:, : w.shape[1] // k * k].reshape(w.shape[0], k, -1)
    med = _row_median(sub, axis=2)
    if not np.isnan(med).any():
        return np.asarray(med.max(axis=1) - med.min(axis=1), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nan_to_num(np.nanmax(med, axis=1) - np.nanmin(med, axis=1), nan=0.0)
    return np.asarray(spread, dtype=np.float64)


def _plateau(
    w: FloatArray, ext: FloatArray, median: FloatArray, ptp: FloatArray, run: int
) -> npt.NDArray[np.bool_]:
    """Rows clipped at ``ext``: >= ``run`` consecutive samples there, and the level either far
    (>= 1/4 of the range) from the median or holding half the samples. A rail cuts excursions
    off or swallows the trace; a quantised baseline that happens to be the extreme does neither.
    """
    at = w == ext[:, None]
    c = np.concatenate((np.zeros((w.shape[0], 1)), np.cumsum(at, axis=1)), axis=1)
    has_run = np.any(c[:, run:] - c[:, :-run] >= run, axis=1)
    far = np.abs(ext - median) >= 0.25 * ptp
    return np.asarray(has_run & (far | (at.mean(axis=1) >= 0.5)), dtype=np.bool_)


def _score_windows(w: FloatArray, present: FloatArray, fs_hz: float, p: SqiParams) -> EcgQuality:
    """Score full windows ``w`` (rows; NaN = missing); ``present`` = share of real samples."""
    finite = np.isfinite(w)
    any_data = np.asarray(finite.any(axis=1), dtype=np.bool_)
    if finite.all():
        hi, lo = w.max(axis=1), w.min(axis=1)
    else:
        w = np.where(finite, w, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are handled below
            hi, lo = np.nanmax(w, axis=1), np.nanmin(w, axis=1)
    median = _row_median(w, axis=1)
    ptp = np.where(any_data, hi - lo, 0.0)
    still = np.mean(np.diff(w, axis=1) == 0, axis=1)
    noise = np.nan_to_num(_noise_mv(w), nan=0.0)
    snr = ptp / np.maximum(noise, 1e-12)
    run = max(3, math.ceil(p.plateau_s * fs_hz))
    clipped = (
        (ptp > p.max_ptp_mv) | _plateau(w, hi, median, ptp, run) | _plateau(w, lo, median, ptp, run)
    )
    flat = (ptp < p.flat_ptp_mv) | (still >= p.flat_still_fraction) | ~any_data
    noisy = np.where(noise >= p.noise_floor_mv, _ramp(snr, p.snr_bad, p.snr_good), 1.0)
    checks = np.stack(
        (
            np.where(flat, 0.0, 1.0),
            np.where(clipped, 0.0, 1.0),
            noisy,
            1.0 - _ramp(_wander_mv(w), p.wander_good_mv, p.wander_bad_mv),
        ),
        axis=1,
    )
    worst = np.argmin(checks, axis=1)  # ties go to the earlier check, in SqiReason order
    factor = checks[np.arange(w.shape[0]), worst]
    sqi = np.asarray(factor * present, dtype=np.float64)
    reason = np.where(factor < 1.0, worst + SqiReason.FLAT, np.where(present < 1.0, 1, 0))
    reason = np.where(any_data, reason, SqiReason.MISSING).astype(np.int8)
    return EcgQuality(np.zeros(w.shape[0]), p.window_s, sqi, reason)


class EcgQualityMonitor:
    """Streaming SQI: ECG chunks (mV) in, the windows they complete out.

    Window ``i`` covers samples ``[i * n, (i + 1) * n)`` with ``n = round(window_s * fs_hz)``
    counted from the first sample fed; a chunk boundary never changes a score. The state is the
    unfinished window's samples (under one window) and the sample count.
    """

    def __init__(self, fs_hz: float, params: SqiParams | None = None) -> None:
        self.fs_hz = _check_fs(fs_hz)
        self.params = params or SqiParams()
        self.n_per_window = round(self.params.window_s * self.fs_hz)
        self._buffer = np.empty(0)
        self._n_windows = 0
        self._finished = False

    def process(self, ecg_mv: npt.ArrayLike) -> EcgQuality:
        """Consume the next samples (1-D, mV, NaN = missing); score the completed windows."""
        if self._finished:
            raise ValueError("the stream has been flushed")
        x = np.asarray(ecg_mv, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"ecg_mv must be 1-D, got shape {x.shape}")
        data = np.concatenate((self._buffer, x))
        n_full = data.size // self.n_per_window
        self._buffer = data[n_full * self.n_per_window :].copy()
        rows = data[: n_full * self.n_per_window].reshape(n_full, self.n_per_window)
        return self._score(rows, np.mean(np.isfinite(rows), axis=1))

    def flush(self) -> EcgQuality:
        """End the stream: score the last, partial window (its padding is not missing)."""
        self._finished = True
        n = self._buffer.size
        if n == 0:
            return self._score(np.empty((0, self.n_per_window)), np.empty(0))
        row = np.concatenate((self._buffer, np.full(self.n_per_window - n, np.nan)))[None, :]
        present = np.array([np.mean(np.isfinite(self._buffer))])
        self._buffer = np.empty(0)
        return self._score(row, present)

    def _score(self, rows: FloatArray, present: FloatArray) -> EcgQuality:
        if not rows.shape[0]:
            empty = np.empty(0)
            return EcgQuality(empty, self.params.window_s, empty, np.empty(0, np.int8))
        q = _score_windows(rows, present, self.fs_hz, self.params)
        starts = (self._n_windows + np.arange(rows.shape[0])) * self.n_per_window / self.fs_hz
        self._n_windows += rows.shape[0]
        return EcgQuality(np.asarray(starts, np.float64), q.window_s, q.sqi, q.reason)

    def to_state(self) -> dict[str, Any]:
        """A JSON-able checkpoint (holds under one window of samples)."""
        return {
            "v": 1,
            "fs_hz": self.fs_hz,
            "params": asdict(self.params),
            "buffer": [None if not math.isfinite(v) else v for v in self._buffer.tolist()],
            "n_windows": self._n_windows,
            "finished": self._finished,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EcgQualityMonitor:
        """Rebuild a monitor from ``to_state()``; raises ValueError on an unknown version."""
        if state.get("v") != 1:
            raise ValueError(f"unsupported EcgQualityMonitor state version {state.get('v')!r}")
        m = cls(state["fs_hz"], SqiParams(**state["params"]))
        m._buffer = np.array([np.nan if v is None else v for v in state["buffer"]], np.float64)
        m._n_windows = int(state["n_windows"])
        m._finished = bool(state["finished"])
        return m


def ecg_sqi(ecg_mv: npt.ArrayLike, fs_hz: float, params: SqiParams | None = None) -> EcgQuality:
    """SQI per window of a whole single-lead ECG (mV, NaN = missing) sampled at ``fs_hz``.

    A trailing partial window is scored too. See the module docstring for the checks.
    """
    monitor = EcgQualityMonitor(fs_hz, params)
    head, tail = monitor.process(ecg_mv), monitor.flush()
    return EcgQuality(
        np.concatenate((head.start_s, tail.start_s)),
        head.window_s,
        np.concatenate((head.sqi, tail.sqi)),
        np.concatenate((head.reason, tail.reason)),
    )


def is_usable(quality: EcgQuality, start_s: float, end_s: float, min_sqi: float = 0.5) -> bool:
    """True when every window overlapping ``[start_s, end_s]`` has an SQI >= ``min_sqi``.

    A span with no scored window is not usable (nothing vouches for it).
    """
    ends = quality.start_s + quality.window_s
    overlap = (quality.start_s <= end_s) & (ends > start_s)
    return bool(overlap.any() and np.all(quality.sqi[overlap] >= min_sqi))
