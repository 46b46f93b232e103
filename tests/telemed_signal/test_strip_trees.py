"""The numpy evaluator of the shipped boosted-tree strip model (strip_trees)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from telemed_signal.strip_features import FEATURES, STRIP_CLASSES
from telemed_signal.strip_trees import (
    MODEL_PATH,
    ensemble_document,
    ensemble_from_dict,
    load_ensemble,
)


def _data(n: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (classes > 2) * (x[:, 2] > 0.8)
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the side each split learnt
    return x, y.astype(int)


@pytest.mark.parametrize("classes", [2, 3])
def test_evaluator_reproduces_scikit_learn_probabilities(classes: int) -> None:
    ensemble = pytest.importorskip("sklearn.ensemble")
    x, y = _data(400, classes)
    model = ensemble.HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    names = [f"c{k}" for k in range(classes)]
    doc = json.loads(json.dumps(ensemble_document(model, names, list("abcde"), {})))
    ours = ensemble_from_dict(doc).proba(x)
    assert np.max(np.abs(ours - model.predict_proba(x))) < 1e-6


def test_shipped_model_names_the_strip_features_and_classes() -> None:
    model = load_ensemble(MODEL_PATH)
    assert model.features == FEATURES and model.classes == STRIP_CLASSES
    p = model.proba(np.full((1, len(FEATURES)), np.nan))
    assert p.shape == (1, 4) and abs(float(p.sum()) - 1.0) < 1e-9


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 36 features"):
        load_ensemble().raw(np.zeros((1, 3)))


def test_an_unknown_model_format_is_refused() -> None:
    with pytest.raises(ValueError, match="not a telemed-gbt-1 model"):
        ensemble_from_dict({"format": "pickle"})
