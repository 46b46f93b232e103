"""The Challenge 2017 development strips and their cached features (``build/cache/strip``)."""

from __future__ import annotations

import csv
import hashlib
import time

import numpy as np
import numpy.typing as npt
from _physionet import physionet_dir
from _protocol import CACHE, REPO

from telemed_signal.strip_features import CHALLENGE_LABELS, FEATURES, STRIP_CLASSES, strip_features

STRIPS = physionet_dir() / "challenge2017"
FS_HZ = 300.0
FloatArray = npt.NDArray[np.float64]
#: The modules the features depend on (the cache is keyed by their sources).
FEATURE_CODE = ("strip_features", "ecg", "ecg_features", "ecg_rules", "ecg_quality", "beats")


def strip_index() -> list[tuple[str, str]]:
    """(name, class) of every development strip (``REFERENCE.csv`` and ``REFERENCE-2.csv``)."""
    out: dict[str, str] = {}
    for index in ("REFERENCE.csv", "REFERENCE-2.csv"):
        with open(STRIPS / index, newline="") as fh:
            for name, label in csv.reader(fh):
                out[name] = STRIP_CLASSES[CHALLENGE_LABELS.index(label)]
    return sorted(out.items())


def read_strip(name: str) -> FloatArray:
    import wfdb

    return np.asarray(wfdb.rdrecord(str(STRIPS / name)).p_signal[:, 0], dtype=np.float64)


def _code_hash() -> str:
    h = hashlib.sha256()
    for m in FEATURE_CODE:
        h.update((REPO / "telemed_signal" / f"{m}.py").read_bytes())
    return h.hexdigest()[:10]


def feature_matrix(names: list[str]) -> tuple[FloatArray, float]:
    """Feature rows (``FEATURES`` order) of the named strips, and the mean seconds per strip
    computed now (NaN when all came from the cache)."""
    path = CACHE / "strip" / f"features-{_code_hash()}.npz"
    cached: dict[str, FloatArray] = {}
    if path.exists():
        z = np.load(path)
        cached = dict(zip(z["names"].tolist(), z["x"], strict=True))
    todo = [n for n in names if n not in cached]
    t0 = time.perf_counter()
    for k, n in enumerate(todo):
        f = strip_features(read_strip(n), FS_HZ)
        cached[n] = np.array([f[name] for name in FEATURES], dtype=np.float64)
        if k % 200 == 199 or k == len(todo) - 1:
            path.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(cached)
            np.savez(path, names=np.array(keys), x=np.stack([cached[c] for c in keys]))
    per = (time.perf_counter() - t0) / len(todo) if todo else float("nan")
    return np.stack([cached[n] for n in names]), per
