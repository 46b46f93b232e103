"""Benchmark: AF detection from beat times (telemed_signal.af) on PhysioNet records.

Run from the repository root: ``.venv/bin/python bench/bench_af.py``.

Protocol (docs: shared/reference/signal.md, section A2): MIT-BIH AF database records in
``afdb`` of the full sets (``TELEMED_PHYSIONET_DIR``, default ``../shared/data/physionet``),
unaudited ``.qrs`` beat times (fs 250), truth = beats
inside ``(AFIB`` rhythm episodes of ``.atr`` (``(AFL``, ``(J``, ``(N`` are not AF); beat-level
Se, Sp and PPV. Then MIT-BIH 202 (no annotations here): beats from our R-peak detector on lead
0, the AF episodes found (minutes). Then specificity on MIT-BIH records without AF (reference
beats), and the speed: whole-record beats per second, and the streaming cost per beat fed one
at a time, turned into concurrent 70 bpm streams per core. Times are wall seconds on a shared
machine (expect +/- 30 %).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import wfdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _physionet import physionet_dir  # noqa: E402  (bench/ is on sys.path)

from telemed_signal.af import AfDetector, af_burden, af_episodes, detect_af  # noqa: E402
from telemed_signal.ecg import BEAT_SYMBOLS, detect_r_peaks  # noqa: E402

PHYSIONET = physionet_dir()
AFDB = ("00735", "04048", "05261", "06995", "08215", "08378")
NON_AF_MITDB = ("100", "102", "103", "104", "105", "106", "107")
FloatArray = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]


def afdb_record(record: str) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    path = str(PHYSIONET / "afdb" / record)
    qrs, atr = wfdb.rdann(path, "qrs"), wfdb.rdann(path, "atr")
    notes = np.array([a.rstrip("\x00") for a in atr.aux_note])
    rhythm = np.char.startswith(notes, "(")
    onsets, names = np.asarray(atr.sample)[rhythm], notes[rhythm]
    idx = np.searchsorted(onsets, qrs.sample, side="right") - 1
    is_af = (idx >= 0) & (names[np.maximum(idx, 0)] == "(AFIB")
    return np.asarray(qrs.sample, dtype=np.float64) / 250.0, is_af


def counts(got: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> Counts:
    return np.array(
        [np.sum(got & truth), np.sum(~got & truth), np.sum(got & ~truth), np.sum(~got & ~truth)]
    )


def row(label: str, c: Counts) -> str:
    tp, fn, fp, tn = (int(x) for x in c)
    se = f"{100 * tp / (tp + fn):6.2f}" if tp + fn else "     -"
    ppv = f"{100 * tp / (tp + fp):6.2f}" if tp + fp else "     -"
    return f"{label:8s} {tp + fn:7d} {fp + tn:7d} {se} {100 * tn / (tn + fp):6.2f} {ppv}"


def bench_afdb() -> tuple[list[FloatArray], float]:
    print("MIT-BIH AF database, beat level (AF = inside (AFIB)")
    print(f"{'record':8s} {'AF':>7s} {'non-AF':>7s} {'Se %':>6s} {'Sp %':>6s} {'PPV %':>6s}")
    total, all_t, seconds = np.zeros(4, dtype=np.int64), [], 0.0
    for record in AFDB:
        t, truth = afdb_record(record)
        start = time.perf_counter()
        got = detect_af(t)
        seconds += time.perf_counter() - start
        c = counts(got, truth)
        total += c
        all_t.append(t)
        print(row(record, c))
    print(row("overall", total))
    print("Petrenas et al. 2015, all 23 records: Se 97.1, Sp 98.3\n")
    return all_t, seconds


def bench_202() -> None:
    rec = wfdb.rdrecord(str(PHYSIONET / "mitdb_unannotated" / "202"), channels=[0])
    t = detect_r_peaks(rec.p_signal[:, 0], rec.fs) / rec.fs
    labels = detect_af(t)
    print(f"MIT-BIH 202: {t.size} beats from detect_r_peaks, AF burden {af_burden(t, labels):.1%}")
    for onset, offset in af_episodes(t, labels):
        print(f"  AF {onset / 60:6.2f} - {offset / 60:6.2f} min ({offset - onset:5.0f} s)")
    print()


def bench_non_af() -> None:
    print("MIT-BIH records without AF (reference beats): share of time called AF")
    for record in NON_AF_MITDB:
        ann = wfdb.rdann(str(PHYSIONET / "mitdb" / record), "atr")
        keep = np.isin(ann.symbol, sorted(BEAT_SYMBOLS))
        t = np.asarray(ann.sample, dtype=np.float64)[keep] / 360.0
        print(f"  {record}: {af_burden(t, detect_af(t)):.1%}")
    print()


def bench_speed(all_t: list[FloatArray], batch_seconds: float) -> None:
    n = sum(t.size for t in all_t)
    print(f"whole records: {n} beats in {batch_seconds:.2f} s = {n / batch_seconds:,.0f} beats/s")
    t = all_t[-1][:20000]
    for per_call in (1, 10):
        detector = AfDetector("bench")
        start = time.perf_counter()
        for i in range(0, t.size, per_call):
            detector.process(t[i : i + per_call])
        us = 1e6 * (time.perf_counter() - start) / t.size
        streams = 1e6 / us / (70 / 60)
        print(
            f"streaming, {per_call:2d} beat(s) per call: {us:6.1f} us/beat = "
            f"{1e6 / us:,.0f} beats/s, about {streams:,.0f} concurrent 70 bpm streams per core"
        )


def main() -> None:
    all_t, seconds = bench_afdb()
    bench_202()
    bench_non_af()
    bench_speed(all_t, seconds)


if __name__ == "__main__":
    main()
