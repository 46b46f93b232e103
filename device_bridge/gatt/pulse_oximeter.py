"""Pulse Oximeter Service (0x1822): spot-check 0x2A5E, continuous 0x2A5F, features 0x2A60.

Spot-check: ``flags | SpO2 SFLOAT % | PR SFLOAT bpm | [timestamp 7] | [measurement status u16] |
[device & sensor status u24] | [pulse amplitude index SFLOAT %]``.
Continuous: ``flags | SpO2PR-Normal | [SpO2PR-Fast] | [SpO2PR-Slow] | [measurement status] |
[device & sensor status] | [PAI]``, each SpO2PR being two SFLOATs (SpO2 %, PR bpm).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

from device_bridge.gatt.bits import bit_names
from device_bridge.gatt.measurement import INVALID, ExtraValue, Measurement, from_number
from device_bridge.gatt.measurement import number_value as _value
from device_bridge.gatt.reader import Reader
from telemed_core.kinds import Kind

PLX_SPOT_CHECK = 0x2A5E
PLX_CONTINUOUS = 0x2A5F
PLX_FEATURES = 0x2A60

# Spot-check flags
SPOT_TIMESTAMP = 0x01
SPOT_MEASUREMENT_STATUS = 0x02
SPOT_DEVICE_STATUS = 0x04
SPOT_PAI = 0x08
SPOT_CLOCK_NOT_SET = 0x10
# Continuous flags
CONT_FAST = 0x01
CONT_SLOW = 0x02
CONT_MEASUREMENT_STATUS = 0x04
CONT_DEVICE_STATUS = 0x08
CONT_PAI = 0x10

MEASUREMENT_STATUS_BITS: dict[int, str] = {
    5: "measurement_ongoing",
    6: "early_estimate",
    7: "validated",
    8: "fully_qualified",
    9: "from_storage",
    10: "demonstration_data",
    11: "testing_data",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
DEVICE_STATUS_BITS: dict[int, str] = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "non_pulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interface_detected",
    11: "sensor_unconnected_to_user",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}
FEATURE_BITS: dict[int, str] = {
    0: "measurement_status_support",
    1: "device_status_support",
    2: "spot_check_storage",
    3: "spot_check_timestamp",
    4: "spo2pr_fast",
    5: "spo2pr_slow",
    6: "pulse_amplitude_index",
    7: "multiple_bonds",
}

# Status that makes the value unusable as a vital. Unavailable/questionable/invalid and the
# device-side failures follow the reference's rule; demonstration and testing data are not the
# patient's; a malfunctioning sensor (D&S b14) is as unusable as a malfunctioning device (b1).
_INVALID_MEASUREMENT_BITS = 1 << 10 | 1 << 11 | 1 << 13 | 1 << 14 | 1 << 15
_INVALID_DEVICE_BITS = 1 << 1 | 1 << 11 | 1 << 14 | 1 << 15
_EARLY_ESTIMATE = 1 << 6


@dataclass(frozen=True, slots=True)
class _Status:
    measurement: int | None
    device: int | None

    def flags(self) -> list[str]:
        measurement, device = self.measurement or 0, self.device or 0
        found = [INVALID] if measurement & _INVALID_MEASUREMENT_BITS else []
        found += [INVALID] if device & _INVALID_DEVICE_BITS else []
        return found + (["early"] if measurement & _EARLY_ESTIMATE else [])

    def extra(self) -> dict[str, ExtraValue]:
        found: dict[str, ExtraValue] = {}
        if self.measurement is not None:
            found["measurement_status"] = bit_names(self.measurement, MEASUREMENT_STATUS_BITS)
        if self.device is not None:
            found["device_sensor_status"] = bit_names(self.device, DEVICE_STATUS_BITS)
        return found


def _read_status(reader: Reader, measurement: bool, device: bool) -> _Status:
    ms = reader.u16("measurement status") if measurement else None
    dss = reader.uint(3, "device and sensor status") if device else None
    return _Status(ms, dss)


def decode_spot_check(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A5E into SPO2 (%) and PULSE_RATE (/min).

    ``device_time`` is the record's timestamp; when the device says its clock is not set
    (flags b4) it is None and the untrusted reading goes to ``extra["unset_clock_time"]``.
    ``extra`` may hold ``measurement_status`` / ``device_sensor_status`` (bit names) and
    ``pai_pct`` (pulse amplitude index, %; None for a special value).
    """
    reader = Reader(PLX_SPOT_CHECK, payload)
    flags = reader.u8("flags")
    needed = 5 + 7 * bool(flags & SPOT_TIMESTAMP) + 2 * bool(flags & SPOT_MEASUREMENT_STATUS)
    needed += 3 * bool(flags & SPOT_DEVICE_STATUS) + 2 * bool(flags & SPOT_PAI)
    reader.expect(needed, flags)
    spo2, pulse = reader.sfloat("SpO2"), reader.sfloat("pulse rate")
    stamp = reader.date_time("timestamp", device_tz) if flags & SPOT_TIMESTAMP else None
    status = _read_status(
        reader, bool(flags & SPOT_MEASUREMENT_STATUS), bool(flags & SPOT_DEVICE_STATUS)
    )
    extra = status.extra()
    if flags & SPOT_PAI:
        extra["pai_pct"] = _value(reader.sfloat("pulse amplitude index"))
    if flags & SPOT_CLOCK_NOT_SET:
        extra["device_clock_not_set"] = True
        extra["unset_clock_time"] = None if stamp is None else stamp.isoformat()
        stamp = None
    marks = status.flags()
    return [
        from_number(Kind.SPO2, spo2, device_time=stamp, flags=marks, extra=extra),
        from_number(Kind.PULSE_RATE, pulse, device_time=stamp, flags=marks, extra=extra),
    ]


