"""AF on a short single-lead strip (a kiosk's 30 s ECG, a handheld ECG): normal, AF, other, noisy.

:func:`classify_strip` answers the PhysioNet/CinC Challenge 2017 question for one strip
(Clifford et al. 2017): ``"normal"`` sinus rhythm, ``"af"`` (atrial fibrillation), ``"other"``
rhythm, or ``"noisy"`` (too noisy to classify). It computes the features of
:func:`strip_features` (:mod:`telemed_signal.strip_features`) and applies the shipped
gradient-boosted trees (:func:`shipped_model`, :mod:`telemed_signal.strip_trees`): scikit-learn's
``HistGradientBoostingClassifier`` (200 trees per class, 15 leaves, rate 0.05,
class-balanced), trained by ``bench/train_strip.py`` on the 1,599 development strips outside the
fixed holdout and evaluated here with numpy. ``bench/bench_strip.py`` chose it by nested,
stratified cross-validation against the softmax regression below (:data:`MODEL`,
:func:`fit_strip_model`) and a shallower forest: mean F1(N, A, O) 0.806 nested (2 seeds; gbt-medium chosen in 8 of
10 outer folds), against 1.000 on its own training strips, so expect about 0.81 on new strips.
Features and model take about 9 ms of CPU per 34 s strip (the model 0.15 ms).

Features (unit-free or in s / bpm, except the QRS amplitude in mV and the quality index,
which expect mV), from the R peaks of :func:`telemed_signal.ecg.detect_r_peaks` and a
zero-phase 0.5-40 Hz copy of the strip:

* rhythm: heart rate and its excess below 60 / above 100 bpm; RR coefficient of variation,
  normalised RMSSD, robust (MAD) variation, the share of successive RR differences over
  50 ms (pNN50) and over 10 % of the interval; the coefficient of sample entropy of Lake &
  Moorman (2011) (COSEn, m = 1, r = 30 ms), the AF measure validated on short records;
  Petrenas et al.'s (2015) irregularity (share of pairs of median-filtered intervals in
  8-interval windows differing by >= 30 ms, the core of
  :func:`telemed_signal.af.detect_af`, whose 34-beat smoothing is too slow for a 30 s
  strip); ectopy by the 20 % rule of :func:`telemed_signal.beats.classify_rr` (premature
  and compensatory shares, the variation of the remaining normal intervals, short-long
  alternation), premature beats followed by a pause against the local median of 5 intervals
  (< 0.85 then > 1.1 of it: PACs and PVCs, the commonest "other" rhythm) and the ratio of
  long to short intervals; the Poincare SD1/SD2 ratio (Brennan et al. 2001), high when RR
  varies beat to beat (ectopy, AF), low when it drifts slowly (sinus arrhythmia);
* atrial activity: the P wave of the median beat (peak-to-peak 90-300 ms before R, over the
  QRS amplitude; its timing) and how consistently each beat shows it (median correlation
  with the median beat's P wave), the QRST-cancellation residual there (Stridh & Sornmo 2001:
  fibrillatory waves or noise remain once the average beat is subtracted);
* QRS and repolarisation: equivalent width and amplitude of the median QRS, its polarity, the
  share of beats unlike it (correlation < 0.8) and of those also wider (ventricular ectopy),
  the beat-to-beat amplitude variation, ST level and T-wave amplitude against the QRS;
* quality: the mean signal-quality index of :func:`telemed_signal.ecg_quality.ecg_sqi`,
  the kurtosis of the filtered strip (kSQI of Li et al. 2008: QRS complexes over a quiet
  baseline make it peaked), beats per minute as detected, and the share of RR intervals under
  0.3 s.

The softmax regression (:func:`fit_strip_model`, numpy/scipy only, kept as the candidate the
trees were measured against): features median-imputed, winsorised (clipped to half the 5-95 %
range beyond those percentiles) and standardised; a softmax regression with an intercept fitted
by L-BFGS to the class-balanced cross-entropy plus an L2 penalty of :data:`L2` (per sample). Its
stored parameters (:data:`MODEL`) were fitted on the first 600 development strips; in the
nested cross-validation on 1,599 strips it scored 0.767 (plain 5-fold CV, seed 0), the trees
0.808.

The shipped model is the one file this library reads (package data, read once, lazily).

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
    Brennan M, Palaniswami M, Kamen P. Do existing measures of Poincare plot geometry reflect
    nonlinear features of heart rate variability? IEEE Trans Biomed Eng 48(11):1342-1347
    (2001).
    Li Q, Mark RG, Clifford GD. Robust heart rate estimation from multiple asynchronous noisy
    sources using signal quality indices and a Kalman filter. Physiol Meas 29(1):15-32 (2008).
    Malik M et al. Influence of the recognition artefact in automatic analysis of long-term
    electrocardiograms on time-domain measurement of heart rate variability. Med Biol Eng
    Comput 31:539-544 (1993) (the 20 % ectopic rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from telemed_signal.strip_features import (
    CHALLENGE_LABELS,
    FEATURES,
    STRIP_CLASSES,
    feature_vector,
    strip_features,
)
from telemed_signal.strip_trees import TreeEnsemble, load_ensemble

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
    "has_beats_row",
    "shipped_model",
    "strip_features",
    "strip_probabilities",
]

FloatArray = npt.NDArray[np.float64]

MIN_QRS_CORR = 0.2
MIN_SQI = 0.25
#: L2 penalty (per sample) on the standardised weights; 1 and 10 cross-validate a little worse.
L2 = 3.0
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class StripModel:
    """Softmax regression: ``classes`` x features weights, with imputation, clipping, scaling."""

    median: tuple[float, ...]
    low: tuple[float, ...]  # each feature is clipped to [low, high] (winsorised)
    high: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[tuple[float, ...], ...]  # one row per feature, then the intercept row
    l2: float = L2

    @classmethod
    def from_table(cls, rows: Sequence[tuple[str, *tuple[float, ...]]]) -> StripModel:
        """The model of rows ``(feature, median, low, high, mean, scale, *weights)`` in
        :data:`FEATURES` order, then ``("(intercept)", *weights)``."""
        names = [row[0] for row in rows]
        if names != [*FEATURES, "(intercept)"]:
            raise ValueError("the table rows must be FEATURES in order, then the intercept")
        body = [tuple(float(v) for v in row[1:]) for row in rows[:-1]]
        cols = list(zip(*body, strict=True))
        weights = tuple(row[5:] for row in body) + (tuple(float(v) for v in rows[-1][1:]),)
        return cls(cols[0], cols[1], cols[2], cols[3], cols[4], weights)

    def scores(self, x: FloatArray) -> FloatArray:
        """Class probabilities for feature rows ``x`` (n x features), NaN imputed."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        x = np.where(np.isfinite(x), x, np.asarray(self.median))
        x = np.clip(x, np.asarray(self.low), np.asarray(self.high))
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        w = np.asarray(self.weights)
        s = z @ w[:-1] + w[-1]
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


