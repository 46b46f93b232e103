"""Heart Rate Service (0x180D): Heart Rate Measurement 0x2A37 and Body Sensor Location 0x2A38.

Layout of 0x2A37: ``flags u8 | HR u8 or u16 (bpm) | [energy expended u16 kJ] | [RR u16 x n]``.
RR intervals are in 1/1024 s, oldest first; there may be several per notification.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from fractions import Fraction

from device_bridge.gatt.measurement import INVALID, ExtraValue, Measurement
from device_bridge.gatt.reader import Reader
from telemed_core.kinds import Kind

HEART_RATE_MEASUREMENT = 0x2A37
BODY_SENSOR_LOCATION = 0x2A38

HR_UINT16 = 0x01
CONTACT_DETECTED = 0x02  # means nothing unless CONTACT_SUPPORTED is set
CONTACT_SUPPORTED = 0x04
ENERGY_PRESENT = 0x08
RR_PRESENT = 0x10

RR_TICKS_PER_S = 1024
MS_PER_RR_TICK = Fraction(1000, RR_TICKS_PER_S)

BODY_SENSOR_LOCATIONS: dict[int, str] = {
    0: "other",
    1: "chest",
    2: "wrist",
    3: "finger",
    4: "hand",
    5: "ear_lobe",
    6: "foot",
}


def _sensor_contact(flags: int) -> str:
    if not flags & CONTACT_SUPPORTED:
        return "unsupported"
    return "detected" if flags & CONTACT_DETECTED else "not_detected"


def _rr_ticks(reader: Reader) -> list[int]:
    rest = reader.rest()
    if not rest or len(rest) % 2:
        raise reader.fail(f"RR-interval flag set but {len(rest)} bytes follow (need pairs)")
    return [int.from_bytes(rest[i : i + 2], "little") for i in range(0, len(rest), 2)]


def decode_heart_rate_measurement(
    payload: bytes | bytearray, device_tz: tzinfo = UTC
) -> list[Measurement]:
    """Decode 0x2A37 into one HEART_RATE (/min) and one RR_INTERVAL (ms) per RR interval.

    Every measurement carries ``extra["sensor_contact"]`` ("unsupported", "not_detected",
    "detected"); "not_detected" flags them all "invalid" (a strap off the skin sends HR 0).
    The heart rate carries ``extra["energy_expended_kj"]`` when present; each RR interval keeps
    its raw ``extra["rr_ticks"]`` (1/1024 s) so HRV can be computed exactly. The device gives no
    time stamp, so ``device_time`` is None. ``device_tz`` is unused (uniform decoder signature).
    """
    reader = Reader(HEART_RATE_MEASUREMENT, payload)
    flags = reader.u8("flags")
    hr_size = 2 if flags & HR_UINT16 else 1
    reader.require(1 + hr_size + (2 if flags & ENERGY_PRESENT else 0), flags)
    hr_bpm = reader.uint(hr_size, "heart rate")
    contact = _sensor_contact(flags)
    common: dict[str, ExtraValue] = {"sensor_contact": contact}
    marks = [INVALID] if contact == "not_detected" else []
    hr_extra = dict(common)
    if flags & ENERGY_PRESENT:
        hr_extra["energy_expended_kj"] = reader.u16("energy expended")
    found = [Measurement.of(Kind.HEART_RATE, float(hr_bpm), flags=marks, extra=hr_extra)]
    if flags & RR_PRESENT:
        for ticks in _rr_ticks(reader):
            rr_ms = float(ticks * MS_PER_RR_TICK)
            extra = {**common, "rr_ticks": ticks}
            found.append(Measurement.of(Kind.RR_INTERVAL, rr_ms, flags=marks, extra=extra))
    reader.done()
    return found


def decode_body_sensor_location(payload: bytes | bytearray) -> str:
    """Decode 0x2A38 to a location name ("chest", "wrist", ...); reserved codes as "reserved_<n>"."""
    reader = Reader(BODY_SENSOR_LOCATION, payload)
    reader.expect(1)
    code = reader.u8("body sensor location")
    return BODY_SENSOR_LOCATIONS.get(code, f"reserved_{code}")
