"""The kiosk's devices over device_bridge: a measurement is asked for, the device's bytes go
through the bridge pipeline (raw capture first, then parse, into the durable outbox) for the
patient of the visit, and the screen gets exactly the readings that were stored.

Sources of bytes are ports: simulated devices (``simulated.py``) or BLE sessions (``ble.py``).
A device that disconnects or stays silent fails the measurement with a message; what other
steps measured is untouched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from device_bridge import polar
from device_bridge.gatt import MalformedPayload
from device_bridge.outbox import ItemKind, Outbox, RawRecord
from device_bridge.pipeline import BridgePipeline, DeviceBinding
from telemedpoint_kiosk.protocols import STEPS

Items = list[tuple[ItemKind, dict[str, Any]]]
_LIMITS = {f.name: (f.low, f.high) for s in STEPS.values() for f in s.fields}


class DeviceProblem(Exception):
    """A measurement failed: the device disconnected, stayed silent, or is not installed."""

    def __init__(self, code: str, message: str, partial: list[int] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.partial = code, message, partial or []


@dataclass(frozen=True)
class KioskDevice:
    """A device installed at the kiosk (its profile: a device_bridge DeviceKind value)."""

    address: str
    profile: str
    device_id: str


class DeviceSource(Protocol):
    """Where bytes come from. ``request`` asks a device to measure (a simulator produces; a real
    device measures when the nurse starts it, so BLE sources only listen)."""

    async def request(self, device: KioskDevice, what: str, seconds: float = 0.0) -> None: ...


def review(items: Items) -> Items:
    """Flag a device value the kiosk finds impossible ``invalid``: stored, never charted."""
    out: Items = []
    for kind, payload in items:
        limits = _LIMITS.get(str(payload.get("kind")))
        value = payload.get("value")
        if kind == "reading" and limits and value is not None:
            if not limits[0] <= value <= limits[1] and "invalid" not in payload["flags"]:
                payload = {**payload, "flags": [*payload["flags"], "invalid"]}
        out.append((kind, payload))
    return out


class CapturePipeline(BridgePipeline):
    """The bridge pipeline, keeping the items each payload stored so the screen shows them."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox, {})
        self.captured: Items = []

    def _items(self, binding: DeviceBinding, raw: RawRecord) -> Items:
        items = review(super()._items(binding, raw))
        self.captured.extend(items)
        return items


@dataclass
class EcgRecording:
    samples_uv: list[int]
    fs_hz: float
    started_at: datetime


@dataclass
class _EcgWait:
    needed: int
    started_at: datetime | None = None
    samples: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class KioskDevices:
    """The kiosk's device station: one measurement at a time per device."""

    def __init__(self, outbox: Outbox, devices: list[KioskDevice]) -> None:
        self.pipeline = CapturePipeline(outbox)
        self.devices = {d.profile: d for d in devices}
        self.source: DeviceSource | None = None
        self._waiters: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self._ecg: dict[str, _EcgWait] = {}

    def device(self, profile: str) -> KioskDevice:
        found = self.devices.get(profile)
        if found is None or self.source is None:
            raise DeviceProblem("absent", f"no {profile} is installed at this kiosk")
        return found

    # -- the sink: what sources call -------------------------------------------------------

    def on_payload(
        self, address: str, characteristic: str, payload: bytes, received_at: datetime
    ) -> None:
        ecg = self._ecg.get(address)
        if ecg is not None and characteristic.lower() == polar.PMD_DATA_UUID:
            self._ecg_frame(ecg, payload, received_at)
            return
        self.pipeline.captured = []
        # Unrequested bytes have no patient bound: the pipeline quarantines them (kept, shown).
        self.pipeline.on_payload(address, characteristic, payload, received_at)
        readings = [p for kind, p in self.pipeline.captured if kind == "reading"]
        waiter = self._waiters.get(address)
        if readings and waiter is not None and not waiter.done():
            waiter.set_result(readings)

    def on_disconnect(self, address: str) -> None:
        waiter = self._waiters.get(address)
        if waiter is not None and not waiter.done():
            waiter.set_exception(DeviceProblem("disconnected", "the device disconnected"))
        ecg = self._ecg.get(address)
        if ecg is not None:
            ecg.done.set()

    # -- what the visit asks for -----------------------------------------------------------

    async def measure(
        self, profile: str, patient_id: str, timeout_s: float
    ) -> list[dict[str, Any]]:
        """Wait for the device's next measurement, stored for ``patient_id``; its readings."""
        device = self.device(profile)
        binding = DeviceBinding(device.address, patient_id, device.device_id, profile)
        self.pipeline.bindings[device.address] = binding
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[device.address] = waiter
        try:
            assert self.source is not None
            await self.source.request(device, "measure")
            async with asyncio.timeout(timeout_s):
                readings: list[dict[str, Any]] = await waiter
                return readings
        except TimeoutError:
            raise DeviceProblem("timeout", f"no measurement within {timeout_s:g} s") from None
        finally:
            self._waiters.pop(device.address, None)
            self.pipeline.bindings.pop(device.address, None)

    async def record_ecg(self, seconds: float, timeout_s: float) -> EcgRecording:
        """Record ``seconds`` of single-lead ECG from the strap (the whole strip, or a
        DeviceProblem carrying what arrived before the strap dropped)."""
        device = self.device("polar_h10")
        wait = _EcgWait(needed=round(seconds * polar.ECG_SAMPLE_RATE_HZ))
        self._ecg[device.address] = wait
        try:
            assert self.source is not None
            await self.source.request(device, "ecg", seconds)
            async with asyncio.timeout(timeout_s + seconds):
                await wait.done.wait()
        except TimeoutError:
            raise DeviceProblem("timeout", "the ECG strap stopped sending", wait.samples) from None
        finally:
            self._ecg.pop(device.address, None)
        if len(wait.samples) < wait.needed or wait.started_at is None:
            raise DeviceProblem("disconnected", "the ECG strap disconnected", wait.samples)
        return EcgRecording(wait.samples[: wait.needed], polar.ECG_SAMPLE_RATE_HZ, wait.started_at)

    def ecg_progress(self) -> float | None:
        """Share of the strip recorded so far (None when no recording runs)."""
        for wait in self._ecg.values():
            return min(1.0, len(wait.samples) / wait.needed)
        return None

    def _ecg_frame(self, wait: _EcgWait, payload: bytes, received_at: datetime) -> None:
        try:
            frame = polar.decode_ecg_frame(payload)
        except (ValueError, MalformedPayload):
            return  # a damaged frame: the strip is checked for quality as a whole
        if wait.started_at is None:
            span = len(frame.samples_uv) / polar.ECG_SAMPLE_RATE_HZ
            wait.started_at = received_at - timedelta(seconds=span)
        wait.samples.extend(frame.samples_uv)
        if len(wait.samples) >= wait.needed:
            wait.done.set()
