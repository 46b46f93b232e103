"""Simulated kiosk devices: spec-exact GATT bytes (device_bridge.gatt.encode, Polar PMD frames)
with plausible values per patient, delivered after a realistic delay. Tests script values
(``script``) and faults (``fail``: the device disconnects mid-measurement)."""

from __future__ import annotations

import asyncio
import random
import zlib
from datetime import UTC

from device_bridge import polar
from device_bridge.gatt import encode
from device_bridge.gatt.uuids import sig_uuid
from device_bridge.simulator import (
    BLOOD_PRESSURE,
    ECG_FRAME_SAMPLES,
    TEMPERATURE,
    WEIGHT,
    synthetic_ecg_beats,
)
from telemed_core.values import utc_now
from telemedpoint_kiosk.devices import KioskDevice, KioskDevices

PLX_SPOT_CHECK = sig_uuid(0x2A5E)
KIOSK_DEVICES = [
    KioskDevice("SIM-KIOSK-cuff", "bp_cuff", "kiosk-cuff-1"),
    KioskDevice("SIM-KIOSK-oximeter", "pulse_oximeter", "kiosk-oximeter-1"),
    KioskDevice("SIM-KIOSK-strap", "polar_h10", "kiosk-ecg-1"),
    KioskDevice("SIM-KIOSK-scale", "weight_scale", "kiosk-scale-1"),
    KioskDevice("SIM-KIOSK-thermometer", "thermometer", "kiosk-thermometer-1"),
]


class SimulatedDevices:
    """A DeviceSource: the kiosk's devices, simulated."""

    def __init__(
        self, sink: KioskDevices, *, measure_wall_s: float = 1.5, strip_wall_s: float = 30.0
    ) -> None:
        self.sink = sink
        self.measure_wall_s = measure_wall_s
        self.strip_wall_s = strip_wall_s
        self.scripted: dict[str, list[dict[str, float]]] = {}
        self.faults: dict[str, str] = {}
        self._rng = random.Random(17)
        self._tasks: set[asyncio.Task[None]] = set()

    def script(self, profile: str, *values: dict[str, float]) -> None:
        """The next measurements of ``profile`` give these values (e.g. {"spo2": 140})."""
        self.scripted.setdefault(profile, []).extend(values)

    def fail(self, profile: str) -> None:
        """The next request to ``profile`` ends with the device disconnecting."""
        self.faults[profile] = "disconnect"

    async def request(self, device: KioskDevice, what: str, seconds: float = 0.0) -> None:
        job = self._ecg(device, seconds) if what == "ecg" else self._measure(device)
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _measure(self, device: KioskDevice) -> None:
        await asyncio.sleep(self.measure_wall_s)
        if self.faults.pop(device.profile, None):
            self.sink.on_disconnect(device.address)
            return
        patient = self.sink.pipeline.bindings.get(device.address)
        values = self._values(device.profile, patient.patient_id if patient else "")
        characteristic, payload = _encode(device.profile, values)
        self.sink.on_payload(device.address, characteristic, payload, utc_now())

    def _values(self, profile: str, patient_id: str) -> dict[str, float]:
        queued = self.scripted.get(profile)
        if queued:
            return queued.pop(0)
        r = random.Random(zlib.crc32(patient_id.encode()))
        base = {
            "bp_systolic": r.uniform(118, 150), "bp_diastolic": r.uniform(72, 92),
            "pulse_rate": r.uniform(60, 88), "spo2": r.uniform(95, 99),
            "body_temperature": r.uniform(36.3, 36.9), "body_weight": r.uniform(55, 100),
        }  # fmt: skip
        return {k: v + self._rng.gauss(0, 0.01 * v) for k, v in base.items()}

    async def _ecg(self, device: KioskDevice, seconds: float) -> None:
        fs = polar.ECG_SAMPLE_RATE_HZ
        patient = self.sink.pipeline.bindings.get(device.address)
        samples = _strip_uv(patient.patient_id if patient else "", round(seconds * fs), fs)
        frames = [
            samples[k : k + ECG_FRAME_SAMPLES] for k in range(0, len(samples), ECG_FRAME_SAMPLES)
        ]
        fail_at = len(frames) // 3 if self.faults.pop(device.profile, None) else None
        clock_ns, pause = 10**15, self.strip_wall_s / max(len(frames), 1)
        for i, frame in enumerate(frames):
            if i == fail_at:
                self.sink.on_disconnect(device.address)
                return
            clock_ns += int(len(frame) * 1e9 / fs)
            payload = polar.encode_ecg_frame(clock_ns, frame)
            self.sink.on_payload(device.address, polar.PMD_DATA_UUID, payload, utc_now())
            await asyncio.sleep(pause)


def _strip_uv(patient_id: str, n: int, fs: int) -> list[int]:
    """A sinus rhythm with heart-rate variability (a mean-reverting walk every 0.5 s) and 8 µV
    of noise: a perfectly regular synthetic rhythm is not what a heart does, and the strip
    classifier rightly does not call it normal."""
    rng = random.Random(zlib.crc32(patient_id.encode()))
    rest = rng.uniform(60, 78)
    hr, phase = rest, 0.0
    out: list[int] = []
    while len(out) < n:
        hr += 0.3 * (rest - hr) + rng.gauss(0, 3)
        part, phase = synthetic_ecg_beats(hr, fs, fs // 2, phase)
        out += [v + round(rng.gauss(0, 8)) for v in part]
    return out[:n]


def _encode(profile: str, v: dict[str, float]) -> tuple[str, bytes]:
    if profile == "bp_cuff":
        sbp, dbp = round(v["bp_systolic"]), round(v["bp_diastolic"])
        stamp = utc_now().replace(microsecond=0).astimezone(UTC)
        payload = encode.encode_blood_pressure(
            sbp, dbp, round(dbp + (sbp - dbp) / 3), timestamp=stamp,
            pulse_bpm=round(v.get("pulse_rate", 70)),
        )  # fmt: skip
        return BLOOD_PRESSURE, payload
    if profile == "pulse_oximeter":
        return PLX_SPOT_CHECK, encode.encode_plx_spot_check(
            round(v["spo2"]), round(v.get("pulse_rate", 70))
        )
    if profile == "thermometer":
        return TEMPERATURE, encode.encode_temperature(round(v["body_temperature"], 1))
    if profile == "weight_scale":
        return WEIGHT, encode.encode_weight(round(v["body_weight"], 1))
    raise ValueError(f"no simulated {profile}")