# ---------------------------------------------------------------- features


# ---------------------------------------------------------------- model


def fit_strip_model(features: FloatArray, labels: Sequence[str], l2: float = L2) -> StripModel:
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
    p5, p95 = np.nanpercentile(x, (5.0, 95.0), axis=0)
    low = np.where(np.isfinite(p5), p5 - 0.5 * (p95 - p5), -np.inf)
    high = np.where(np.isfinite(p95), p95 + 0.5 * (p95 - p5), np.inf)
    x = np.clip(np.where(np.isfinite(x), x, median), low, high)
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
        tuple(float(v) for v in low),
        tuple(float(v) for v in high),
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


Model = StripModel | TreeEnsemble


@cache
def shipped_model() -> TreeEnsemble:
    """The shipped boosted-tree model (:data:`telemed_signal.strip_trees.MODEL_PATH`)."""
    return load_ensemble()


def _proba(model: Model | None, row: FloatArray) -> FloatArray:
    m = model if model is not None else shipped_model()
    p = m.scores(row[None, :]) if isinstance(m, StripModel) else m.proba(row[None, :])
    return np.asarray(p[0], dtype=np.float64)


def strip_probabilities(
    ecg: npt.ArrayLike, fs_hz: float, model: Model | None = None
) -> dict[str, float]:
    """Probability of each class of :data:`STRIP_CLASSES` for one strip (the shipped model
    unless ``model`` is given)."""
    p = _proba(model, feature_vector(strip_features(ecg, fs_hz)))
    return {name: float(v) for name, v in zip(STRIP_CLASSES, p, strict=True)}


