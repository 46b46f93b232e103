"""The evaluation protocol shared by the rhythm benches (issue #14): figures that predict unseen data.

* A **fixed holdout**: about a fifth of the development records, chosen once by a hash of the
  record name within each stratum (alarm type and truth, strip class, ...), so it never moves
  when records are added or code changes. Nothing is chosen on it; the benches report it once,
  in a separate line, after everything else is fixed (``--holdout``).
* **Grouped, stratified k-fold cross-validation** over the rest, repeated with several seeds:
  folds hold whole records (a record's windows or beats never sit on both sides) and each
  stratum is spread evenly over the folds.
* **Selection inside the folds.** Where a bench chooses among candidate settings, it chooses on
  the training folds only and scores the choice on the held-out fold; the claim is the mean of
  those out-of-fold scores over the seeds (with their spread). The "fitted" figure (the best
  candidate chosen and scored on all development records) is printed beside it: the gap is
  how much of the fitted figure is fitting.
* Per-record results are cached as JSON under ``build/cache/`` (git-ignored) so that a rerun
  does not recompute them; the cache key names the code-relevant settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "build" / "cache"
HOLDOUT_FRACTION = 0.2
SEEDS = (0, 1, 2, 3, 4)
K = TypeVar("K", bound=Hashable)
P = TypeVar("P")


def _hash01(name: str) -> float:
    """A stable number in [0, 1) from a record name (same on every machine and run)."""
    return int(hashlib.sha256(f"telemed-holdout:{name}".encode()).hexdigest()[:12], 16) / 16**12


def holdout_split(names: Sequence[str], strata: Sequence[Hashable]) -> tuple[list[int], list[int]]:
    """(development indices, holdout indices): in each stratum the ``HOLDOUT_FRACTION`` of
    records with the lowest name hash (at least one where the stratum has five or more)."""
    by: dict[Hashable, list[int]] = defaultdict(list)
    for i, s in enumerate(strata):
        by[s].append(i)
    hold: set[int] = set()
    for idx in by.values():
        n = round(HOLDOUT_FRACTION * len(idx)) if len(idx) >= 5 else 0
        hold.update(sorted(idx, key=lambda i: _hash01(names[i]))[:n])
    dev = [i for i in range(len(names)) if i not in hold]
    return dev, sorted(hold)


def grouped_folds(
    groups: Sequence[Hashable], strata: Sequence[Hashable], k: int, seed: int
) -> list[int]:
    """Fold number (0..k-1) of each item: whole groups per fold, each stratum dealt round-robin
    over the folds in a seeded random order (a group takes the stratum of its first item)."""
    rng = np.random.default_rng(seed)
    first: dict[Hashable, Hashable] = {}
    for g, s in zip(groups, strata, strict=True):
        first.setdefault(g, s)
    by: dict[Hashable, list[Hashable]] = defaultdict(list)
    for g, s in first.items():
        by[s].append(g)
    fold_of: dict[Hashable, int] = {}
    offset = int(rng.integers(k))
    for s in sorted(by, key=str):
        members = by[s]
        for j, pos in enumerate(rng.permutation(len(members)).tolist()):
            fold_of[members[pos]] = (offset + j) % k
        offset = (offset + len(members)) % k
    return [fold_of[g] for g in groups]


def cv_select(
    preds: Mapping[K, Sequence[P]],
    metric: Callable[[Sequence[int], Sequence[P]], float],
    folds: Sequence[int],
) -> tuple[list[P], list[K]]:
    """Out-of-fold predictions when the best candidate is chosen on the other folds.

    ``preds[c][i]`` is candidate ``c``'s prediction for item ``i``; ``metric(items, p)``
    scores predictions ``p`` (aligned with ``items``). For each fold the candidate with the best
    metric on the other folds predicts the fold's items (ties: the first candidate). Returns the
    pooled out-of-fold predictions (aligned with the items) and the candidate chosen per fold.
    """
    n = len(folds)
    keys = list(preds)
    oof: list[P | None] = [None] * n
    chosen: list[K] = []
    for f in sorted(set(folds)):
        train = [i for i in range(n) if folds[i] != f]
        best = max(keys, key=lambda c: metric(train, [preds[c][i] for i in train]))
        chosen.append(best)
        for i in range(n):
            if folds[i] == f:
                oof[i] = preds[best][i]
    return [p for p in oof if p is not None], chosen


def fitted_best(
    preds: Mapping[K, Sequence[P]], metric: Callable[[Sequence[int], Sequence[P]], float]
) -> tuple[K, float]:
    """The candidate best on all items and its (fitted, optimistic) score."""
    items = list(range(len(next(iter(preds.values())))))
    best = max(preds, key=lambda c: metric(items, preds[c]))
    return best, metric(items, preds[best])


def load_json(name: str) -> dict[str, Any]:
    path = CACHE / name
    if path.exists():
        return dict(json.loads(path.read_text()))
    return {}


def save_json(name: str, data: dict[str, Any]) -> None:
    path = CACHE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def load_line() -> str:
    """The load average the bench saw (1, 5, 15 min) and the core count."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unavailable"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
