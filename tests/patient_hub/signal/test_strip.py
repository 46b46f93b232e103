"""Short-strip rhythm classification on the PhysioNet/CinC Challenge 2017 development strips.

All 600 strips run (features once, about 15 s). Two kinds of floors: the F1 of the stored
model on these strips (it was fitted on them, so these guard against regressions, e.g. a
change of the R-peak detector that shifts the features), and the stratified 5-fold
cross-validated F1 of a refit (the score to expect on new strips).
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from patient_hub.signal.strip import (
    CHALLENGE_LABELS,
    FEATURES,
    MODEL,
    STRIP_CLASSES,
    classify_features,
    classify_strip,
    feature_vector,
    fit_strip_model,
    strip_features,
)

FloatArray = npt.NDArray[np.float64]
PHYSIONET = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "physionet"
STRIPS = PHYSIONET / "challenge2017"
FS_HZ = 300.0


@cache
def _strips() -> tuple[tuple[str, str, FloatArray], ...]:
    """(name, class, ECG mV) of every development strip."""
    if not (STRIPS / "REFERENCE.csv").exists():
        pytest.skip(f"PhysioNet data not found at {STRIPS}")
    import wfdb

    out = []
    with open(STRIPS / "REFERENCE.csv", newline="") as fh:
        for name, label in csv.reader(fh):
            x = np.asarray(wfdb.rdrecord(str(STRIPS / name)).p_signal[:, 0], dtype=np.float64)
            out.append((name, STRIP_CLASSES[CHALLENGE_LABELS.index(label)], x))
    return tuple(out)


@cache
def _features() -> tuple[list[dict[str, float]], list[str]]:
    strips = _strips()
    return [strip_features(x, FS_HZ) for _, _, x in strips], [c for _, c, _ in strips]


def _f1(truth: list[str], said: list[str]) -> dict[str, float]:
    t, s = np.asarray(truth), np.asarray(said)
    out = {}
    for c in STRIP_CLASSES:
        tp = int(np.sum((t == c) & (s == c)))
        out[c] = 2 * tp / max(int(np.sum(t == c)) + int(np.sum(s == c)), 1)
    return out


def test_stored_model_on_the_development_strips() -> None:
    feats, truth = _features()
    f1 = _f1(truth, [classify_features(f) for f in feats])
    assert f1["normal"] >= 0.84 and f1["af"] >= 0.90 and f1["other"] >= 0.63, f1
    assert f1["noisy"] >= 0.65, f1
    assert np.mean([f1["normal"], f1["af"], f1["other"]]) >= 0.80, f1


def test_cross_validated_f1_of_a_refit() -> None:
    feats, truth = _features()
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
    assert f1["af"] >= 0.83, f1
    assert np.mean([f1["normal"], f1["af"], f1["other"]]) >= 0.72, f1


def test_stored_model_is_what_the_training_procedure_gives() -> None:
    feats, truth = _features()
    x = np.stack([feature_vector(f) for f in feats])
    refit = fit_strip_model(x, truth)
    agree = np.mean(MODEL.scores(x).argmax(axis=1) == refit.scores(x).argmax(axis=1))
    assert agree >= 0.95


def test_classify_strip_is_the_model_on_the_strip_features() -> None:
    strips = _strips()
    feats, _ = _features()
    for i in (0, 1, 2, 3, 4, 599):
        assert classify_strip(strips[i][2], FS_HZ) == classify_features(feats[i])


def test_af_strips_read_as_af() -> None:
    strips = _strips()
    feats, truth = _features()
    af = [classify_features(f) for f, c in zip(feats, truth, strict=True) if c == "af"]
    assert np.mean(np.asarray(af) == "af") >= 0.9
    assert strips[0][1] == "af" and classify_strip(strips[0][2], FS_HZ) == "af"


def test_every_feature_is_reported() -> None:
    feats, _ = _features()
    assert set(feats[0]) == set(FEATURES)
    assert all(math.isfinite(v) for v in feats[0].values())


def test_a_flat_strip_is_noisy() -> None:
    assert classify_strip(np.zeros(int(30 * FS_HZ)), FS_HZ) == "noisy"


def test_a_strip_shorter_than_two_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 s"):
        classify_strip(np.zeros(100), FS_HZ)