def _has_beats(features: dict[str, float]) -> bool:
    """Whether the strip shows repeating beats at all. Below the development strips' range
    (every N, A and O strip has a median QRS correlation >= 0.23 and a mean SQI >= 0.41), a
    model extrapolates: white noise, with its random "RR intervals", reads as AF."""
    return (
        math.isfinite(features["hr_bpm"])
        and not features["qrs_corr"] < MIN_QRS_CORR
        and not features["sqi_mean"] < MIN_SQI
    )


def has_beats_row(row: FloatArray) -> bool:
    """:func:`_has_beats` of a feature row in :data:`FEATURES` order."""
    return _has_beats(dict(zip(FEATURES, (float(v) for v in row), strict=True)))


def classify_features(features: dict[str, float], model: Model | None = None) -> str:
    """The class of a strip from its :func:`strip_features` (see :func:`classify_strip`)."""
    if not _has_beats(features):
        return "noisy"
    return STRIP_CLASSES[int(np.argmax(_proba(model, feature_vector(features))))]


def classify_strip(ecg: npt.ArrayLike, fs_hz: float) -> str:
    """``"normal"``, ``"af"``, ``"other"`` or ``"noisy"`` for a single-lead ECG strip.

    ``ecg`` is 1-D in mV (NaN = missing), at least 2 s, sampled at ``fs_hz`` (100-1000 Hz).
    A strip where fewer than 5 beats are found, or whose beats do not repeat (QRS complexes
    unlike their median, an SQI near 0), is ``"noisy"``: nothing can be said of its rhythm. See the module docstring for the method and its validation.
    """
    return classify_features(strip_features(ecg, fs_hz))


