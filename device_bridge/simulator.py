"""Simulated patients and their devices: spec-exact GATT bytes from plausible physiology.

Each simulated patient wears or uses: a Polar H10 chest strap (Heart Rate 0x2A37 with RR
intervals, and PMD ECG frames at 130 Hz), a continuous pulse oximeter (0x2A5F), a blood-pressure
cuff (0x2A35 with its own timestamp), a thermometer (0x2A1C), a weight scale (0x2A9D) and the
strap's battery (0x2A19). Their bytes come from ``device_bridge.gatt.encode`` and
``device_bridge.polar``, so everything downstream runs exactly as with real devices: the bridge
pipeline parses them, and the parsers' tests cover the encoders.

Faults (``Faults``): garbage frames, a strap whose clock resets (it restarts in 2019), dropouts
(a device goes silent for a while, as after a disconnect), battery drain.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from device_bridge import polar
from device_bridge.gatt import encode
from device_bridge.gatt.uuids import sig_uuid
from device_bridge.pipeline import DeviceBinding

HEART_RATE = sig_uuid(0x2A37)
PLX_CONTINUOUS = sig_uuid(0x2A5F)
BLOOD_PRESSURE = sig_uuid(0x2A35)
TEMPERATURE = sig_uuid(0x2A1C)
WEIGHT = sig_uuid(0x2A9D)
BATTERY = sig_uuid(0x2A19)
ECG_FS_HZ = polar.ECG_SAMPLE_RATE_HZ
ECG_FRAME_SAMPLES = 73  # what an H10 sends per notification at 130 Hz


@dataclass(frozen=True, slots=True)
class Notification:
    """What a BLE link hands upward: device address, characteristic UUID, bytes, receive time."""

    address: str
    characteristic: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class Faults:
    """Probabilities per notification / per second of simulated trouble."""

    garbage_p: float = 0.0
    clock_reset_p: float = 0.0
    dropout_p: float = 0.0
    dropout_s: int = 10


#: Scenarios a simulated patient can play, so that the demo shows alerts and every alert rule
#: can be reproduced end to end. Each starts ``scenario_start_s`` after the simulation starts
#: (default 120 s) and, where it is an episode, repeats every 10 min:
#: ``desaturation`` -- SpO2 ~86 % for 90 s; ``tachycardia`` -- heart rate ~130/min for 120 s;
#: ``af`` -- atrial fibrillation (irregularly irregular RR, ~110/min) for 120 s; ``asystole`` --
#: a flat ECG for 30 s, no pulse; ``ventricular-fibrillation`` -- the strap's ECG fibrillates
#: for 30 s while the strap's heart rate and the oximeter lose the pulse;
#: ``hypertensive-crisis`` -- blood pressure ~188/114 mmHg throughout, confirmed by every
#: repeat; ``weight-gain`` -- the scale syncs two stored days and today +2.6 kg; ``missed-
#: measurement`` -- the cuff never measures; ``device-offline`` -- the oximeter goes silent for
#: good; ``battery-low`` -- the strap's battery starts at 24 % and drains below 20 %.
SCENARIOS = (
    "desaturation", "tachycardia", "af", "asystole", "ventricular-fibrillation",
    "hypertensive-crisis", "weight-gain", "missed-measurement", "device-offline", "battery-low",
)  # fmt: skip
EPISODE_S = {"desaturation": 90, "tachycardia": 120, "af": 120, "asystole": 30,
             "ventricular-fibrillation": 30}  # fmt: skip


def scenario_name(name: str) -> str:
    """``ventricular_fibrillation`` and ``ventricular-fibrillation`` are the same scenario."""
    return name.replace("_", "-")


@dataclass
class Physiology:
    """Personal set points and a mean-reverting random walk around them."""

    hr_bpm: float
    spo2_pct: float
    sbp_mmhg: float
    dbp_mmhg: float
    temp_c: float
    weight_kg: float
    battery_pct: float = 100.0
    home: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = {"hr_bpm": self.hr_bpm, "spo2_pct": self.spo2_pct}

    def step(self, rng: random.Random, dt_s: float) -> None:
        for name, spread in (("hr_bpm", 1.5), ("spo2_pct", 0.4)):
            now = getattr(self, name)
            pulled = now + 0.1 * (self.home[name] - now) + rng.gauss(0, spread) * math.sqrt(dt_s)
            setattr(self, name, pulled)
        self.spo2_pct = min(100.0, self.spo2_pct)
        self.battery_pct = max(0.0, self.battery_pct - 0.002 * dt_s)


def synthetic_ecg_uv(hr_bpm: float, fs_hz: float, n: int, t0_s: float) -> list[int]:
    """``n`` samples in µV of a regular rhythm at ``hr_bpm``, starting ``t0_s`` into it."""
    period_s = 60.0 / hr_bpm
    return synthetic_ecg_beats(hr_bpm, fs_hz, n, (t0_s / period_s) % 1.0)[0]


def synthetic_ecg_beats(
    hr_bpm: float, fs_hz: float, n: int, phase: float
) -> tuple[list[int], float]:
    """P-QRS-T beats in µV as sums of Gaussians (the shape of McSharry et al. 2003, ECGSYN).

    ``phase`` (0-1) is where in the cardiac cycle the first sample falls; the returned phase
    continues the rhythm in the next call, so a changing heart rate never breaks a beat in two
    (which would look like an irregular rhythm to the detectors).
    """
    period_s = 60.0 / hr_bpm
    # (centre s relative to R, width s, amplitude µV) of P, Q, R, S, T
    waves = [(-0.2, 0.025, 120), (-0.05, 0.01, -150), (0.0, 0.012, 1200), (0.04, 0.01, -250)]
    waves.append((0.25, 0.05, 300))
    out = []
    for i in range(n):
        t = ((phase + i / (fs_hz * period_s)) % 1.0) * period_s - period_s / 3
        out.append(int(sum(a * math.exp(-((t - mu) ** 2) / (2 * s * s)) for mu, s, a in waves)))
    return out, (phase + n / (fs_hz * period_s)) % 1.0


@dataclass
class SimulatedPatient:
    """One patient's devices. ``tick(at)`` returns the notifications of one simulated second."""

    patient_id: str
    seed: int
    ecg: bool = True
    bp_every_s: int = 30
    slow_every_s: int = 60
    faults: Faults = field(default_factory=Faults)
    scenario: str | None = None
    scenario_start_s: int | None = None  # default: 180 s for VF, else 120 s
    rng: random.Random = field(init=False)
    body: Physiology = field(init=False)
    elapsed_s: int = 0
    _strap_epoch_ns: int = 0
    _silent_until: int = -1
    _ecg_phase: float = 0.0
    _vf: list[float] = field(default_factory=lambda: [5.0, 400.0, 0.0])  # Hz, µV, phase
    _af_period_s: float = 0.55
    _af_rr_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.rng = random.Random(self.seed)
        self.body = Physiology(
            hr_bpm=r.uniform(58, 95), spo2_pct=r.uniform(93, 99), sbp_mmhg=r.uniform(110, 165),
            dbp_mmhg=r.uniform(65, 100), temp_c=r.uniform(36.3, 37.2), weight_kg=r.uniform(55, 110),
        )  # fmt: skip
        if self.scenario_start_s is None:
            vf = (
                self.scenario is not None
                and scenario_name(self.scenario) == "ventricular-fibrillation"
            )
            self.scenario_start_s = 180 if vf else 120
        if self.scenario is not None:
            self.scenario = scenario_name(self.scenario)
            if self.scenario not in SCENARIOS:
                raise ValueError(f"unknown scenario {self.scenario!r}; one of {SCENARIOS}")
        if self.scenario == "hypertensive-crisis":
            self.body.sbp_mmhg, self.body.dbp_mmhg = 188.0, 114.0
        if self.scenario == "battery-low":
            self.body.battery_pct = 24.0
        # The strap counts ns since 2000-01-01 from when it was last switched on.
        self._strap_epoch_ns = r.randrange(10**15, 10**17)

    def address(self, device: str) -> str:
        return f"SIM-{self.patient_id}-{device}"

    def bindings(self) -> list[DeviceBinding]:
        """How a bridge is paired to this patient's devices."""
        profiles = {"strap": "polar_h10", "oximeter": "pulse_oximeter", "cuff": "bp_cuff",
                    "thermometer": "thermometer", "scale": "weight_scale"}  # fmt: skip
        return [
            DeviceBinding(self.address(d), self.patient_id, f"{d}-1", profile)
            for d, profile in profiles.items()
        ]

    def in_episode(self, scenario: str) -> bool:
        """Whether ``scenario``'s episode is on in the current second."""
        s, start = self.elapsed_s, self.scenario_start_s or 0
        return self.scenario == scenario and s >= start and (s - start) % 600 < EPISODE_S[scenario]

    def tick(self, at: datetime) -> list[Notification]:
        """Advance one second; ``at`` is the gateway time at the end of that second."""
        b, rng, s = self.body, self.rng, self.elapsed_s
        b.step(rng, 1.0)
        if self.scenario == "battery-low":
            b.battery_pct = max(0.0, b.battery_pct - 0.1)
        if self.in_episode("tachycardia"):  # above the 125/min rule, below "extreme" (140 - 5 %)
            b.hr_bpm = 130.0 + rng.gauss(0, 0.5)
        if self._silent_until < s and rng.random() < self.faults.dropout_p:
            self._silent_until = s + self.faults.dropout_s
        out: list[Notification] = []
        arrest = self.in_episode("ventricular-fibrillation") or self.in_episode("asystole")
        if s > self._silent_until:
            out += self._strap(at, arrest)
        spo2 = b.spo2_pct
        if self.in_episode("desaturation"):
            spo2 = 86.0 + rng.gauss(0, 0.5)
        offline = self.scenario == "device-offline" and s >= (self.scenario_start_s or 0)
        if not arrest and not offline:
            out.append(self._note("oximeter", PLX_CONTINUOUS, at,
                                  encode.encode_plx_continuous(round(spo2), round(b.hr_bpm))))  # fmt: skip
        if self.scenario == "weight-gain" and s == self.scenario_start_s:
            out += self._weight_sync(at)
        if s % self.bp_every_s == 0 and self.scenario != "missed-measurement":
            sbp, dbp = round(b.sbp_mmhg + rng.gauss(0, 4)), round(b.dbp_mmhg + rng.gauss(0, 3))
            cuff_clock = at.astimezone(UTC).replace(microsecond=0, tzinfo=None)
            payload = encode.encode_blood_pressure(
                sbp, dbp, round(dbp + (sbp - dbp) / 3), timestamp=cuff_clock.replace(tzinfo=UTC),
                pulse_bpm=round(b.hr_bpm),
            )  # fmt: skip
            out.append(self._note("cuff", BLOOD_PRESSURE, at, payload))
        if s % self.slow_every_s == 0:
            temp = round(b.temp_c + rng.gauss(0, 0.1), 1)
            out.append(self._note("thermometer", TEMPERATURE, at, encode.encode_temperature(temp)))
            weight = round(b.weight_kg + rng.gauss(0, 0.2), 1)
            if self.scenario != "weight-gain" or s > (self.scenario_start_s or 0):
                # (the weight-gain scale first syncs its memory: nothing newer may precede it)
                out.append(self._note("scale", WEIGHT, at, encode.encode_weight(weight)))
            out.append(
                self._note("strap", BATTERY, at, encode.encode_battery_level(int(b.battery_pct)))
            )
        self.elapsed_s += 1
        return [self._maybe_garbage(n) for n in out]

    def _weight_sync(self, at: datetime) -> list[Notification]:
        """The scale syncs its memory: two earlier days, then today's weight 2.6 kg up."""
        base = self.body.weight_kg
        self.body.weight_kg = base + 2.6
        notes = []
        for days, gain in ((2, 0.0), (1, 1.3), (0, 2.6)):
            stamp = (at - timedelta(days=days, minutes=1)).replace(microsecond=0)
            payload = encode.encode_weight(round(base + gain, 1), timestamp=stamp)
            notes.append(self._note("scale", WEIGHT, at, payload))
        return notes

    def _strap(self, at: datetime, arrest: bool = False) -> list[Notification]:
        b, rng = self.body, self.rng
        af = self.in_episode("af")
        samples: list[int] = []
        if self.ecg and arrest:
            samples = (
                self._fibrillation(ECG_FS_HZ)
                if self.scenario != "asystole"
                else self._flat(ECG_FS_HZ)
            )
        elif self.ecg and af:
            samples = self._af_ecg(ECG_FS_HZ)
        elif self.ecg:
            samples, self._ecg_phase = synthetic_ecg_beats(
                b.hr_bpm, ECG_FS_HZ, ECG_FS_HZ, self._ecg_phase
            )
        rr_ms = [60000 / b.hr_bpm + rng.gauss(0, 5 if self.in_episode("tachycardia") else 15)]
        if af:
            if not self.ecg:
                self._af_rr_ms = [rng.uniform(350, 950) for _ in range(2)]
            rr_ms, self._af_rr_ms = self._af_rr_ms or rr_ms, []
        notes = []
        if not arrest:
            hr = 60000 / (sum(rr_ms) / len(rr_ms))
            payload = encode.encode_heart_rate(round(hr), rr_ms=rr_ms, contact=True)
            notes.append(self._note("strap", HEART_RATE, at, payload))
        if not self.ecg:
            return notes
        if rng.random() < self.faults.clock_reset_p:
            self._strap_epoch_ns = rng.randrange(10**15, 10**16)  # switched off and on: 2019-ish
        for k in range(0, len(samples), ECG_FRAME_SAMPLES):
            frame = samples[k : k + ECG_FRAME_SAMPLES]
            self._strap_epoch_ns += int(len(frame) * 1e9 / ECG_FS_HZ)
            # The frame's timestamp is its last sample's; it arrives shortly after.
            arrival = at - timedelta(seconds=(len(samples) - k - len(frame)) / ECG_FS_HZ)
            notes.append(self._note("strap", polar.PMD_DATA_UUID, arrival,
                                    polar.encode_ecg_frame(self._strap_epoch_ns, frame)))  # fmt: skip
        return notes

    def _af_ecg(self, n: int) -> list[int]:
        """``n`` samples of atrial fibrillation: beats at irregularly irregular intervals
        (350-950 ms, no P waves is not modelled), each RR kept for the strap's notification."""
        out: list[int] = []
        while len(out) < n:
            period = self._af_period_s
            to_wrap = max(1, math.ceil((1.0 - self._ecg_phase) * ECG_FS_HZ * period - 1e-9))
            k = min(to_wrap, n - len(out))
            samples, self._ecg_phase = synthetic_ecg_beats(
                60.0 / period, ECG_FS_HZ, k, self._ecg_phase
            )
            out += samples
            if k == to_wrap:  # a beat cycle ended: the next one has its own length
                self._ecg_phase = 0.0
                self._af_rr_ms.append(period * 1000.0)
                self._af_period_s = self.rng.uniform(0.35, 0.95)
        return out

    def _flat(self, n: int) -> list[int]:
        """``n`` samples of asystole: the baseline with a little noise, no beats."""
        return [int(self.rng.gauss(0, 6)) for _ in range(n)]

    def _fibrillation(self, n: int) -> list[int]:
        """``n`` samples (µV) of coarse ventricular fibrillation: a 4-6 Hz wave whose rate and
        amplitude wander, continuing from the previous call."""
        state, rng, out = self._vf, self.rng, []
        for _ in range(n):
            state[0] += 0.02 * (5.0 - state[0]) + rng.gauss(0, 0.05)
            state[1] += 0.01 * (400.0 - state[1]) + rng.gauss(0, 8)
            state[2] += 2 * math.pi * state[0] / ECG_FS_HZ
            out.append(int(state[1] * math.sin(state[2])))
        return out

    def _note(self, device: str, characteristic: str, at: datetime, payload: bytes) -> Notification:
        return Notification(self.address(device), characteristic, payload, at)

    def _maybe_garbage(self, note: Notification) -> Notification:
        if self.rng.random() >= self.faults.garbage_p:
            return note
        junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(0, 4)))
        return Notification(note.address, note.characteristic, junk, note.received_at)
