"""Short-strip rhythm classification on the PhysioNet/CinC Challenge 2017 development strips.

On a fresh clone the shipped boosted-tree model is scored on the strips the project carries (a
stratified sample of 91 of the 600, ``tests/data/physionet/challenge2017``); with the full
development sets (``TELEMED_PHYSIONET_DIR``) all 600 run too (features once, about 15 s). Two
kinds of floors: the F1 of the shipped model on these strips (it was trained on most of them, so
these guard against regressions, e.g. a change of the R-peak detector that shifts the
features), and the stratified 5-fold cross-validated F1 of a refit of the softmax regression on
all 600. The figure to expect on new strips is the nested cross-validation of
``bench/bench_strip.py`` (0.806).
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from telemed_signal.strip import (
    CHALLENGE_LABELS,
    FEATURES,
    MODEL,
    STRIP_CLASSES,
    StripModel,
    classify_features,
    classify_strip,
    feature_vector,
    fit_strip_model,
    strip_features,
)
from telemed_signal.strip_features import _premature_pause as premature_pause
from tests import physionet

FloatArray = npt.NDArray[np.float64]
FS_HZ = 300.0


def _folder(full: bool) -> Path:
    """The shipped strips, or all 600 development strips of the full sets."""
    if full:
        return physionet.full("challenge2017", "REFERENCE.csv").parent
    return physionet.subset("challenge2017")


@cache
def _strips(full: bool = False) -> tuple[tuple[str, str, FloatArray], ...]:
    """(name, class, ECG mV) of every strip listed in the folder's ``REFERENCE.csv``."""
    import wfdb

    folder = _folder(full)
    out = []
    with open(folder / "REFERENCE.csv", newline="") as fh:
        for name, label in csv.reader(fh):
            x = np.asarray(wfdb.rdrecord(str(folder / name)).p_signal[:, 0], dtype=np.float64)
            out.append((name, STRIP_CLASSES[CHALLENGE_LABELS.index(label)], x))
    return tuple(out)


@cache
def _features(full: bool = False) -> tuple[list[dict[str, float]], list[str]]:
    strips = _strips(full)
    return [strip_features(x, FS_HZ) for _, _, x in strips], [c for _, c, _ in strips]


def _f1(truth: list[str], said: list[str]) -> dict[str, float]:
    t, s = np.asarray(truth), np.asarray(said)
    out = {}
    for c in STRIP_CLASSES:
        tp = int(np.sum((t == c) & (s == c)))
        out[c] = 2 * tp / max(int(np.sum(t == c)) + int(np.sum(s == c)), 1)
    return out


def test_stored_model_on_the_shipped_strips() -> None:
    # Measured on the 91 shipped strips: N 0.862, A 0.923, O 0.727, ~ 0.857, mean(N, A, O)
    # 0.837; floors a little under each (one strip more or less moves an F1 by ~0.02-0.04).
    feats, truth = _features()
    f1 = _f1(truth, [classify_features(f) for f in feats])
    assert f1["normal"] >= 0.84 and f1["af"] >= 0.90 and f1["other"] >= 0.70, f1
    assert f1["noisy"] >= 0.80, f1
    assert np.mean([f1["normal"], f1["af"], f1["other"]]) >= 0.81, f1


def test_stored_model_on_all_development_strips() -> None:
    feats, truth = _features(full=True)
    f1 = _f1(truth, [classify_features(f) for f in feats])
    assert f1["normal"] >= 0.85 and f1["af"] >= 0.91 and f1["other"] >= 0.65, f1
    assert f1["noisy"] >= 0.68, f1
    assert np.mean([f1["normal"], f1["af"], f1["other"]]) >= 0.81, f1


