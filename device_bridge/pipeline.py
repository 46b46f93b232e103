"""From device bytes to outbox items: capture raw, parse, anchor time, never lose anything.

``BridgePipeline.on_payload`` is what the BLE link (or the simulator) calls for every
notification/indication. It parses the bytes in memory (``device_bridge.gatt.decode``, or the
Polar PMD ECG decoder) and commits once: the parsed readings/chunks, or the bytes with their
receive time and the parser's reason in quarantine (any exception of a parser, a bug included,
quarantines: nothing a device sent is dropped silently).

One commit, not two: until #18 the raw bytes were committed first and replaced by their items in
a second commit. Parsing is pure Python on bytes already in memory, so the first commit only
protected against a process killed in the microseconds of parsing, which loses the notification
either way (it was in memory until then); it cost a second SQLite commit per notification.
``recover()`` still parses raw rows left by older bridges.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from device_bridge import polar
from device_bridge.gatt import MalformedPayload, Measurement, UnsupportedCharacteristic, decode
from device_bridge.outbox import ItemKind, Outbox, RawRecord

log = logging.getLogger(__name__)

#: A device clock further than this from the gateway's is not trusted for live readings.
MAX_LIVE_SKEW = timedelta(minutes=10)
#: Stored records (BP/glucose memory) may be this old and still keep the device's time.
MAX_STORED_AGE = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """A paired device: whose it is and what it is (``profile``: a link ``DeviceKind``)."""

    address: str
    patient_id: str
    device_id: str
    profile: str = "heart_rate_strap"


def anchor_time(device_time: datetime | None, received_at: datetime) -> tuple[datetime, bool]:
    """When the measurement was taken on the gateway clock, and whether that is unsure.

    A device time in the plausible past (up to 90 days, e.g. a BP meter's memory) and not in
    the future beyond 10 min is kept; otherwise the receive time is used and flagged, because a
    device whose clock was never set or reset (a Polar strap restarts in 2019) would misplace the
    reading on the patient's timeline.
    """
    if device_time is None:
        return received_at, False
    if received_at - MAX_STORED_AGE <= device_time <= received_at + MAX_LIVE_SKEW:
        return device_time, False
    return received_at, True


def _reading(binding: DeviceBinding, m: Measurement, received_at: datetime) -> dict[str, Any]:
    measured_at, unsure = anchor_time(m.device_time, received_at)
    flags = list(m.flags) + (["clock_unsure"] if unsure and "clock_unsure" not in m.flags else [])
    return {
        "patient_id": binding.patient_id,
        "device_id": binding.device_id,
        "kind": m.kind.value,
        "value": m.value,
        "unit": m.unit,
        "measured_at": measured_at.isoformat(),
        "device_time": m.device_time.isoformat() if m.device_time else None,
        "received_at": received_at.isoformat(),
        "flags": flags,
    }


@dataclass
class PipelineStats:
    parsed: int = 0
    quarantined: int = 0
    last_reading_at: dict[str, datetime] = field(default_factory=dict)


class BridgePipeline:
    """Turns device payloads into outbox items for the bound patients."""

    def __init__(self, outbox: Outbox, bindings: Mapping[str, DeviceBinding]) -> None:
        self.outbox = outbox
        self.bindings = dict(bindings)
        self.stats = PipelineStats()
        self._ecg_clocks: dict[str, polar.EcgClock] = {}

    def on_payload(
        self, address: str, characteristic: str, payload: bytes, received_at: datetime
    ) -> int:
        """Parse and store one notification in one commit (its items, or its raw bytes in
        quarantine with the reason); return how many items it produced."""
        return self._parse(RawRecord(0, address, characteristic, bytes(payload), received_at))

    def recover(self) -> int:
        """Parse raw rows a crash left behind; return how many items they produced."""
        produced = 0
        while batch := self.outbox.raw_pending():
            for raw in batch:
                produced += self._parse(raw)
        return produced

    def reset_clock(self, address: str) -> None:
        """Forget a device's clock anchor (after a reconnect the strap may have restarted)."""
        self._ecg_clocks.pop(address, None)

    def _parse(self, raw: RawRecord) -> int:
        """Parse a notification (``raw.id`` 0) or a raw row left by an older bridge (``raw.id``
        > 0, which is replaced in the same transaction)."""
        binding = self.bindings.get(raw.device)
        try:
            if binding is None:
                raise UnsupportedCharacteristic(f"device {raw.device} is not paired to a patient")
            items = self._items(binding, raw)
        except Exception as exc:  # a parser bug too: the bytes are kept with the reason
            reason = (
                str(exc)
                if isinstance(exc, MalformedPayload | UnsupportedCharacteristic)
                else (f"parser error {type(exc).__name__}: {exc}")
            )
            log.warning("quarantined %s from %s: %s", raw.characteristic, raw.device, reason)
            if raw.id:
                self.outbox.quarantine_raw(raw.id, reason)
            else:
                self.outbox.quarantine(raw, reason)
            self.stats.quarantined += 1
            return 0
        if raw.id:
            self.outbox.resolve_raw(raw.id, items)
        else:
            self.outbox.append(items)
        self.stats.parsed += 1
        self.stats.last_reading_at[raw.device] = raw.received_at
        return len(items)

    def _items(
        self, binding: DeviceBinding, raw: RawRecord
    ) -> list[tuple[ItemKind, dict[str, Any]]]:
        if raw.characteristic.lower() == polar.PMD_DATA_UUID:
            return [self._ecg_chunk(binding, raw)]
        measurements = decode(raw.characteristic, raw.payload)
        return [("reading", _reading(binding, m, raw.received_at)) for m in measurements]

    def _ecg_chunk(self, binding: DeviceBinding, raw: RawRecord) -> tuple[ItemKind, dict[str, Any]]:
        try:
            frame = polar.decode_ecg_frame(raw.payload)
        except ValueError as exc:
            raise MalformedPayload(f"Polar PMD data: {exc}") from exc
        clock = self._ecg_clocks.setdefault(raw.device, polar.EcgClock())
        anchored_before = clock.offset_ns is not None
        start, reanchored = clock.first_sample_time(frame, raw.received_at)
        # The strap's clock jumped mid-stream (reset or set): samples around it are suspect.
        flags = ["clock_unsure"] if reanchored and anchored_before else []
        return (
            "chunk",
            {
                "patient_id": binding.patient_id,
                "device_id": binding.device_id,
                "kind": "ecg",
                "lead": "I",
                "unit": "uV",
                "fs_hz": float(polar.ECG_SAMPLE_RATE_HZ),
                "start": start.isoformat(),
                "samples": list(frame.samples_uv),
                "flags": flags,
            },
        )
