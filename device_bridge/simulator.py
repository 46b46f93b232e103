"""Simulated patients and their devices, for the demo, tests and benchmarks.

Each simulated patient has slowly wandering physiology (a bounded random walk around personal
set points) that its devices sample: a chest strap (heart rate, RR intervals, ECG), a pulse
oximeter (SpO2, pulse rate), a BP cuff, a thermometer and a scale. Readings go into the bridge's
outbox exactly as a real bridge's parsed measurements do.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from device_bridge.outbox import ItemKind
from telemed_core.kinds import UNITS, Kind


@dataclass
class Physiology:
    """Personal set points and the current state of a simulated patient."""

    hr_bpm: float = 72.0
    spo2_pct: float = 97.0
    resp_per_min: float = 15.0
    sbp_mmhg: float = 128.0
    dbp_mmhg: float = 82.0
    temp_c: float = 36.8
    weight_kg: float = 78.0
    glucose_mmol_l: float = 6.0
    battery_pct: float = 100.0
    _set: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._set = {k: getattr(self, k) for k in ("hr_bpm", "spo2_pct", "resp_per_min")}

    def step(self, rng: random.Random, dt_s: float) -> None:
        """Mean-reverting random walk, so values wander but stay plausible."""
        for name, spread in (("hr_bpm", 1.5), ("spo2_pct", 0.4), ("resp_per_min", 0.5)):
            now, home = getattr(self, name), self._set[name]
            setattr(self, name, now + 0.1 * (home - now) + rng.gauss(0, spread) * math.sqrt(dt_s))
        self.spo2_pct = min(100.0, self.spo2_pct)
        self.battery_pct = max(0.0, self.battery_pct - 0.001 * dt_s)


def _reading(
    patient_id: str, device_id: str, kind: Kind, value: float, at: datetime, digits: int = 0
) -> tuple[ItemKind, dict[str, Any]]:
    return (
        "reading",
        {
            "patient_id": patient_id,
            "device_id": device_id,
            "kind": kind.value,
            "value": round(value, digits) if digits else float(round(value)),
            "unit": UNITS[kind],
            "measured_at": at.isoformat(),
            "received_at": at.isoformat(),
            "flags": ["simulated"],
        },
    )


def synthetic_ecg_uv(hr_bpm: float, fs_hz: float, n: int, phase_s: float) -> list[int]:
    """A P-QRS-T-like waveform in µV from sums of Gaussians (after McSharry's ECGSYN shape)."""
    period = 60.0 / hr_bpm
    waves = (
        (-0.2, 0.025, 120),
        (-0.05, 0.01, -150),
        (0.0, 0.012, 1200),
        (0.04, 0.01, -250),
        (0.25, 0.05, 300),
    )
    out = []
    for i in range(n):
        t = (phase_s + i / fs_hz) % period - period / 3
        out.append(int(sum(a * math.exp(-((t - mu) ** 2) / (2 * s * s)) for mu, s, a in waves)))
    return out


@dataclass
class SimulatedPatient:
    """One patient's devices on one bridge. ``tick`` returns the items produced in a second."""

    patient_id: str
    seed: int
    ecg: bool = True
    ecg_fs_hz: float = 130.0
    bp_every_s: int = 30
    slow_every_s: int = 60
    rng: random.Random = field(init=False)
    body: Physiology = field(init=False)
    elapsed_s: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.body = Physiology(
            hr_bpm=self.rng.uniform(58, 95),
            spo2_pct=self.rng.uniform(93, 99),
            resp_per_min=self.rng.uniform(12, 20),
            sbp_mmhg=self.rng.uniform(110, 165),
            dbp_mmhg=self.rng.uniform(65, 100),
            weight_kg=self.rng.uniform(55, 110),
        )

    def tick(self, at: datetime) -> list[tuple[ItemKind, dict[str, Any]]]:
        """Advance one second of simulated time and return what the devices measured."""
        b, pid, rng = self.body, self.patient_id, self.rng
        b.step(rng, 1.0)
        items = [
            _reading(pid, "strap-1", Kind.HEART_RATE, b.hr_bpm, at),
            _reading(pid, "strap-1", Kind.RR_INTERVAL, 60000 / b.hr_bpm, at),
            _reading(pid, "oximeter-1", Kind.SPO2, b.spo2_pct, at),
            _reading(pid, "oximeter-1", Kind.PULSE_RATE, b.hr_bpm + rng.gauss(0, 1), at),
            _reading(pid, "strap-1", Kind.RESPIRATORY_RATE, b.resp_per_min, at),
        ]
        if self.elapsed_s % self.bp_every_s == 0:
            sbp, dbp = b.sbp_mmhg + rng.gauss(0, 4), b.dbp_mmhg + rng.gauss(0, 3)
            items += [
                _reading(pid, "cuff-1", Kind.BP_SYSTOLIC, sbp, at),
                _reading(pid, "cuff-1", Kind.BP_DIASTOLIC, dbp, at),
                _reading(pid, "cuff-1", Kind.BP_MEAN, dbp + (sbp - dbp) / 3, at),
            ]
        if self.elapsed_s % self.slow_every_s == 0:
            items += [
                _reading(
                    pid, "thermo-1", Kind.BODY_TEMPERATURE, b.temp_c + rng.gauss(0, 0.1), at, 1
                ),
                _reading(pid, "scale-1", Kind.BODY_WEIGHT, b.weight_kg + rng.gauss(0, 0.2), at, 1),
                _reading(pid, "strap-1", Kind.BATTERY_LEVEL, b.battery_pct, at),
            ]
        if self.ecg:
            n = int(self.ecg_fs_hz)
            start = at - timedelta(seconds=1)
            samples = synthetic_ecg_uv(b.hr_bpm, self.ecg_fs_hz, n, float(self.elapsed_s))
            items.append(
                (
                    "chunk",
                    {
                        "patient_id": pid,
                        "device_id": "strap-1",
                        "kind": "ecg",
                        "lead": "I",
                        "unit": "uV",
                        "fs_hz": self.ecg_fs_hz,
                        "start": start.isoformat(),
                        "samples": samples,
                        "flags": ["simulated"],
                    },
                )
            )
        self.elapsed_s += 1
        return items
