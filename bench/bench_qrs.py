"""Benchmark: our streaming R-peak detector against WFDB gqrs/xqrs and NeuroKit2.

Run from the repository root: ``.venv/bin/python bench/bench_qrs.py [--quick] [--records ...]``.

Protocol (docs: shared/reference/signal.md, sections D and E.4): the 13 MIT-BIH records of
``../shared/data/physionet/mitdb``, channel 0, reference = beat labels only, greedy one-to-one
matching within 150 ms, scored as EC57 / WFDB ``bxb`` do: the first 5 min (the learning period)
and reference-marked ventricular flutter/fibrillation (``[`` to ``]``) left out, for reference
beats and detections alike (``--whole`` scores whole records instead). The detector has no
parameter fitted here, but it was developed on the first batch (100-107): the totals are given
for that batch, for the second batch (203, 210, 219, 221, 223, 233: multiform PVCs, noise, AF,
VT; never tuned to) and for all, so the gap between the batches shows how much is fitting. Times are CPU
seconds of this process (``time.process_time``) spent in detection only, the best of
``--repeat`` runs, every detector measured in the same run on the same records; the machine
is shared, so the load it carried is printed with the figures. The ratio that matters is
``ours_stream1s`` (1 s chunks fed to one ``RPeakDetector``) against ``wfdb_gqrs``.

Then the multi-stream figure: N concurrent 250 Hz leads (real ECG, resampled) fed 1 s chunks,
per-stream detectors and one ``RPeakDetectorBank``; streams per core = 1 / (compute seconds
per stream-second of signal).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import _cpu_model, _machine_ticks  # noqa: E402  (bench/ is on sys.path)
from _physionet import physionet_dir  # noqa: E402

from telemed_signal.ecg import (  # noqa: E402
    BEAT_SYMBOLS,
    RPeakDetector,
    RPeakDetectorBank,
    detect_r_peaks,
    match_beats,
)
from telemed_signal.ecg_features import _steady_kernel  # noqa: E402

MITDB = physionet_dir() / "mitdb"
RECORDS = ("100", "102", "103", "104", "105", "106", "107")
SECOND_BATCH = ("203", "210", "219", "221", "223", "233")
LEARNING_S = 300.0
Signal = npt.NDArray[np.float64]


@dataclass
class Score:
    """Beat counts and detection time accumulated over records."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn
        self.seconds += other.seconds

    def row(self, label: str) -> str:
        se = 100 * self.tp / max(1, self.tp + self.fn)
        ppv = 100 * self.tp / max(1, self.tp + self.fp)
        f1 = 200 * self.tp / max(1, 2 * self.tp + self.fp + self.fn)
        sec = float(np.mean(self.seconds)) if self.seconds else float("nan")
        return f"{label:<14}{se:8.3f}{ppv:8.3f}{f1:8.3f}{self.fp:6d}{self.fn:6d}{sec:10.3f}"