def decode_continuous(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A5F into SPO2 (%) and PULSE_RATE (/min) from the SpO2PR-Normal pair.

    The optional Fast and Slow averages are alternative views of the same signal, so they go to
    ``extra`` (``spo2_fast_pct``, ``pulse_fast_bpm``, ``spo2_slow_pct``, ``pulse_slow_bpm``)
    instead of becoming extra vitals. Other ``extra`` keys as for :func:`decode_spot_check`.
    No timestamp on the wire: ``device_time`` is None.
    """
    reader = Reader(PLX_CONTINUOUS, payload)
    flags = reader.u8("flags")
    needed = 5 + 4 * bool(flags & CONT_FAST) + 4 * bool(flags & CONT_SLOW)
    needed += 2 * bool(flags & CONT_MEASUREMENT_STATUS) + 3 * bool(flags & CONT_DEVICE_STATUS)
    reader.expect(needed + 2 * bool(flags & CONT_PAI), flags)
    spo2, pulse = reader.sfloat("SpO2"), reader.sfloat("pulse rate")
    averages: dict[str, ExtraValue] = {}
    for name, bit in (("fast", CONT_FAST), ("slow", CONT_SLOW)):
        if flags & bit:
            averages[f"spo2_{name}_pct"] = _value(reader.sfloat(f"SpO2 {name}"))
            averages[f"pulse_{name}_bpm"] = _value(reader.sfloat(f"pulse rate {name}"))
    status = _read_status(
        reader, bool(flags & CONT_MEASUREMENT_STATUS), bool(flags & CONT_DEVICE_STATUS)
    )
    extra = {**averages, **status.extra()}
    if flags & CONT_PAI:
        extra["pai_pct"] = _value(reader.sfloat("pulse amplitude index"))
    marks = status.flags()
    return [
        from_number(Kind.SPO2, spo2, flags=marks, extra=extra),
        from_number(Kind.PULSE_RATE, pulse, flags=marks, extra=extra),
    ]


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features (0x2A60): what the oximeter supports, as bit names."""

    supported: tuple[str, ...]
    measurement_status_support: tuple[str, ...] | None
    device_status_support: tuple[str, ...] | None


def decode_plx_features(payload: bytes | bytearray) -> PlxFeatures:
    """Decode 0x2A60: ``supported u16 | [MS support u16 if b0] | [D&S support u24 if b1]``."""
    reader = Reader(PLX_FEATURES, payload)
    reader.require(2)
    supported = reader.u16("supported features")
    reader.expect(2 + 2 * (supported & 1) + 3 * (supported >> 1 & 1))
    ms = reader.u16("measurement status support") if supported & 1 else None
    dss = reader.uint(3, "device and sensor status support") if supported & 2 else None
    return PlxFeatures(
        supported=bit_names(supported, FEATURE_BITS),
        measurement_status_support=None if ms is None else bit_names(ms, MEASUREMENT_STATUS_BITS),
        device_status_support=None if dss is None else bit_names(dss, DEVICE_STATUS_BITS),
    )