def test_cross_validated_f1_of_a_refit() -> None:
    feats, truth = _features(full=True)
    x = np.stack([feature_vector(f) for f in feats])
    y = np.array([STRIP_CLASSES.index(c) for c in truth])
    rng = np.random.default_rng(0)
    fold = np.zeros(y.size, dtype=int)
    for k in range(len(STRIP_CLASSES)):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        fold[idx] = np.arange(idx.size) % 5
    said = np.empty(y.size, dtype=object)
    for f in range(5):
        train = fold != f
        model = fit_strip_model(x[train], [truth[i] for i in np.flatnonzero(train)])
        said[~train] = [classify_features(feats[i], model) for i in np.flatnonzero(~train)]
    f1 = _f1(truth, list(said))
    assert f1["af"] >= 0.86 and f1["other"] >= 0.55, f1
    assert np.mean([f1["normal"], f1["af"], f1["other"]]) >= 0.75, f1


def test_stored_model_is_what_the_training_procedure_gives() -> None:
    feats, truth = _features(full=True)
    x = np.stack([feature_vector(f) for f in feats])
    refit = fit_strip_model(x, truth)
    agree = np.mean(MODEL.scores(x).argmax(axis=1) == refit.scores(x).argmax(axis=1))
    assert agree >= 0.95


def test_classify_strip_is_the_model_on_the_strip_features() -> None:
    strips = _strips()
    feats, _ = _features()
    for i in (0, 1, 2, 3, 4, len(strips) - 1):
        assert classify_strip(strips[i][2], FS_HZ) == classify_features(feats[i])


#: Share of AF strips classed as AF: all 600 (>= 0.9 since the model was fitted), or the shipped
#: ones (measured 24 of 27, 0.889; floor 0.85: one more miss passes, two fail).
AF_AS_AF = {True: 0.9, False: 0.85}


@pytest.mark.parametrize("full", [False, True], ids=["shipped", "all"])
def test_af_strips_read_as_af(full: bool) -> None:
    strips = _strips(full)
    feats, truth = _features(full)
    af = [classify_features(f) for f, c in zip(feats, truth, strict=True) if c == "af"]
    assert np.mean(np.asarray(af) == "af") >= AF_AS_AF[full]
    assert strips[0][1] == "af" and classify_strip(strips[0][2], FS_HZ) == "af"


def test_every_feature_is_reported() -> None:
    feats, _ = _features()
    assert set(feats[0]) == set(FEATURES)
    assert all(math.isfinite(v) for v in feats[0].values())


def test_a_flat_strip_is_noisy() -> None:
    assert classify_strip(np.zeros(int(30 * FS_HZ)), FS_HZ) == "noisy"


def test_white_noise_is_noisy() -> None:
    # Its random "RR intervals" look like AF to the linear model; the beat check must catch it.
    for seed in range(5):
        noise = np.random.default_rng(seed).normal(0.0, 0.5, int(30 * FS_HZ))
        assert classify_strip(noise, FS_HZ) == "noisy"


def test_a_strip_shorter_than_two_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 s"):
        classify_strip(np.zeros(100), FS_HZ)


def test_features_beyond_the_fitted_range_count_as_its_edge() -> None:
    feats, _ = _features()
    x = feature_vector(feats[0])
    far, edge = x.copy(), x.copy()
    far[FEATURES.index("kurtosis")] = 1e6
    edge[FEATURES.index("kurtosis")] = MODEL.high[FEATURES.index("kurtosis")]
    assert np.array_equal(MODEL.scores(far), MODEL.scores(edge))


def test_premature_beats_followed_by_a_pause_are_counted() -> None:
    sinus = np.full(20, 0.8)
    ectopy = np.tile([0.8, 0.8, 0.5, 1.1], 5)  # a premature beat every 4th, then its pause
    assert premature_pause(sinus) == 0.0
    # 4 of the 19 intervals that have a successor (the 5th premature one ends the strip)
    assert premature_pause(ectopy) == pytest.approx(4 / 19)
    assert math.isnan(premature_pause(sinus[:4]))


def test_a_model_table_must_list_the_features_in_order() -> None:
    rows = [(name, 0.0, -1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0) for name in FEATURES]
    rows.append(("(intercept)", 0.0, 0.0, 0.0, 0.0))
    assert StripModel.from_table(rows).low == (-1.0,) * len(FEATURES)
    with pytest.raises(ValueError, match="FEATURES in order"):
        StripModel.from_table([rows[1], rows[0], *rows[2:]])