@dataclass(frozen=True)
class Lead:
    """Channel 0 of a record: physical (mV) and digital samples, ADC scaling, beat labels."""

    x: Signal
    digital: npt.NDArray[np.int64]
    adc_gain: float
    adc_zero: int
    beats: npt.NDArray[np.int64]
    fs: float
    skip: tuple[tuple[int, int], ...] = ()  # sample spans left out of the scoring (EC57)

    def scored(self, samples: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        keep = np.ones(samples.size, dtype=bool)
        for a, b in self.skip:
            keep &= (samples < a) | (samples >= b)
        return samples[keep]


def load(name: str, seconds: float | None, ec57: bool = False) -> Lead:
    """Channel 0 of one mitdb record with its beat-label sample indices, maybe truncated;
    with ``ec57`` the spans EC57 leaves out (learning period, ventricular flutter)."""
    import wfdb

    path = str(MITDB / name)
    rec = wfdb.rdrecord(path, channels=[0], physical=False)
    ann = wfdb.rdann(path, "atr")
    keep = [s in BEAT_SYMBOLS for s in ann.symbol]
    beats = np.asarray(ann.sample, dtype=np.int64)[keep]
    digital = np.asarray(rec.d_signal[:, 0], dtype=np.int64)
    n = digital.size if seconds is None else round(seconds * rec.fs)
    gain = float(rec.adc_gain[0])
    x = (digital[:n] - int(rec.baseline[0])) / gain
    skip: list[tuple[int, int]] = []
    if ec57:
        skip.append((0, round(LEARNING_S * rec.fs)))
        onset = None
        for sym, at in zip(ann.symbol, ann.sample.tolist(), strict=True):
            if sym == "[":
                onset = at
            elif sym == "]" and onset is not None:
                skip.append((onset, at + 1))
                onset = None
        if onset is not None:
            skip.append((onset, n))
    lead = Lead(x, digital[:n], gain, int(rec.adc_zero[0]), beats[beats < n], float(rec.fs))
    return Lead(lead.x, lead.digital, gain, lead.adc_zero, lead.beats, lead.fs, tuple(skip))


Detector = Callable[[Lead], npt.ArrayLike]


def ours_offline(lead: Lead) -> npt.ArrayLike:
    return detect_r_peaks(lead.x, lead.fs)


def ours_streaming(lead: Lead) -> npt.ArrayLike:
    detector, step = RPeakDetector(lead.fs), round(lead.fs)
    parts = [detector.process(lead.x[i : i + step]) for i in range(0, lead.x.size, step)]
    return np.concatenate([*parts, detector.flush()])


def wfdb_gqrs(lead: Lead) -> npt.ArrayLike:
    from wfdb import processing

    # The digital samples with the record's ADC gain and zero reproduce the original C gqrs
    # (wfdb's docstring); the physical-signal path re-quantises and scores worse on 104/105.
    return processing.gqrs_detect(
        d_sig=lead.digital, fs=lead.fs, adc_gain=lead.adc_gain, adc_zero=lead.adc_zero
    )


def wfdb_xqrs(lead: Lead) -> npt.ArrayLike:
    from wfdb import processing

    with contextlib.redirect_stdout(io.StringIO()):
        return processing.xqrs_detect(sig=lead.x, fs=lead.fs, verbose=False)


def neurokit_default(lead: Lead) -> npt.ArrayLike:
    import neurokit2 as nk

    # NeuroKit's documented pipeline: ecg_clean then ecg_peaks, both with their defaults.
    cleaned = nk.ecg_clean(lead.x, sampling_rate=lead.fs)
    _, info = nk.ecg_peaks(cleaned, sampling_rate=lead.fs)
    return np.asarray(info["ECG_R_Peaks"])


def detectors() -> dict[str, Detector]:
    found: dict[str, Detector] = {
        "ours_offline": ours_offline,
        "ours_stream1s": ours_streaming,
        "wfdb_gqrs": wfdb_gqrs,
        "wfdb_xqrs": wfdb_xqrs,
    }
    try:
        import neurokit2

        found[f"nk2_{neurokit2.__version__}"] = neurokit_default
    except ImportError:
        print("neurokit2 is not installed: skipping it (.venv/bin/pip install neurokit2)")
    return found


def warm_up() -> str:
    """Compile (or load from numba's cache) the streaming kernel before anything is timed;
    say which hot path the streaming detectors take."""
    detector = RPeakDetector(360.0)
    for _ in range(3):
        detector.process(np.zeros(360))
    if _steady_kernel() is None:
        return "streaming hot path: pure numpy (numba not installed, or its kernel not bit-exact)"
    import numba

    return f"streaming hot path: compiled kernel (numba {numba.__version__})"


def score_record(det: Detector, lead: Lead, repeat: int) -> Score:
    """Beat counts of one detector on one record, with its best CPU time of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        found = np.asarray(det(lead), dtype=np.int64)
        best = min(best, time.process_time() - start)
    tp, fp, fn = match_beats(lead.scored(found), lead.scored(lead.beats), lead.fs, 0.15)
    return Score(tp, fp, fn, [best])


def machine_load(since: tuple[int, int] | None) -> str:
    """The load average, and how busy all cores were since the ``_machine_ticks()`` given."""
    loads = "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    now = _machine_ticks()
    if not (since and now and now[1] > since[1]):
        return loads
    busy = 100 * (now[0] - since[0]) / (now[1] - since[1])
    return f"{loads}; all {os.cpu_count()} cores {busy:.0f} % busy"


def accuracy(
    records: list[str], seconds: float | None, repeat: int, ec57: bool, only: list[str] | None
) -> None:
    dets = {k: v for k, v in detectors().items() if not only or k in only}
    totals = {name: Score() for name in dets}
    batches = {b: {name: Score() for name in dets} for b in ("first", "second")}
    header = f"{'detector':<14}{'Se%':>8}{'+P%':>8}{'F1%':>8}{'FP':>6}{'FN':>6}{'s/record':>10}"
    for rec in records:
        lead = load(rec, seconds, ec57)
        minutes = lead.x.size / lead.fs / 60
        print(f"\nrecord {rec}: {lead.beats.size} beats, {minutes:.1f} min at {lead.fs:g} Hz")
        print(header)
        for name, det in dets.items():
            s = score_record(det, lead, repeat)
            totals[name].add(s)
            batches["second" if rec in SECOND_BATCH else "first"][name].add(s)
            print(s.row(name))
    for b, label in (("first", "first batch (developed on)"), ("second", "second batch (unseen)")):
        print(f"\n{label.upper()}" + (" (EC57)" if ec57 else ""))
        print(header)
        for name, s in batches[b].items():
            print(s.row(name))
    print(f"\nALL {len(records)} records" + (" (EC57)" if ec57 else ""))
    print(header)
    for name, s in totals.items():
        print(s.row(name))
    if "ours_offline" not in totals or "ours_stream1s" not in totals:
        return  # --only left out a reference for the speed ratios
    offline = float(np.mean(totals["ours_offline"].seconds))
    stream = float(np.mean(totals["ours_stream1s"].seconds))
    print(f"\nCPU s/record, best of {repeat} runs per detector and record")
    print("speed ratio = their s/record / ours (> 1: ours is faster)")
    print(f"{'detector':<14}{'vs offline':>12}{'vs stream1s':>13}")
    for name, s in totals.items():
        theirs = float(np.mean(s.seconds))
        print(f"{name:<14}{theirs / offline:12.1f}{theirs / stream:13.1f}")
    if "wfdb_gqrs" in totals:
        gqrs = float(np.mean(totals["wfdb_gqrs"].seconds))
        print(
            f"\nSTREAMING (1 s chunks) vs wfdb_gqrs: {gqrs / stream:.1f}x faster "
            f"({stream:.3f} vs {gqrs:.3f} CPU s/record, {100 * stream / gqrs:.2f} % of its time; "
            f"goal >= 50x, i.e. <= 2 %)\n"
            f"offline (whole record) vs wfdb_gqrs:   {gqrs / offline:.1f}x faster"
        )


def stream_leads(n_streams: int, seconds: int, fs: int = 250) -> Signal:
    """``n_streams`` different real leads at ``fs`` Hz (records and offsets rotated)."""
    sources = []
    for name in RECORDS:
        lead = load(name, None)
        sources.append(resample_poly(lead.x, fs, int(lead.fs)))
    n = seconds * fs
    rows = []
    for i in range(n_streams):
        src = sources[i % len(sources)]
        start = (i // len(sources)) * 7 * fs % (src.size - n)
        rows.append(src[start : start + n])
    return np.stack(rows)


def throughput(n_streams: int, seconds: int, fs: int = 250) -> None:
    leads = stream_leads(n_streams, seconds, fs)
    print(f"\nmulti-stream: {n_streams} streams x {seconds} s at {fs} Hz, 1 s chunks")
    singles = [RPeakDetector(fs) for _ in range(n_streams)]
    wall, cpu = time.perf_counter(), time.process_time()
    for t in range(0, leads.shape[1], fs):
        for detector, lead in zip(singles, leads, strict=True):
            detector.process(lead[t : t + fs])
    report("RPeakDetector per stream", wall, cpu, n_streams, seconds)
    bank = RPeakDetectorBank(fs, n_streams)
    wall, cpu = time.perf_counter(), time.process_time()
    for t in range(0, leads.shape[1], fs):
        bank.process(leads[:, t : t + fs])
    report("RPeakDetectorBank", wall, cpu, n_streams, seconds)


def report(label: str, wall0: float, cpu0: float, n_streams: int, seconds: int) -> None:
    """Print the cost per stream-second, from wall time and from this process's CPU time."""
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    per_signal_s = wall / seconds
    print(
        f"  {label:<26} {per_signal_s:6.3f} s wall per 1 s of signal for all {n_streams} "
        f"({'real time' if per_signal_s < 1 else 'SLOWER than real time'}); "
        f"streams per core = {n_streams * seconds / wall:,.0f} (wall), "
        f"{n_streams * seconds / cpu:,.0f} (CPU time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--records", nargs="+", default=[*RECORDS, *SECOND_BATCH], help="mitdb records"
    )
    parser.add_argument("--whole", action="store_true", help="score whole records, not EC57")
    parser.add_argument("--only", nargs="+", default=None, help="detectors to run (names)")
    parser.add_argument("--quick", action="store_true", help="5 min per record, 200 streams")
    parser.add_argument("--streams", type=int, default=None, help="concurrent streams")
    parser.add_argument("--stream-seconds", type=int, default=None, help="signal per stream")
    parser.add_argument("--repeat", type=int, default=3, help="runs per detector, best kept")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    import scipy
    import wfdb

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, wfdb {wfdb.__version__}")
    print(f"{_cpu_model()}; at start: {machine_load(None)}")
    print(warm_up())
    ticks = _machine_ticks()
    if not args.skip_accuracy:
        ec57 = not (args.whole or args.quick)  # a 5 min quick run is all learning period
        accuracy(args.records, 300.0 if args.quick else None, args.repeat, ec57, args.only)
        print(f"machine during the accuracy runs: {machine_load(ticks)}")
        ticks = _machine_ticks()
    if not args.skip_throughput:
        n = args.streams or (200 if args.quick else 1000)
        throughput(n, args.stream_seconds or (20 if args.quick else 60))
        print(f"machine during the multi-stream runs: {machine_load(ticks)}")


if __name__ == "__main__":
    main()