#: Parameters fitted by :func:`fit_strip_model` on the 600 Challenge 2017 development strips
#: (``bench/bench_strip.py --refit`` prints them again), one row per feature.
_TABLE = (
    # feature, median, low, high, mean, scale, weights of normal, af, other, noisy
    ("hr_bpm", 75.55, 12.69, 173.6, 80.59, 23.36, -0.4073, 0.3392, 0.4635, -0.3954),
    ("hr_low_bpm", 0, -3.539, 10.62, 0.8031, 2.348, -0.1554, 0.4099, 0.4898, -0.7444),
    ("hr_high_bpm", 0, -16.69, 50.07, 3.451, 10.37, -0.6946, 0.3669, 0.155, 0.1728),
    ("rr_cv", 0.1451, -0.1569, 0.5335, 0.1571, 0.1129, 0.13, 0.398, -0.1501, -0.378),
    ("rr_rmssd", 0.1681, -0.2155, 0.6989, 0.193, 0.1549, -0.4937, 0.1899, 0.3475, -0.0437),
    ("rr_mad", 0.03662, -0.1041, 0.3438, 0.06997, 0.07572, -0.3785, 0.1078, 0.3832, -0.1124),
    ("pnn50", 0.325, -0.4546, 1.364, 0.3838, 0.3208, -0.352, 0.8586, -0.3072, -0.1995),
    ("prel10", 0.2153, -0.4286, 1.286, 0.3224, 0.3097, -0.08761, 0.4605, -0.3593, -0.01364),
    ("cosen", 3.694, 1.749, 6.865, 3.993, 0.8585, -0.218, 0.4909, -0.2387, -0.03423),
    ("petrenas", 0.4189, -0.4018, 1.205, 0.4025, 0.2777, 0.0437, 0.1749, -0.5888, 0.3702),
    ("ectopic", 0.125, -0.2918, 0.8754, 0.1982, 0.2056, -0.01481, 0.1385, -0.34, 0.2163),
    ("premature", 0.04762, -0.1411, 0.4234, 0.08393, 0.09932, -0.1564, -0.4235, 0.6525, -0.07258),
    ("compensatory", 0, -0.0607, 0.1821, 0.02575, 0.04235, -0.004553, 0.3382, -0.3081, -0.02556),
    ("premature_pause", 0, -0.06122, 0.1837, 0.02721, 0.04304, -0.7047, 0.3847, 0.5688, -0.2488),
    ("nn_cv", 0.07822, -0.09679, 0.3497, 0.09453, 0.07303, 0.08713, 0.1382, 0.2136, -0.4389),
    ("alternation", 0.07692, -0.2879, 0.8638, 0.1752, 0.2055, 0.2351, -0.1297, 0.3302, -0.4356),
    ("rr_ratio", 1.242, 0.2552, 3.36, 1.474, 0.5202, -0.04094, -0.6138, -0.2782, 0.933),
    ("sd1_sd2", 0.711, -0.2914, 2.046, 0.7753, 0.3724, -0.2905, -0.124, 0.2683, 0.1462),
    ("p_amp", 0.07709, -0.06962, 0.2879, 0.08665, 0.0578, 0.3206, -0.5621, -0.2273, 0.4688),
    ("p_corr", 0.4158, -0.3785, 1.307, 0.4213, 0.2637, 0.5066, -0.2821, 1.028, -1.253),
    ("pr_s", 0.1333, -0.01, 0.4033, 0.1576, 0.07169, -0.3519, 0.2641, 0.09747, -0.009629),
    ("residual_p", 0.09227, -0.2876, 0.9516, 0.1667, 0.2015, 0.5061, -0.1176, -0.4775, 0.08892),
    ("residual", 0.1047, -0.3173, 1.061, 0.1874, 0.2229, 0.04559, -0.0723, 0.2101, -0.1834),
    (
        "qrs_width_s",
        0.03702,
        0.009627,
        0.08515,
        0.04051,
        0.01177,
        -0.04247,
        -0.05017,
        0.4194,
        -0.3268,
    ),
    ("qrs_amp_mv", 0.8169, -0.2456, 2.099, 0.8688, 0.3691, 0.07019, -0.324, 0.01004, 0.2438),
    ("qrs_polarity", 1.123, -3.23, 4.136, 0.8887, 1.138, 0.1318, 0.2395, 0.1959, -0.5672),
    ("qrs_corr", 0.9873, 0.751, 1.079, 0.9692, 0.05327, -0.1135, 0.4052, 0.04107, -0.3328),
    ("qrs_odd", 0.02941, -0.2334, 0.7002, 0.09921, 0.1575, -0.2349, -0.3061, 0.2026, 0.3384),
    ("wide_odd", 0.025, -0.1821, 0.5463, 0.07733, 0.1244, 0.3685, -0.4319, 0.2328, -0.1694),
    ("amp_cv", 0.1089, -0.2695, 0.9971, 0.1894, 0.205, -0.1755, -0.6426, -0.2827, 1.101),
    ("st", -0.0286, -0.3174, 0.2487, -0.02792, 0.08779, 0.2365, -0.2346, 0.08223, -0.08414),
    ("t_amp", 0.189, -0.8299, 0.9857, 0.1512, 0.2668, -0.05474, -0.1794, 0.08166, 0.1525),
    ("sqi_mean", 1, 0.9181, 1.027, 0.9945, 0.01727, 0.3231, -0.3017, 0.02361, -0.04499),
    ("kurtosis", 9.176, -14.48, 50.12, 11.43, 10.06, 0.2335, 0.2028, -0.1495, -0.2868),
    ("beats_per_min", 76, 18, 162, 80.57, 21.36, -0.4778, 0.4327, -0.6467, 0.6919),
    ("short_rr", 0, -0.04811, 0.1443, 0.01298, 0.03206, 0.04194, -0.09774, 0.1455, -0.08972),
    ("(intercept)", 0.8258, -0.1902, 1.515, -2.151),
)
MODEL = StripModel.from_table(_TABLE)
