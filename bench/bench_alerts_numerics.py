"""Alerts per patient-day on the shipped ICU numerics (MIMIC-II, 1/min), default policy with and
without persistence and hysteresis.

The records are 1-minute numerics (HR, PULSE, SpO2, ...), with real dropouts (zeros, skipped as
missing) and artefacts. They replay through the same evaluator as the live engine
(``alerts.replay.engine``): "default" is the shipped reading rules (SpO2 < 90 % for 60 s, clear
at 92 %, rapid limit 85 %; HR > 125/min for 60 s, clear at 115/min); "raw" sets persistence to
0 and the clear level to the trigger (a plain threshold alarm). At 1 sample/min, 60 s of
persistence means two consecutive minutes; the gap allowed between samples is 90 s for both.

    .venv/bin/python bench/bench_alerts_numerics.py
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wfdb  # noqa: E402
from _machine import _cpu_model  # noqa: E402  (bench/ is on sys.path)
from _physionet import physionet_dir  # noqa: E402

from alerts.replay.engine import ReplayPolicy, replay  # noqa: E402

DATA = physionet_dir() / "mimic2wdb_numerics"
KINDS = {"SpO2": "spo2", "HR": "heart_rate", "PULSE": "pulse_rate"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
GAP = {"max_gap_s": 90.0}
DEFAULT = ReplayPolicy("default", {"desaturation": GAP, "tachycardia": GAP})
RAW = ReplayPolicy(
    "raw",
    {
        "desaturation": {**GAP, "persistence_s": 0.0, "clear": 90.0},
        "tachycardia": {**GAP, "persistence_s": 0.0, "clear": 125.0},
    },
)


def readings(record: str) -> tuple[list[dict[str, Any]], float]:
    """Readings of one record (zeros and NaNs are dropouts), and its length in days."""
    r = wfdb.rdrecord(str(DATA / record))
    out = []
    for name, kind in KINDS.items():
        if name not in r.sig_name:
            continue
        column = r.p_signal[:, r.sig_name.index(name)]
        for i, v in enumerate(column):
            if v == v and v > 0:  # not NaN, not a dropout
                at = T0 + timedelta(minutes=i)
                out.append({"patient_id": record, "bridge_id": "icu", "seq": i, "kind": kind,
                            "value": float(v), "measured_at": at.isoformat(), "flags": []})  # fmt: skip
    out.sort(key=lambda x: x["measured_at"])
    return out, r.sig_len / r.fs / 86400.0


def main() -> None:
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    records = sorted(p.stem for p in DATA.glob("*.hea"))
    rows, days = [], 0.0
    for rec in records:
        data, d = readings(rec)
        rows += data
        days += d
    started = time.perf_counter()
    counts = {p.name: replay(rows, [], {}, p) for p in (DEFAULT, RAW)}
    elapsed = time.perf_counter() - started
    print(f"records: {', '.join(records)}; {len(rows)} readings; {days * 24:.1f} patient-hours "
          f"({days:.2f} patient-days); replay of both policies {elapsed:.2f} s")  # fmt: skip
    print(f"{'policy':<10}{'alerts':>8}{'per patient-day':>18}  by rule")
    for name, c in counts.items():
        print(f"{name:<10}{c.alerts:>8}{c.alerts / days:>18.1f}  {dict(sorted(c.by_rule.items()))}")


if __name__ == "__main__":
    main()
