"""Benchmark: life-threatening alarms (Challenge 2015) and the monitor's streaming cost.

Run from the repository root: ``.venv/bin/python bench/bench_lethal.py [--quick] [--holdout]``.

1. PhysioNet/CinC Challenge 2015 development alarms (``../shared/data/physionet/
   challenge2015``, the 256 of ``ALARMS`` and ``ALARMS-2``, the alarm at 300 s): ``confirm_alarm``
   on each record's own alarm type with only the samples before 300 s (the real-time event),
   scored 100 (TP + TN) / (TP + TN + FP + 5 FN), under the protocol of ``bench/_protocol.py``
   (``bench/_lethal_cv.py``): a fixed holdout of a fifth of each type and truth is left out;
   on the rest, grouped 5-fold CV stratified by type and truth over 5 seeds chooses among the
   tolerance settings of ``_lethal_cv.GRID`` on the training folds; the claims are the
   out-of-fold scores per type and overall, printed beside the fitted ones (the best setting
   chosen and scored on all development alarms). ``--holdout`` scores the holdout once.
   Outcomes are cached per record, setting and code under ``build/cache/lethal``.
2. Streams per core: ``LethalArrhythmiaMonitor`` fed chunks as the hub sends them, CPU seconds
   of this process (``time.process_time``, the best of ``--runs`` runs) per second of signal,
   over (a) alarm records (every one holds an alarm, the expensive case) with all their
   channels, then with two ECG leads and one pulse waveform, in 1 s and 0.25 s chunks, and (b)
   ordinary rhythm, MIT-BIH 100 and 103 resampled (30 min each): both leads at 250 Hz, one
   lead at 250 Hz in 1 s and 0.25 s chunks, and one lead at 130 Hz in 73-sample chunks (a
   Polar H10). Streams per core = 1 / (CPU s per stream-second). A shared machine: the load
   average is printed; expect +/- 30 %.

The strip classifier's figures are in ``bench/bench_strip.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

import _lethal_cv  # noqa: E402
from _physionet import physionet_dir  # noqa: E402
from _protocol import load_line  # noqa: E402

from telemed_signal.lethal import ECG_LEADS, PULSE_CHANNELS, LethalArrhythmiaMonitor  # noqa: E402

PHYSIONET = physionet_dir()
TYPES = {
    "Asystole": "asystole",
    "Bradycardia": "extreme_bradycardia",
    "Tachycardia": "extreme_tachycardia",
    "Ventricular_Tachycardia": "ventricular_tachycardia",
    "Ventricular_Flutter_Fib": "ventricular_flutter_fib",
}
ALARM_S = 300.0
FloatArray = npt.NDArray[np.float64]
Signals = dict[str, FloatArray]


def load_alarm(name: str) -> tuple[Signals, float, str, bool]:
    import wfdb

    rec = wfdb.rdrecord(str(PHYSIONET / "challenge2015" / name))
    sig = {s: np.asarray(rec.p_signal[:, i], np.float64) for i, s in enumerate(rec.sig_name)}
    return sig, float(rec.fs), TYPES[rec.comments[0]], rec.comments[1].startswith("True")


def score(c: dict[str, int]) -> float:
    return 100.0 * (c["TP"] + c["TN"]) / (c["TP"] + c["TN"] + c["FP"] + 5 * c["FN"])


def stream_cost(
    signals: list[tuple[Signals, float]], seconds: float, chunk_s: float, runs: int
) -> tuple[float, float]:
    """CPU seconds per second of signal, per patient and per channel (best of ``runs``)."""
    cpu, patient_s, channel_s = 0.0, 0.0, 0.0
    for sig, fs in signals:
        step, n = round(chunk_s * fs), int(seconds * fs)
        chunks = [{k: v[i : min(i + step, n)] for k, v in sig.items()} for i in range(0, n, step)]
        best = np.inf
        for _ in range(runs):
            mon = LethalArrhythmiaMonitor(list(sig), fs)
            c0 = time.process_time()
            for chunk in chunks:
                mon.process(chunk)
            best = min(best, time.process_time() - c0)
        cpu += best
        patient_s += n / fs
        channel_s += n / fs * (len(mon.leads) + len(mon.pulse_names))
    return cpu / patient_s, cpu / channel_s


def two_leads_and_pulse(sig: Signals) -> Signals | None:
    """The first two ECG leads and the first pulse waveform of a record, if it has them."""
    ecg = [k for k in sig if k in ECG_LEADS][:2]
    pulse = [k for k in sig if k in PULSE_CHANNELS][:1]
    return {k: sig[k] for k in ecg + pulse} if len(ecg) == 2 and pulse else None


def mitdb(rec: str, fs: float, leads: tuple[str, ...]) -> Signals:
    """MIT-BIH record ``rec`` (360 Hz) resampled to ``fs`` (250 or 130 Hz), the named leads."""
    import wfdb

    r = wfdb.rdrecord(str(PHYSIONET / "mitdb" / rec))
    up = round(fs / 10)
    return {
        name: resample_poly(r.p_signal[:, i], up, 36).astype(np.float64)
        for i, name in enumerate(("MLII", "V1"))
        if name in leads
    }


def throughput(quick: bool, runs: int) -> None:
    # the first 62 alarms, as before the second batch (the cost per record does not change)
    names = sorted(
        x.split(",")[0] for x in (PHYSIONET / "challenge2015" / "ALARMS").read_text().split()
    )
    if quick:
        names = names[::6]
    alarms, trios = [], []
    for name in names:
        sig, fs, _, _ = load_alarm(name)
        alarms.append(({k: v for k, v in sig.items() if k != "RESP"}, fs))
        trio = two_leads_and_pulse(sig)
        if trio is not None:
            trios.append((trio, fs))
    secs = 300.0 if quick else 1800.0
    both = [(mitdb(r, 250.0, ("MLII", "V1")), 250.0) for r in ("100", "103")]
    one = [(mitdb(r, 250.0, ("MLII",)), 250.0) for r in ("100", "103")]
    polar = [(mitdb(r, 130.0, ("MLII",)), 130.0) for r in ("100", "103")]
    print(f"\nstreaming cost (CPU of this process, best of {runs})")
    for label, group, seconds, chunk_s in (
        ("alarm records, all channels, 1 s chunks", alarms, ALARM_S, 1.0),
        (f"alarm records, 2 ECG + 1 pulse ({len(trios)}), 1 s chunks", trios, ALARM_S, 1.0),
        (f"alarm records, 2 ECG + 1 pulse ({len(trios)}), 0.25 s chunks", trios, ALARM_S, 0.25),
        ("MIT-BIH 100, 103, 2 leads at 250 Hz, 1 s chunks", both, secs, 1.0),
        ("MIT-BIH 100, 103, 1 lead at 250 Hz, 1 s chunks", one, secs, 1.0),
        ("MIT-BIH 100, 103, 1 lead at 250 Hz, 0.25 s chunks", one, secs, 0.25),
        ("MIT-BIH 100, 103, 1 lead at 130 Hz, 73-sample chunks", polar, secs, 73 / 130),
    ):
        per_patient, per_channel = stream_cost(group, seconds, chunk_s, runs)
        print(
            f"  {label}: {1000 * per_patient:.2f} ms per patient-second "
            f"({1 / per_patient:,.0f} patients per core), {1000 * per_channel:.2f} ms per "
            f"channel-second ({1 / per_channel:,.0f} channel streams per core)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the alarms, less signal")
    parser.add_argument("--holdout", action="store_true", help="score the fixed holdout once")
    parser.add_argument("--skip-alarms", action="store_true", help="streaming cost only")
    parser.add_argument("--runs", type=int, default=3, help="streaming runs, the best counts")
    args = parser.parse_args()
    print(load_line())
    if not args.skip_alarms:
        _lethal_cv.run(args.holdout)
    throughput(args.quick, max(1, args.runs))
    print(load_line())


if __name__ == "__main__":
    main()
