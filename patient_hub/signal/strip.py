"""AF on a short single-lead strip (a kiosk's 30 s ECG, a handheld ECG): normal, AF, other, noisy.

:func:`classify_strip` answers the PhysioNet/CinC Challenge 2017 question for one strip
(Clifford et al. 2017): ``"normal"`` sinus rhythm, ``"af"`` (atrial fibrillation), ``"other"``
rhythm, or ``"noisy"`` (too noisy to classify). It computes the features of
:func:`strip_features` and applies a multinomial logistic regression whose parameters are
stored below (:data:`MODEL`); :func:`fit_strip_model` is the training procedure.

Features (unit-free or in s / bpm, except the QRS amplitude in mV and the quality index,
which expect mV), from the R peaks of :func:`patient_hub.signal.ecg.detect_r_peaks` and a
zero-phase 0.5-40 Hz copy of the strip:

* rhythm: heart rate and its excess below 60 / above 100 bpm; RR coefficient of variation,
  normalised RMSSD, robust (MAD) variation, the share of successive RR differences over
  50 ms (pNN50) and over 10 % of the interval; the coefficient of sample entropy of Lake &
  Moorman (2011) (COSEn, m = 1, r = 30 ms), the AF measure validated on short records;
  Petrenas et al.'s (2015) irregularity (share of pairs of median-filtered intervals in
  8-interval windows differing by >= 30 ms, the core of
  :func:`patient_hub.signal.af.detect_af`, whose 34-beat smoothing is too slow for a 30 s
  strip); ectopy by the 20 % rule of :func:`patient_hub.signal.beats.classify_rr` (premature
  and compensatory shares, the variation of the remaining normal intervals, short-long
  alternation) and the ratio of long to short intervals;
* atrial activity: the P wave of the median beat (peak-to-peak 90-300 ms before R, over the
  QRS amplitude; its timing) and how consistently each beat shows it (median correlation
  with the median beat's P wave), the QRST-cancellation residual there (Stridh & Sornmo 2001:
  fibrillatory waves or noise remain once the average beat is subtracted);
* QRS and repolarisation: equivalent width and amplitude of the median QRS, its polarity, the
  share of beats unlike it (correlation < 0.8) and of those also wider (ventricular ectopy),
  the beat-to-beat amplitude variation, ST level and T-wave amplitude against the QRS;
* quality: the mean signal-quality index of :func:`patient_hub.signal.ecg_quality.ecg_sqi`,
  beats per minute as detected, and the share of RR intervals under 0.3 s.

Model and training (:func:`fit_strip_model`, reproducible, numpy/scipy only): features are
median-imputed and standardised; a softmax regression with an intercept is fitted by L-BFGS
to the class-balanced cross-entropy (each class weighs as much as the others, as the
challenge's F1 score does) plus an L2 penalty of 1 (per sample) on the weights. The stored
parameters were fitted on the 600 development strips of ``../shared/data/physionet/
challenge2017``; ``bench/bench_lethal.py`` refits them and reports stratified 5-fold
cross-validated F1 (the score to expect on new strips), besides the training-set F1. A
gradient-boosted tree model (depth 2, numpy) did no better in cross-validation, so the
smaller, more transparent linear model was kept.

References:
    Clifford GD, Liu C, Moody B, et al. AF classification from a short single lead ECG
    recording: the PhysioNet/Computing in Cardiology Challenge 2017. Computing in Cardiology
    44 (2017).
    Lake DE, Moorman JR. Accurate estimation of entropy in very short physiological time
    series: the problem of atrial fibrillation detection in implanted ventricular devices.
    Am J Physiol Heart Circ Physiol 300:H319-H325 (2011).
    Petrenas A, Marozas V, Sornmo L. Low-complexity detection of atrial fibrillation in
    continuous long-term monitoring. Comput Biol Med 65:184-191 (2015).
    Stridh M, Sornmo L. Spatiotemporal QRST cancellation techniques for analysis of atrial
    fibrillation. IEEE Trans Biomed Eng 48(1):105-111 (2001).
    Malik M et al. Influence of the recognition artefact in automatic analysis of long-term
    electrocardiograms on time-domain measurement of heart rate variability. Med Biol Eng
    Comput 31:539-544 (1993) (the 20 % ectopic rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal
from scipy.optimize import minimize

from patient_hub.signal.beats import RrClass, classify_rr
from patient_hub.signal.ecg import detect_r_peaks
from patient_hub.signal.ecg_quality import ecg_sqi

__all__ = [
    "CHALLENGE_LABELS",
    "FEATURES",
    "MODEL",
    "STRIP_CLASSES",
    "StripModel",
    "classify_features",
    "classify_strip",
    "feature_vector",
    "fit_strip_model",
    "strip_features",
    "strip_probabilities",
]

FloatArray = npt.NDArray[np.float64]

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
    "nn_cv",
    "alternation",
    "rr_ratio",
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
    "beats_per_min",
    "short_rr",
)
MIN_BEATS = 5
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class StripModel:
    """Softmax regression: ``classes`` x features weights, with imputation and scaling."""

    median: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[tuple[float, ...], ...]  # one row per feature, then the intercept row
    l2: float = 1.0

    def scores(self, x: FloatArray) -> FloatArray:
        """Class probabilities for feature rows ``x`` (n x features), NaN imputed."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        x = np.where(np.isfinite(x), x, np.asarray(self.median))
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        w = np.asarray(self.weights)
        s = z @ w[:-1] + w[-1]
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


