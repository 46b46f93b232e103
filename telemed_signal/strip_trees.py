"""Gradient-boosted decision trees evaluated with numpy: the strip classifier's shipped model.

The model is trained by the project with scikit-learn's ``HistGradientBoostingClassifier``
(``bench/train_strip.py``, a documented, seeded command) and exported to a small JSON file
(:data:`MODEL_PATH`); this module reads that file and predicts with numpy alone, so the hub and
the kiosk need neither scikit-learn nor a pickle (whose format is tied to a library version).
The traversal is scikit-learn's: at a split node a sample goes left when its feature is
``<= threshold``, and a missing value (NaN) goes the side the tree learnt for it; the raw score
of a class is the baseline plus the leaf values of that class's trees (shrinkage already
applied); probabilities are their softmax.

Reference:
    Ke G, Meng Q, Finley T, et al. LightGBM: a highly efficient gradient boosting decision
    tree. NeurIPS 30 (2017) (the histogram method scikit-learn's estimator follows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The shipped model: package data, the one file this library reads.
MODEL_PATH = Path(__file__).resolve().parent / "models" / "strip_gbt.json"
FORMAT = "telemed-gbt-1"


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    """All trees' nodes in flat arrays; ``roots[j]`` is tree j's first node, ``tree_class[j]``
    the class it scores."""

    classes: tuple[str, ...]
    features: tuple[str, ...]
    baseline: FloatArray
    roots: IntArray
    tree_class: IntArray
    feature: IntArray
    threshold: FloatArray
    left: IntArray
    right: IntArray
    value: FloatArray
    missing_left: npt.NDArray[np.bool_]
    leaf: npt.NDArray[np.bool_]
    depth: int
    meta: dict[str, Any]

    def raw(self, x: FloatArray) -> FloatArray:
        """Raw class scores (n x classes) of feature rows ``x`` (n x features, NaN allowed)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != len(self.features):
            raise ValueError(f"expected {len(self.features)} features, got {x.shape[1]}")
        rows = np.arange(x.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.size)).copy()
        for _ in range(self.depth):
            v = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(v), self.missing_left[node], v <= self.threshold[node])
            step = np.where(go_left, self.left[node], self.right[node])
            node = np.where(self.leaf[node], node, step)
        out = np.tile(self.baseline, (x.shape[0], 1))
        np.add.at(out.T, self.tree_class, self.value[node].T)
        return out

    def proba(self, x: FloatArray) -> FloatArray:
        """Class probabilities (softmax of :meth:`raw`)."""
        s = self.raw(x)
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


def ensemble_from_dict(d: dict[str, Any]) -> TreeEnsemble:
    """Build the ensemble from the JSON document written by ``bench/train_strip.py``."""
    if d.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} model: {d.get('format')!r}")
    cols: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "right")}
    cols |= {"value": [], "missing_left": [], "leaf": []}
    roots, tree_class, depth = [], [], 1
    for tree in d["trees"]:
        base = len(cols["value"])
        roots.append(base)
        tree_class.append(int(tree["class"]))
        depth = max(depth, int(tree["depth"]))
        for k in cols:
            vals = tree[k]
            cols[k] += [v + base for v in vals] if k in ("left", "right") else vals
    return TreeEnsemble(
        classes=tuple(d["classes"]),
        features=tuple(d["features"]),
        baseline=np.asarray(d["baseline"], dtype=np.float64),
        roots=np.asarray(roots, dtype=np.int64),
        tree_class=np.asarray(tree_class, dtype=np.int64),
        feature=np.asarray(cols["feature"], dtype=np.int64),
        threshold=np.asarray(cols["threshold"], dtype=np.float64),
        left=np.asarray(cols["left"], dtype=np.int64),
        right=np.asarray(cols["right"], dtype=np.int64),
        value=np.asarray(cols["value"], dtype=np.float64),
        missing_left=np.asarray(cols["missing_left"], dtype=bool),
        leaf=np.asarray(cols["leaf"], dtype=bool),
        depth=depth,
        meta=dict(d.get("meta", {})),
    )


def _round(values: Any) -> list[float]:
    """Leaf values to 8 significant digits (the file stays small; the probabilities move by
    far less than 1e-6)."""
    return [float(f"{v:.8g}") for v in np.asarray(values, dtype=np.float64).tolist()]


def ensemble_document(
    model: Any, classes: list[str], features: list[str], meta: dict[str, Any]
) -> dict[str, Any]:
    """The JSON document of this module for a fitted scikit-learn
    ``HistGradientBoostingClassifier`` (read through its fitted attributes; scikit-learn itself
    is not imported). ``classes`` name the model's classes 0..k-1 in order."""
    if list(model.classes_) != list(range(len(classes))):
        raise ValueError("the model's classes must be 0..k-1, every class present")
    trees = []
    for iteration in model._predictors:  # the fitted trees, one per class per iteration
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                {
                    "class": k if len(iteration) > 1 else 1,
                    "depth": int(nodes["depth"].max()) + 1,
                    "feature": np.where(leaf, 0, nodes["feature_idx"]).astype(int).tolist(),
                    "threshold": np.where(leaf, 0.0, nodes["num_threshold"]).tolist(),
                    "left": np.where(leaf, 0, nodes["left"]).astype(int).tolist(),
                    "right": np.where(leaf, 0, nodes["right"]).astype(int).tolist(),
                    "value": _round(np.where(leaf, nodes["value"], 0.0)),
                    "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
                    "leaf": leaf.tolist(),
                }
            )
    baseline = np.ravel(model._baseline_prediction).astype(float).tolist()
    if len(baseline) == 1:  # binary: one raw score r, P(class 1) = sigmoid(r) = softmax(0, r)
        baseline = [0.0, baseline[0]]
    return {
        "format": FORMAT,
        "classes": classes,
        "features": features,
        "baseline": baseline,
        "trees": trees,
        "meta": meta,
    }


def load_ensemble(path: Path = MODEL_PATH) -> TreeEnsemble:
    """Read a model file (JSON, :data:`FORMAT`)."""
    return ensemble_from_dict(json.loads(path.read_text()))
