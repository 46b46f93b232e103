"""Benchmark: what one core of the hub's signal worker carries, everything included.

Run from the repository root: ``.venv/bin/python bench/bench_worker.py [--quick]``.

The hub's ``SignalProcessor.samples`` is fed wire chunks exactly as the bus delivers them (dicts
of integer samples), for many concurrent streams interleaved in time, and the CPU seconds it
spends are set against the seconds of signal it analysed. Per ECG lead that is R peaks, heart
rate, signal quality, pauses, brady/tachycardia and AF (``processing/ecg.py``); per device the
life-threatening arrhythmia monitor over all its leads and pulse waves (``processing/bedside.py``).

Two device types, real signals:

* home strap -- one ECG lead at 130 Hz (Polar H10) in 73-sample notifications: MIT-BIH records
  resampled to 130 Hz; and the same records at 250 Hz in 1 s chunks (the "250 Hz stream");
* bedside monitor -- two ECG leads and a PLETH or ABP channel at 250 Hz in 0.25 s chunks:
  Challenge 2015 alarm records (the first 300 s, arrhythmias included).

Streams per core = seconds of signal / CPU seconds, per stream (and per channel). The budget
of issue #4 is 1,000 concurrent 250 Hz streams per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import _cpu_model  # noqa: E402  (bench/ is on sys.path)
from _physionet import physionet_dir  # noqa: E402  (bench/ is on sys.path)

from patient_hub.processing.worker import SignalProcessor  # noqa: E402

DATA = physionet_dir()
T0 = datetime(2026, 11, 27, tzinfo=UTC)
STRAP_RECORDS = ("100", "103", "105", "106")
BEDSIDE_RECORDS = ("a103l", "a754s", "v452s", "v701l", "f697l", "t709l", "b125l", "f120s")
WIRE = {"PLETH": ("pleth", "1", 1e-4), "ABP": ("abp", "mm[Hg]", 0.01)}


def chunk(
    patient: str, kind: str, lead: str, unit: str, factor: float, fs: float, i: int, q: Any
) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "device_id": f"{patient}-dev",
        "kind": kind,
        "lead": lead,
        "unit": unit,
        "factor": factor,
        "fs_hz": fs,
        "start": (T0 + timedelta(seconds=i / fs)).isoformat(),
        "samples": q,
    }


def strap_streams(
    n: int, seconds: float, fs: float = 130.0, step: int = 73
) -> tuple[list[list[dict[str, Any]]], float]:
    """``n`` single-lead ECG streams (MIT-BIH resampled to ``fs``: 130 or 250 Hz) in chunks
    of ``step`` samples: lists of chunks per stream, and the seconds of signal each."""
    import wfdb

    up, down = (13, 36) if fs == 130.0 else (25, 36)
    leads = []
    for name in STRAP_RECORDS:
        rec = wfdb.rdrecord(str(DATA / "mitdb" / name), channels=[0])
        leads.append(resample_poly(rec.p_signal[:, 0], up, down))  # 360 Hz -> fs
    m = round(seconds * fs)
    out = []
    for k in range(n):
        x = leads[k % len(leads)]
        off = (k * 7919) % (x.size - m)
        q = np.round(x[off : off + m] * 1000).astype(int)
        out.append(
            [chunk(f"s{k}", "ecg", "I", "uV", 1.0, fs, i, q[i : i + step].tolist())
             for i in range(0, m, step)]
        )  # fmt: skip
    return out, m / fs


def bedside_streams(n: int, seconds: float) -> tuple[list[list[dict[str, Any]]], float, int]:
    """``n`` bedside monitors (two ECG leads + one pulse channel at 250 Hz, 0.25 s chunks)."""
    import wfdb

    recs = []
    for name in BEDSIDE_RECORDS:
        rec = wfdb.rdrecord(str(DATA / "challenge2015" / name), sampto=75_000)
        sig = {s: rec.p_signal[:, i] for i, s in enumerate(rec.sig_name)}
        ecg = [s for s in rec.sig_name if s not in WIRE and s != "RESP"][:2]
        pulse = [s for s in rec.sig_name if s in WIRE][:1]
        recs.append({s: np.nan_to_num(sig[s]) for s in ecg + pulse})
    fs, step, m = 250.0, 62, round(seconds * 250)
    out = []
    for k in range(n):
        rec = recs[k % len(recs)]
        stream = []
        for i in range(0, m, step):
            for name, x in rec.items():
                kind, unit, factor = WIRE.get(name, ("ecg", "uV", 1.0))
                scale = 1000.0 if kind == "ecg" else 1.0 / factor
                q = np.round(x[i : i + step] * scale).astype(int).tolist()
                stream.append(chunk(f"b{k}", kind, name, unit, factor, fs, i, q))
        out.append(stream)
    return out, m / fs, len(next(iter(recs)))


def run(streams: list[list[dict[str, Any]]], per_delivery: int) -> float:
    """CPU seconds the worker spends on every stream's chunks, interleaved as they arrive."""
    processor = SignalProcessor(ZoneInfo("UTC"))
    rounds = max(len(s) for s in streams)
    cpu = time.process_time()
    for r in range(0, rounds, per_delivery):
        for s in streams:
            if r < len(s):
                processor.samples({"chunks": s[r : r + per_delivery]})
    return time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer streams, shorter")
    args = parser.parse_args()
    n, seconds = (8, 60.0) if args.quick else (24, 300.0)
    loads = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{_cpu_model()}, {os.cpu_count()} cores; load average {loads}")
    print(f"{n} concurrent streams of each type, {seconds:.0f} s of signal each, CPU time\n")
    straps, sec = strap_streams(n, seconds)
    cpu = min(run(straps, per_delivery=2) for _ in range(2))
    per = cpu / (n * sec)
    print(
        f"home strap (1 lead, 130 Hz, 73-sample chunks): {1e3 * per:.3f} ms CPU per "
        f"stream-second -> {1 / per:,.0f} straps per core"
    )
    leads, sec = strap_streams(n, seconds, fs=250.0, step=250)
    cpu = min(run(leads, per_delivery=1) for _ in range(2))
    per = cpu / (n * sec)
    print(
        f"ECG lead (1 lead, 250 Hz, 1 s chunks): {1e3 * per:.3f} ms CPU per stream-second -> "
        f"{1 / per:,.0f} streams per core"
    )
    beds, sec, channels = bedside_streams(n, seconds)
    cpu = min(run(beds, per_delivery=3 * channels) for _ in range(2))
    per = cpu / (n * sec)
    print(
        f"bedside ({channels} channels, 250 Hz, 0.25 s chunks): {1e3 * per:.3f} ms CPU per "
        f"device-second -> {1 / per:,.0f} devices per core, "
        f"{channels / per:,.0f} channel streams per core"
    )


if __name__ == "__main__":
    main()
