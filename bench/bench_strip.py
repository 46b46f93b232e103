"""Benchmark: the short-strip classifier on the Challenge 2017 development strips (issue #14).

Run from the repository root (scikit-learn from the ``bench`` extra):
``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_strip.py [--seeds N] [--holdout]``.

Data: the 1,999 PhysioNet/CinC Challenge 2017 development strips (``REFERENCE.csv`` and
``REFERENCE-2.csv``, 300 Hz), features of :mod:`telemed_signal.strip_features` cached under
``build/cache/strip``. Protocol (``bench/_protocol.py``): a fixed holdout (a fifth of each
class, by name hash) is left out. On the rest, stratified 5-fold cross-validation (one strip
per record), ``--seeds`` fold assignments: in each outer fold the model (the softmax regression
of ``fit_strip_model`` or one of the boosted-tree settings of ``bench/train_strip.py``) is
chosen by an inner 3-fold CV on the training part only, refitted there and scored on the
held-out fold. The claim is that nested figure (Challenge mean F1 over N, A, O, mean +/- sd
over seeds); beside it the plain CV of each candidate, and the fitted figure (the chosen
candidate trained and scored on all development strips) to show the gap. Then the shipped
model (``classify_features``) on the development strips and, with ``--holdout``, once on the
holdout; and the time per strip (features + model).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _protocol import grouped_folds, holdout_split, load_line  # noqa: E402
from _strip_data import FS_HZ, feature_matrix, read_strip, strip_index  # noqa: E402
from train_strip import CANDIDATES, fit  # noqa: E402

from telemed_signal.strip import (  # noqa: E402
    classify_features,
    classify_strip,
    fit_strip_model,
    has_beats_row,
)
from telemed_signal.strip_features import FEATURES, STRIP_CLASSES  # noqa: E402

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Predictor = Callable[[FloatArray], FloatArray]  # feature rows -> class probabilities


def train(x: FloatArray, y: IntArray, name: str) -> Predictor:
    if name == "softmax":
        m = fit_strip_model(x, [STRIP_CLASSES[k] for k in y])
        return m.scores
    model = fit(x, y, name)
    return lambda rows: np.asarray(model.predict_proba(rows), dtype=np.float64)


def labels(p: Predictor, x: FloatArray) -> IntArray:
    said = np.argmax(p(x), axis=1)
    gate = np.array([has_beats_row(row) for row in x])
    return np.where(gate, said, STRIP_CLASSES.index("noisy"))


def f1(y: IntArray, said: IntArray) -> FloatArray:
    return np.array(
        [
            2 * np.sum((y == c) & (said == c)) / max(np.sum(y == c) + np.sum(said == c), 1)
            for c in range(len(STRIP_CLASSES))
        ]
    )


def mean_f1(y: IntArray, said: IntArray) -> float:
    return float(np.mean(f1(y, said)[:3]))


def folds_for(y: IntArray, k: int, seed: int) -> IntArray:
    names = list(range(y.size))
    return np.array(grouped_folds(names, y.tolist(), k, seed))


def cv_predict(x: FloatArray, y: IntArray, name: str, k: int, seed: int) -> IntArray:
    out = np.zeros(y.size, dtype=np.int64)
    fold = folds_for(y, k, seed)
    for f in range(k):
        tr = fold != f
        out[~tr] = labels(train(x[tr], y[tr], name), x[~tr])
    return out


def nested(
    x: FloatArray, y: IntArray, names: Sequence[str], seed: int
) -> tuple[IntArray, list[str]]:
    out, chosen = np.zeros(y.size, dtype=np.int64), []
    fold = folds_for(y, 5, seed)
    for f in range(5):
        tr = fold != f
        inner = {n: mean_f1(y[tr], cv_predict(x[tr], y[tr], n, 3, seed)) for n in names}
        best = max(inner, key=lambda n: inner[n])
        chosen.append(best)
        out[~tr] = labels(train(x[tr], y[tr], best), x[~tr])
    return out, chosen


def table(y: IntArray, said: IntArray, title: str) -> None:
    print(f"\n{title}")
    print("confusion (rows truth, columns said): " + " ".join(f"{c:>7}" for c in STRIP_CLASSES))
    for a in range(len(STRIP_CLASSES)):
        row = [int(np.sum((y == a) & (said == b))) for b in range(len(STRIP_CLASSES))]
        print(f"{STRIP_CLASSES[a]:>38} " + " ".join(f"{v:>7}" for v in row))
    s = f1(y, said)
    print("F1 " + "  ".join(f"{c} {v:.3f}" for c, v in zip(STRIP_CLASSES, s, strict=True)), end="")
    print(f"   mean(N, A, O) {np.mean(s[:3]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="outer fold assignments")
    parser.add_argument("--holdout", action="store_true", help="score the fixed holdout once")
    parser.add_argument("--plain", action="store_true", help="also each candidate's plain CV")
    args = parser.parse_args()
    index = strip_index()
    names, classes = [n for n, _ in index], [c for _, c in index]
    dev, hold = holdout_split(names, classes)
    x, _ = feature_matrix([names[i] for i in dev])
    y = np.array([STRIP_CLASSES.index(classes[i]) for i in dev])
    print(f"{len(dev)} development strips ({load_line()}); holdout {len(hold)} strips")
    candidates = ["softmax", *CANDIDATES]
    for name in candidates if args.plain else []:
        v = [mean_f1(y, cv_predict(x, y, name, 5, s)) for s in range(args.seeds)]
        print(
            f"  plain 5-fold CV of {name:<14} mean F1(N, A, O) {np.mean(v):.3f} +/- {np.std(v):.3f}"
        )
    runs, chosen_all = [], []
    for seed in range(args.seeds):
        said, chosen = nested(x, y, candidates, seed)
        runs.append(mean_f1(y, said))
        chosen_all += chosen
        if seed == 0:
            table(y, said, "NESTED CROSS-VALIDATION (seed 0; the claim)")
    print(
        f"\nnested CV mean F1(N, A, O) over {args.seeds} seeds: {np.mean(runs):.3f} +/- {np.std(runs):.3f}"
    )
    print("chosen in the outer folds:", {c: chosen_all.count(c) for c in set(chosen_all)})
    shipped = np.array(
        [STRIP_CLASSES.index(classify_features(dict(zip(FEATURES, r, strict=True)))) for r in x]
    )
    table(y, shipped, "FITTED: the shipped model on the development strips it was trained on")
    print(f"fitted - nested CV gap: {mean_f1(y, shipped) - np.mean(runs):+.3f}")
    if args.holdout:
        xh, _ = feature_matrix([names[i] for i in hold])
        yh = np.array([STRIP_CLASSES.index(classes[i]) for i in hold])
        said = np.array(
            [
                STRIP_CLASSES.index(classify_features(dict(zip(FEATURES, r, strict=True))))
                for r in xh
            ]
        )
        table(yh, said, "HOLDOUT (never used for a choice or a fit): the shipped model")
    sample = [read_strip(names[i]) for i in dev[:100]]
    classify_strip(sample[0], FS_HZ)  # the model file is read once, on first use
    t0, c0 = time.perf_counter(), time.process_time()
    for s in sample:
        classify_strip(s, FS_HZ)
    wall, cpu = (
        (b - a) / len(sample) for a, b in ((t0, time.perf_counter()), (c0, time.process_time()))
    )
    print(
        f"\nper strip (features + shipped model, {len(sample)} strips): CPU {1000 * cpu:.1f} ms, "
        f"wall {1000 * wall:.1f} ms ({load_line()})"
    )


if __name__ == "__main__":
    main()
