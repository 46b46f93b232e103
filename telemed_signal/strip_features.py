"""Features of a short single-lead ECG strip for :mod:`telemed_signal.strip` (see its docstring
for what each feature measures and the references).

Split from the classifier so that the feature definitions (and the benches' feature cache,
keyed by this module's source) do not change when the model does.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal, stats

from telemed_signal.beats import RrClass, classify_rr
from telemed_signal.ecg import detect_r_peaks
from telemed_signal.ecg_quality import ecg_sqi

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-9

STRIP_CLASSES = ("normal", "af", "other", "noisy")
#: Challenge 2017 label of each class, in :data:`STRIP_CLASSES` order.
CHALLENGE_LABELS = ("N", "A", "O", "~")
FEATURES = (
    "hr_bpm",
    "hr_low_bpm",
    "hr_high_bpm",
    "rr_cv",
    "rr_rmssd",
    "rr_mad",
    "pnn50",
    "prel10",
    "cosen",
    "petrenas",
    "ectopic",
    "premature",
    "compensatory",
    "premature_pause",
    "nn_cv",
    "alternation",
    "rr_ratio",
    "sd1_sd2",
    "p_amp",
    "p_corr",
    "pr_s",
    "residual_p",
    "residual",
    "qrs_width_s",
    "qrs_amp_mv",
    "qrs_polarity",
    "qrs_corr",
    "qrs_odd",
    "wide_odd",
    "amp_cv",
    "st",
    "t_amp",
    "sqi_mean",
    "kurtosis",
    "beats_per_min",
    "short_rr",
)
MIN_BEATS = 5


def strip_features(ecg: npt.ArrayLike, fs_hz: float) -> dict[str, float]:
    """The :data:`FEATURES` of one single-lead strip (mV, NaN = missing) at ``fs_hz``.

    Features that cannot be computed (too few beats) are NaN; the model imputes them.
    """
    x = np.asarray(ecg, dtype=np.float64).ravel()
    fs = float(fs_hz)
    if x.ndim != 1 or x.size < 2 * fs:
        raise ValueError("need a 1-D strip of at least 2 s")
    x = np.where(np.isfinite(x), x, np.nanmedian(x) if np.isfinite(x).any() else 0.0)
    f = dict.fromkeys(FEATURES, math.nan)
    q = ecg_sqi(x, fs)
    f["sqi_mean"] = float(np.mean(q.sqi)) if len(q) else 0.0
    r = detect_r_peaks(x, fs)
    f["beats_per_min"] = 60.0 * r.size / (x.size / fs)
    if r.size >= MIN_BEATS:
        f.update(_rhythm(np.diff(r) / fs))
        f.update(_morphology(x, r, fs))
    return f


def _rhythm(rr: FloatArray) -> dict[str, float]:
    d = np.diff(rr)
    mean = float(rr.mean())
    hr = 60.0 / float(np.median(rr))
    label = classify_rr(rr)
    nn = rr[label == RrClass.NORMAL]
    rel = d / rr[1:]
    q = max(1, rr.size // 4)
    srt = np.sort(rr)
    flips = (np.sign(rel[1:]) != np.sign(rel[:-1])) & (np.abs(rel[1:]) > 0.1)
    sd1 = float(d.std()) / math.sqrt(2.0)
    sd2 = math.sqrt(max(2.0 * float(rr.var()) - sd1**2, _EPS))
    return {
        "hr_bpm": hr,
        "hr_low_bpm": max(0.0, 60.0 - hr),
        "hr_high_bpm": max(0.0, hr - 100.0),
        "rr_cv": float(rr.std()) / mean,
        "rr_rmssd": math.sqrt(float(np.mean(d**2))) / mean,
        "rr_mad": float(np.median(np.abs(rr - np.median(rr)))) / float(np.median(rr)),
        "pnn50": float(np.mean(np.abs(d) > 0.05)),
        "prel10": float(np.mean(np.abs(rel) > 0.1)),
        "cosen": _cosen(rr),
        "petrenas": _petrenas(rr),
        "ectopic": float(np.mean(label != RrClass.NORMAL)),
        "premature": float(np.mean(label == RrClass.PREMATURE)),
        "compensatory": float(np.mean(label == RrClass.COMPENSATORY)),
        "premature_pause": _premature_pause(rr),
        "nn_cv": float(nn.std() / nn.mean()) if nn.size > 3 else float(rr.std()) / mean,
        "alternation": float(np.mean(flips & (np.abs(rel[:-1]) > 0.1))) if rel.size > 1 else 0.0,
        "rr_ratio": float(np.median(srt[-q:]) / np.median(srt[:q])),
        "sd1_sd2": sd1 / sd2,
        "short_rr": float(np.mean(rr < 0.3)),
    }


def _cosen(rr: FloatArray, r_s: float = 0.03) -> float:
    """Coefficient of sample entropy (Lake & Moorman 2011), m = 1, tolerance ``r_s``.

    SampEn - ln(2 r) - ln(mean RR); with no template match (very irregular, short series)
    the sample entropy is capped at ln(n), the largest it can measure.
    """
    n = rr.size
    if n < 4:
        return math.nan
    a1 = sliding_window_view(rr, 1)[: n - 1]
    a2 = sliding_window_view(rr, 2)[: n - 1]
    d1 = np.abs(a1 - a1.T)
    d2 = np.maximum(d1, np.abs(a2[:, 1][:, None] - a2[:, 1][None, :]))
    b = (np.count_nonzero(d1 <= r_s) - (n - 1)) / 2
    a = (np.count_nonzero(d2 <= r_s) - (n - 1)) / 2
    sampen = -math.log(a / b) if a > 0 and b > 0 else math.log(n)
    return sampen - math.log(2 * r_s) - math.log(float(rr.mean()))


def _premature_pause(rr: FloatArray) -> float:
    """Share of intervals under 0.85 of the local median (5 intervals) followed by one over 1.1
    of it: a premature beat and its (compensatory) pause, PACs and PVCs alike."""
    if rr.size < 5:
        return math.nan
    local = np.median(sliding_window_view(np.pad(rr, 2, mode="edge"), 5), axis=1)
    short = rr < 0.85 * local
    return float(np.mean(short[:-1] & (rr[1:] > 1.1 * local[1:])))


def _petrenas(rr: FloatArray, window: int = 8, gamma_s: float = 0.03) -> float:
    """Mean share of pairs of median-filtered RR intervals in ``window``-interval windows
    that differ by >= ``gamma_s`` (Petrenas et al. 2015, step 2 without its smoothing)."""
    if rr.size < window + 2:
        return math.nan
    rm = np.median(sliding_window_view(rr, 3), axis=1)
    w = sliding_window_view(rm, window)
    i, j = np.triu_indices(window, 1)
    return float(np.mean(np.abs(w[:, i] - w[:, j]) >= gamma_s))


def _morphology(x: FloatArray, r: npt.NDArray[np.int64], fs: float) -> dict[str, float]:
    """Median-beat, P-wave, QRST-residual and beat-to-beat measures (module docstring)."""
    b, a = signal.butter(2, (0.5, 40.0), btype="bandpass", fs=fs)
    y = signal.filtfilt(b, a, x)
    # Peaked (high kurtosis) while QRS complexes stand out of a quiet baseline (kSQI).
    kurt = {"kurtosis": float(stats.kurtosis(y))}
    pre, post = round(0.35 * fs), round(0.45 * fs)
    r = r[(r > pre) & (r < x.size - post)]
    if r.size < 3:
        return kurt
    segs = y[r[:, None] + np.arange(-pre, post)[None, :]]
    med = np.median(segs, axis=0)
    c = pre
    q0, q1 = c - round(0.08 * fs), c + round(0.08 * fs)
    amp = max(float(np.ptp(med[q0:q1])), _EPS)
    p0, p1 = c - round(0.30 * fs), c - round(0.09 * fs)
    pw = _detrend(med[p0:p1])
    qrs = segs[:, q0 - round(0.02 * fs) : q1 + round(0.05 * fs)]
    qc = _row_corr(qrs, np.median(qrs, axis=0))
    core = slice(c - round(0.10 * fs), c + round(0.15 * fs))
    width = _eq_width(segs[:, core], fs)
    med_width = float(_eq_width(med[None, core], fs)[0])
    up, down = float(med[q0:q1].max()), float(-med[q0:q1].min())
    pol = 1.0 if up >= down else -1.0
    base = float(np.median(med[p0 : p0 + round(0.05 * fs)]))
    tw = med[c + round(0.15 * fs) : c + round(0.42 * fs)] - base
    resid = segs - med
    amps = np.ptp(segs[:, q0:q1], axis=1)
    return kurt | {
        "p_amp": float(np.ptp(pw)) / amp,
        "p_corr": float(np.median(_row_corr(segs[:, p0:p1], pw))),
        "pr_s": (pw.size - int(np.argmax(np.abs(pw)))) / fs + 0.09,
        "residual_p": math.sqrt(float(np.mean(resid[:, p0:p1] ** 2))) / amp,
        "residual": math.sqrt(float(np.mean(resid**2))) / amp,
        "qrs_width_s": med_width,
        "qrs_amp_mv": amp,
        "qrs_polarity": math.log(max(up, _EPS) / max(down, _EPS)),
        "qrs_corr": float(np.median(qc)),
        "qrs_odd": float(np.mean(qc < 0.8)),
        "wide_odd": float(np.mean((qc < 0.8) & (width > 1.3 * med_width))),
        "amp_cv": float(amps.std() / max(float(amps.mean()), _EPS)),
        "st": pol * (float(np.mean(med[c + round(0.06 * fs) : c + round(0.12 * fs)])) - base) / amp,
        "t_amp": pol * float(tw[int(np.argmax(np.abs(tw)))]) / amp,
    }


def _detrend(v: FloatArray) -> FloatArray:
    t = np.arange(v.size, dtype=np.float64)
    return np.asarray(v - np.polyval(np.polyfit(t, v, 1), t), dtype=np.float64)


def _row_corr(rows: FloatArray, ref: FloatArray) -> FloatArray:
    """Correlation of every row with ``ref``."""
    a = rows - rows.mean(axis=1, keepdims=True)
    b = ref - ref.mean()
    den = np.linalg.norm(a, axis=1) * float(np.linalg.norm(b))
    return np.asarray((a @ b) / np.maximum(den, 1e-12), dtype=np.float64)


def _eq_width(rows: FloatArray, fs: float) -> FloatArray:
    """Equivalent width (s) of each row: area of |x - median| over its peak."""
    d = np.abs(rows - np.median(rows, axis=1, keepdims=True))
    return np.asarray(d.sum(axis=1) / fs / np.maximum(d.max(axis=1), _EPS), dtype=np.float64)


def feature_vector(features: dict[str, float]) -> FloatArray:
    """The features of :func:`strip_features` as an array in :data:`FEATURES` order."""
    return np.array([features[name] for name in FEATURES], dtype=np.float64)