# ---------------------------------------------------------------- features


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
        "nn_cv": float(nn.std() / nn.mean()) if nn.size > 3 else float(rr.std()) / mean,
        "alternation": float(np.mean(flips & (np.abs(rel[:-1]) > 0.1))) if rel.size > 1 else 0.0,
        "rr_ratio": float(np.median(srt[-q:]) / np.median(srt[:q])),
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
    pre, post = round(0.35 * fs), round(0.45 * fs)
    r = r[(r > pre) & (r < x.size - post)]
    if r.size < 3:
        return {}
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
    return {
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


# ---------------------------------------------------------------- model


def fit_strip_model(features: FloatArray, labels: Sequence[str], l2: float = 1.0) -> StripModel:
    """Fit the softmax regression of the module docstring.

    ``features`` is n x len(FEATURES) (NaN allowed); ``labels`` are class names of
    :data:`STRIP_CLASSES` or Challenge 2017 labels (N, A, O, ~). Deterministic: L-BFGS from
    zero weights.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.array([_class_index(lab) for lab in labels])
    k = len(STRIP_CLASSES)
    median = np.nanmedian(x, axis=0)
    median = np.where(np.isfinite(median), median, 0.0)
    x = np.where(np.isfinite(x), x, median)
    mean, scale = x.mean(axis=0), x.std(axis=0) + _EPS
    z = np.hstack(((x - mean) / scale, np.ones((x.shape[0], 1))))
    n, d = z.shape
    counts = np.bincount(y, minlength=k)
    weight = (n / (k * np.maximum(counts, 1)))[y]
    onehot = np.eye(k)[y]
    penal = np.ones((d, 1))
    penal[-1] = 0.0  # the intercept is not penalised

    def loss(flat: FloatArray) -> tuple[float, FloatArray]:
        w = flat.reshape(d, k)
        s = z @ w
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        value = -float(np.sum(weight * np.log(np.sum(p * onehot, axis=1) + 1e-12))) / n
        value += l2 / 2 * float(np.sum(penal * w**2)) / n
        grad = z.T @ ((p - onehot) * weight[:, None]) / n + l2 * penal * w / n
        return value, grad.ravel()

    res = minimize(loss, np.zeros(d * k), jac=True, method="L-BFGS-B")
    w = res.x.reshape(d, k)
    return StripModel(
        tuple(float(v) for v in median),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(tuple(float(v) for v in row) for row in w),
        l2,
    )


def _class_index(label: str) -> int:
    if label in STRIP_CLASSES:
        return STRIP_CLASSES.index(label)
    if label in CHALLENGE_LABELS:
        return CHALLENGE_LABELS.index(label)
    raise ValueError(f"unknown strip label {label!r}")


def feature_vector(features: dict[str, float]) -> FloatArray:
    """The features of :func:`strip_features` as an array in :data:`FEATURES` order."""
    return np.array([features[name] for name in FEATURES], dtype=np.float64)


def strip_probabilities(
    ecg: npt.ArrayLike, fs_hz: float, model: StripModel | None = None
) -> dict[str, float]:
    """Probability of each class of :data:`STRIP_CLASSES` for one strip."""
    f = strip_features(ecg, fs_hz)
    p = (model or MODEL).scores(feature_vector(f)[None, :])[0]
    return {name: float(v) for name, v in zip(STRIP_CLASSES, p, strict=True)}


def classify_features(features: dict[str, float], model: StripModel | None = None) -> str:
    """The class of a strip from its :func:`strip_features` (see :func:`classify_strip`)."""
    if not math.isfinite(features["hr_bpm"]):
        return "noisy"
    p = (model or MODEL).scores(feature_vector(features)[None, :])[0]
    return STRIP_CLASSES[int(np.argmax(p))]


def classify_strip(ecg: npt.ArrayLike, fs_hz: float) -> str:
    """``"normal"``, ``"af"``, ``"other"`` or ``"noisy"`` for a single-lead ECG strip.

    ``ecg`` is 1-D in mV (NaN = missing), at least 2 s, sampled at ``fs_hz`` (100-1000 Hz).
    A strip where fewer than 5 beats are found is ``"noisy"``: nothing can be said of its
    rhythm. See the module docstring for the method and its validation.
    """
    return classify_features(strip_features(ecg, fs_hz))


#: Parameters fitted by :func:`fit_strip_model` on the 600 Challenge 2017 development strips
#: (``bench/bench_lethal.py --refit`` prints them again).
MODEL = StripModel(
    median=(
        75.551,
        0,
        0,
        0.145059,
        0.168124,
        0.0366173,
        0.32503,
        0.215251,
        3.69421,
        0.418855,
        0.125,
        0.047619,
        0,
        0.078216,
        0.0769231,
        1.24158,
        0.0770869,
        0.415768,
        0.133333,
        0.0922682,
        0.104729,
        0.0370204,
        0.816914,
        1.12337,
        0.987346,
        0.0294118,
        0.025,
        0.108915,
        -0.0286048,
        0.189042,
        1,
        76,
        0,
    ),
    mean=(
        80.9172,
        0.892652,
        4.04853,
        0.162895,
        0.201344,
        0.0712024,
        0.383769,
        0.322418,
        3.99324,
        0.402502,
        0.198461,
        0.0842253,
        0.0277736,
        0.0954547,
        0.175894,
        1.48793,
        0.092509,
        0.421309,
        0.157633,
        0.183149,
        0.20927,
        0.0407909,
        0.869858,
        0.888694,
        0.960398,
        0.101443,
        0.0789561,
        0.1964,
        -0.027311,
        0.151614,
        0.991432,
        80.9209,
        0.0172235,
    ),
    scale=(
        25.0286,
        2.87533,
        14.293,
        0.147355,
        0.202998,
        0.0815174,
        0.320799,
        0.309662,
        0.859291,
        0.277685,
        0.206503,
        0.1004,
        0.0534579,
        0.0768191,
        0.207946,
        0.596785,
        0.0893289,
        0.263651,
        0.071693,
        0.30183,
        0.360041,
        0.0131797,
        0.373103,
        1.13826,
        0.100052,
        0.167108,
        0.131217,
        0.241444,
        0.10688,
        0.268328,
        0.0421951,
        23.1746,
        0.0648113,
    ),
    # rows: FEATURES in order, then the intercept; columns: STRIP_CLASSES
    weights=(
        (-0.316394, 0.248473, 0.115415, -0.0474942),  # hr_bpm
        (0.06082, 0.829177, 0.640565, -1.53056),  # hr_low_bpm
        (-1.30059, 0.5572, 0.218417, 0.524968),  # hr_high_bpm
        (0.708901, -0.00855841, -0.527813, -0.17253),  # rr_cv
        (-0.778473, 0.34464, 1.03083, -0.596996),  # rr_rmssd
        (-0.367948, 0.408621, 0.357066, -0.397739),  # rr_mad
        (-0.561752, 1.25179, -0.114751, -0.575288),  # pnn50
        (-0.629462, 0.521174, 0.008269, 0.100018),  # prel10
        (-0.146196, 0.445653, -0.239817, -0.0596405),  # cosen
        (0.0951778, -0.175422, -0.708094, 0.788338),  # petrenas
        (-0.10408, 0.540352, -0.83871, 0.402437),  # ectopic
        (-0.411268, -0.469443, 0.799458, 0.0812527),  # premature
        (-0.547717, 0.315172, 0.349584, -0.117039),  # compensatory
        (-0.00086478, 0.237295, 0.214885, -0.451315),  # nn_cv
        (0.413517, -0.342747, 0.297789, -0.368559),  # alternation
        (0.0772041, -0.482161, -0.444288, 0.849244),  # rr_ratio
        (0.472997, -0.921253, -0.0160448, 0.464301),  # p_amp
        (0.684001, -0.306415, 1.08775, -1.46534),  # p_corr
        (-0.321628, 0.199064, 0.177475, -0.054911),  # pr_s
        (0.635701, -0.0562424, -0.762529, 0.183071),  # residual_p
        (-0.188275, -0.0513955, 0.37111, -0.131439),  # residual
        (-0.0555632, -0.061191, 0.47561, -0.358856),  # qrs_width_s
        (-0.0152689, -0.339944, -0.0246861, 0.379899),  # qrs_amp_mv
        (0.118493, 0.385781, 0.206267, -0.71054),  # qrs_polarity
        (-0.0283524, 0.598603, 0.0549534, -0.625204),  # qrs_corr
        (-0.485066, 0.157416, 0.29147, 0.0361796),  # qrs_odd
        (0.768869, -1.15305, 0.209572, 0.174605),  # wide_odd
        (-0.0247097, -0.498588, -0.554535, 1.07783),  # amp_cv
        (0.328353, -0.262696, 0.188491, -0.254148),  # st
        (-0.0825292, -0.179533, 0.0752376, 0.186825),  # t_amp
        (0.306639, -0.349277, 0.139536, -0.0968972),  # sqi_mean
        (-0.588949, 0.754489, -0.428658, 0.263117),  # beats_per_min
        (0.0757235, -0.263733, 0.22694, -0.0389305),  # short_rr
        (0.927402, -0.233041, 1.84576, -2.54012),  # (intercept)
    ),
)
