"""Benchmark: the short-strip classifier on the Challenge 2017 development strips.

Run from the repository root: ``.venv/bin/python bench/bench_strip.py [--seeds N] [--refit]``.

The 600 PhysioNet/CinC Challenge 2017 development strips (``../shared/data/physionet/
challenge2017``, 300 Hz): F1 per class and the Challenge mean of F1 over N, A, O with the
confusion matrix for the stored ``MODEL`` (fitted on these strips, so optimistic), then for
stratified 5-fold cross-validation of ``fit_strip_model`` (the score to expect on new strips),
repeated over ``--seeds`` fold assignments (mean +/- sd), and the time per strip (features and
model). ``--refit`` prints the ``_TABLE`` literal of ``telemed_signal/strip.py`` fitted on
all 600. Feature or model changes are judged by the cross-validated mean, never the fitted one.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _physionet import physionet_dir  # noqa: E402  (bench/ is on sys.path)

from telemed_signal.strip import (  # noqa: E402
    CHALLENGE_LABELS,
    FEATURES,
    MODEL,
    STRIP_CLASSES,
    StripModel,
    classify_features,
    feature_vector,
    fit_strip_model,
    strip_features,
)

STRIPS = physionet_dir() / "challenge2017"
FS_HZ = 300.0
FloatArray = npt.NDArray[np.float64]


def load_strips() -> list[tuple[str, str, FloatArray]]:
    """(name, class, ECG mV) of every development strip."""
    import wfdb

    with open(STRIPS / "REFERENCE.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    return [
        (
            name,
            STRIP_CLASSES[CHALLENGE_LABELS.index(label)],
            np.asarray(wfdb.rdrecord(str(STRIPS / name)).p_signal[:, 0], dtype=np.float64),
        )
        for name, label in rows
    ]


def f1_scores(truth: list[str], said: list[str]) -> dict[str, float]:
    t, s = np.asarray(truth), np.asarray(said)
    return {
        c: 2 * int(np.sum((t == c) & (s == c))) / max(int(np.sum(t == c) + np.sum(s == c)), 1)
        for c in STRIP_CLASSES
    }


def challenge_mean(f1: dict[str, float]) -> float:
    return float(np.mean([f1["normal"], f1["af"], f1["other"]]))


def print_table(truth: list[str], said: list[str], title: str) -> None:
    t, s = np.asarray(truth), np.asarray(said)
    print(f"\n{title}")
    print("confusion (rows truth, columns said): " + " ".join(f"{c:>7}" for c in STRIP_CLASSES))
    for a in STRIP_CLASSES:
        row = [int(np.sum((t == a) & (s == b))) for b in STRIP_CLASSES]
        print(f"{a:>38} " + " ".join(f"{v:>7}" for v in row))
    f1 = f1_scores(truth, said)
    print("F1 " + "  ".join(f"{c} {v:.3f}" for c, v in f1.items()), end="")
    print(f"   mean(N, A, O) {challenge_mean(f1):.3f}")


def cross_validate(
    x: FloatArray, feats: list[dict[str, float]], truth: list[str], seed: int
) -> list[str]:
    """Stratified 5-fold predictions, folds drawn with ``seed`` (as the test suite does)."""
    y = np.array([STRIP_CLASSES.index(c) for c in truth])
    rng = np.random.default_rng(seed)
    fold = np.zeros(y.size, dtype=int)
    for k in range(len(STRIP_CLASSES)):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        fold[idx] = np.arange(idx.size) % 5
    said = [""] * y.size
    for f in range(5):
        train = fold != f
        model = fit_strip_model(x[train], [truth[i] for i in np.flatnonzero(train)])
        for i in np.flatnonzero(~train):
            said[i] = classify_features(feats[i], model)
    return said


def print_model(m: StripModel) -> None:
    """The ``_TABLE`` literal of ``strip.py`` (4 significant digits)."""

    def fmt(v: float) -> str:
        return f"{v:.4g}"

    print("\n_TABLE = (")
    print("    # feature, median, low, high, mean, scale, weights of " + ", ".join(STRIP_CLASSES))
    for i, name in enumerate(FEATURES):
        vals = (m.median[i], m.low[i], m.high[i], m.mean[i], m.scale[i], *m.weights[i])
        print(f'    ("{name}", ' + ", ".join(fmt(v) for v in vals) + "),")
    print('    ("(intercept)", ' + ", ".join(fmt(v) for v in m.weights[-1]) + "),")
    print(")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="fold assignments to average")
    parser.add_argument("--refit", action="store_true", help="print _TABLE fitted on all 600")
    args = parser.parse_args()
    strips = load_strips()
    truth = [c for _, c, _ in strips]
    t0 = time.perf_counter()
    feats = [strip_features(x, FS_HZ) for _, _, x in strips]
    said = [classify_features(f) for f in feats]
    per_strip = (time.perf_counter() - t0) / len(strips)
    print_table(truth, said, "stored model (fitted on these 600 strips)")
    x = np.stack([feature_vector(f) for f in feats])
    per_seed = []
    for seed in range(max(1, args.seeds)):
        cv = cross_validate(x, feats, truth, seed)
        if seed == 0:
            print_table(truth, cv, "stratified 5-fold cross-validation (fold seed 0)")
        per_seed.append(f1_scores(truth, cv))
    means = [challenge_mean(f) for f in per_seed]
    per_class = "  ".join(f"{c} {np.mean([f[c] for f in per_seed]):.3f}" for c in STRIP_CLASSES)
    print(f"\ncross-validated over {len(per_seed)} fold seeds: F1 {per_class}")
    print(f"cross-validated mean F1(N, A, O): {np.mean(means):.3f} +/- {np.std(means):.3f}")
    print(f"seconds per strip (features + model): {per_strip:.4f}")
    if args.refit:
        print_model(fit_strip_model(x, truth))
        refit = fit_strip_model(x, truth).scores(x).argmax(axis=1)
        print(
            f"stored MODEL agrees with a refit on {np.mean(MODEL.scores(x).argmax(1) == refit):.3f}"
        )


if __name__ == "__main__":
    main()
