"""Benchmark: life-threatening alarms (Challenge 2015) and short-strip AF (Challenge 2017).

Run from the repository root: ``.venv/bin/python bench/bench_lethal.py [--quick] [--refit]``.

1. PhysioNet/CinC Challenge 2015 development alarms (``../shared/data/physionet/
   challenge2015``, 62 records, the alarm at 300 s): ``confirm_alarm`` on each record's own
   alarm type with only the samples before 300 s (the real-time event), TP/TN/FP/FN and the
   Challenge score 100 (TP + TN) / (TP + TN + FP + 5 FN) per type and overall, and seconds
   per record (wall and CPU).
2. PhysioNet/CinC Challenge 2017 development strips (600, 300 Hz): ``classify_strip``'s F1 per
   class and the Challenge mean of F1 over N, A, O with the confusion matrix (the stored model
   was fitted on these strips), then the same for stratified 5-fold cross-validation of the
   training procedure (``fit_strip_model``), averaged over 5 fold assignments: the score to
   expect on new strips. ``--refit`` prints the ``_TABLE`` literal fitted on all 600 (as bench_strip.py does).
3. Streams per core: ``LethalArrhythmiaMonitor`` fed chunks as the hub sends them, CPU seconds
   of this process (``time.process_time``, the best of ``--runs`` runs) per second of signal,
   over (a) the 62 alarm records (every one holds an alarm, the expensive case: rules look
   harder at candidates) with all their channels, then with two ECG leads and one pulse
   waveform, in 1 s and 0.25 s chunks, and (b) ordinary rhythm, MIT-BIH 100 and 103 resampled
   (30 min each): both leads at 250 Hz, one lead at 250 Hz in 1 s and 0.25 s chunks, and one
   lead at 130 Hz in 73-sample chunks (a Polar H10). Streams per core = 1 / (CPU s per
   stream-second), per patient (all its channels) and per channel. A shared machine: expect
   +/- 30 %.
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

from _physionet import physionet_dir  # noqa: E402  (bench/ is on sys.path)

from telemed_signal.lethal import (  # noqa: E402
    ALARMS,
    ECG_LEADS,
    PULSE_CHANNELS,
    LethalArrhythmiaMonitor,
    confirm_alarm,
)
from telemed_signal.strip import (  # noqa: E402
    classify_features,
    feature_vector,
    fit_strip_model,
    strip_features,
)

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


def challenge2015(quick: bool) -> None:
    names = sorted(p.stem for p in (PHYSIONET / "challenge2015").glob("*.hea"))
    if quick:
        names = names[::4]
    counts = {a: {"TP": 0, "TN": 0, "FP": 0, "FN": 0} for a in ALARMS}
    wall, cpu, missed = [], [], []
    for name in names:
        sig, fs, kind, truth = load_alarm(name)
        w0, c0 = time.perf_counter(), time.process_time()
        said = confirm_alarm(sig, fs, kind, ALARM_S)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        outcome = ("TP" if said else "FN") if truth else ("FP" if said else "TN")
        counts[kind][outcome] += 1
        if outcome in ("FP", "FN"):
            missed.append(f"{name} ({kind}, {outcome})")
    print(f"\nChallenge 2015, real time (samples before {ALARM_S:g} s), {len(names)} alarms")
    print(f"{'alarm':<26}{'TP':>4}{'TN':>4}{'FP':>4}{'FN':>4}{'score':>8}")
    total = {"TP": 0, "TN": 0, "FP": 0, "FN": 0}
    for kind, c in counts.items():
        if sum(c.values()):
            print(f"{kind:<26}{c['TP']:>4}{c['TN']:>4}{c['FP']:>4}{c['FN']:>4}{score(c):8.2f}")
        for k in total:
            total[k] += c[k]
    print(f"{'overall':<26}" + "".join(f"{total[k]:>4}" for k in total) + f"{score(total):8.2f}")
    print("errors:", ", ".join(missed) or "none")
    print(
        f"seconds per alarm record (300 s of 3-4 channels): wall {np.mean(wall):.2f} "
        f"(max {np.max(wall):.2f}), CPU {np.mean(cpu):.2f}"
    )


def challenge2017(refit: bool) -> None:
    """The strip classifier's development figures (bench/bench_strip.py has more)."""
    from bench_strip import challenge_mean, cross_validate, f1_scores, load_strips, print_table

    strips = load_strips()
    t0 = time.perf_counter()
    feats = [strip_features(x, 300.0) for _, _, x in strips]
    per_strip = (time.perf_counter() - t0) / len(strips)
    truth = [c for _, c, _ in strips]
    said = [classify_features(f) for f in feats]
    print_table(truth, said, "Challenge 2017 strips, stored model (fitted on these 600)")
    x = np.stack([feature_vector(f) for f in feats])
    means = []
    for seed in range(5):
        said = cross_validate(x, feats, truth, seed)
        if seed == 0:
            print_table(truth, said, "stratified 5-fold cross-validation (fold seed 0)")
        means.append(challenge_mean(f1_scores(truth, said)))
    print(
        f"cross-validated mean F1(N, A, O) over 5 fold seeds: {np.mean(means):.3f} +/- {np.std(means):.3f}"
    )
    print(f"seconds per strip (features + model): {per_strip:.3f}")
    if refit:
        from bench_strip import print_model  # the stored table's format lives there

        print_model(fit_strip_model(x, truth))


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
    names = sorted(p.stem for p in (PHYSIONET / "challenge2015").glob("*.hea"))
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
    parser.add_argument(
        "--refit", action="store_true", help="print the strip MODEL fitted on all 600"
    )
    parser.add_argument("--runs", type=int, default=3, help="streaming runs, the best counts")
    args = parser.parse_args()
    challenge2015(args.quick)
    challenge2017(args.refit)
    throughput(args.quick, max(1, args.runs))


if __name__ == "__main__":
    main()
