"""Encoders: the inverse of the decoders, building spec-exact payloads from values.

For a device simulator and for round-trip tests. Values are given in the unit that goes on the
wire (chosen by ``unit=``), because choosing the wire unit is part of what a device does; the
decoders convert to the kernel's units. SFLOAT/FLOAT arguments accept a float (NaN and
infinities become the specials, the exponent is chosen to send the value as exactly as
possible), a :class:`Special`, or an exact :class:`Number` (mantissa, exponent). Timestamps must
be timezone-aware; they are written as the wall clock of ``device_tz``. Out-of-range inputs
raise ValueError.

The primitives, glucose context and RACP encoders live next to their decoders and are
re-exported here: :func:`encode_sfloat`, :func:`encode_float`, :func:`encode_date_time`,
:func:`encode_current_time`, :func:`encode_glucose_context`, ``encode_racp_*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from device_bridge.gatt import blood_pressure as bp
from device_bridge.gatt import heart_rate as hr
from device_bridge.gatt import pulse_oximeter as plx
from device_bridge.gatt import thermometer as ht
from device_bridge.gatt import weight as ws
from device_bridge.gatt.bits import bits_from, code_of
from device_bridge.gatt.glucose_encode import encode_glucose, encode_glucose_context
from device_bridge.gatt.racp import (
    encode_racp_abort,
    encode_racp_count_all,
    encode_racp_count_from,
    encode_racp_record_count,
    encode_racp_report_all,
    encode_racp_report_from,
    encode_racp_report_range,
    encode_racp_response,
    encode_racp_sync_request,
)
from device_bridge.gatt.sfloat import NumberLike, encode_float, encode_sfloat
from device_bridge.gatt.times import encode_current_time, encode_date_time

__all__ = [
    "encode_battery_level",
    "encode_blood_pressure",
    "encode_body_sensor_location",
    "encode_current_time",
    "encode_date_time",
    "encode_float",
    "encode_glucose",
    "encode_glucose_context",
    "encode_heart_rate",
    "encode_intermediate_cuff_pressure",
    "encode_intermediate_temperature",
    "encode_plx_continuous",
    "encode_plx_spot_check",
    "encode_racp_abort",
    "encode_racp_count_all",
    "encode_racp_count_from",
    "encode_racp_record_count",
    "encode_racp_report_all",
    "encode_racp_report_from",
    "encode_racp_report_range",
    "encode_racp_response",
    "encode_racp_sync_request",
    "encode_sfloat",
    "encode_temperature",
    "encode_temperature_type",
    "encode_weight",
]

StatusBits = int | Iterable[str]


def _uint(value: int, size: int, what: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{what} {value} does not fit {size} unsigned byte(s)")
    return value.to_bytes(size, "little")


def _ticks(value: float, per_tick: Fraction) -> int:
    """``value`` counted in ticks of ``per_tick`` (its unit per wire LSB), rounded half to even."""
    return round(Fraction(Decimal(repr(float(value)))) / per_tick)


# --- Heart Rate ------------------------------------------------------------------------------


def encode_heart_rate(
    hr_bpm: int,
    *,
    rr_ms: Sequence[float] = (),
    energy_kj: int | None = None,
    contact: bool | None = None,
    wide: bool = False,
) -> bytes:
    """Heart Rate Measurement (0x2A37): HR in bpm, RR intervals in ms (sent in 1/1024 s).

    ``contact``: None = sensor contact not supported, True = detected, False = not detected.
    ``wide`` forces the u16 HR format (chosen anyway above 255 bpm). ``energy_kj`` is u16 kJ.
    """
    wide = wide or hr_bpm > 0xFF
    flags = hr.HR_UINT16 if wide else 0
    if contact is not None:
        flags |= hr.CONTACT_SUPPORTED | (hr.CONTACT_DETECTED if contact else 0)
    body = _uint(hr_bpm, 2 if wide else 1, "heart rate")
    if energy_kj is not None:
        flags |= hr.ENERGY_PRESENT
        body += _uint(energy_kj, 2, "energy expended")
    if rr_ms:
        flags |= hr.RR_PRESENT
        body += b"".join(_uint(_ticks(ms, hr.MS_PER_RR_TICK), 2, "RR interval") for ms in rr_ms)
    return bytes([flags]) + body


def encode_body_sensor_location(location: str | int) -> bytes:
    """Body Sensor Location (0x2A38) from a name ("chest", ...) or a code."""
    return _uint(code_of(location, hr.BODY_SENSOR_LOCATIONS, "body sensor location"), 1, "location")


# --- Pulse oximeter --------------------------------------------------------------------------


def _plx_status(measurement: StatusBits | None, device: StatusBits | None) -> bytes:
    body = b""
    if measurement is not None:
        body += _uint(bits_from(measurement, plx.MEASUREMENT_STATUS_BITS), 2, "measurement status")
    if device is not None:
        body += _uint(bits_from(device, plx.DEVICE_STATUS_BITS), 3, "device and sensor status")
    return body


def encode_plx_spot_check(
    spo2_pct: NumberLike,
    pulse_bpm: NumberLike,
    *,
    timestamp: datetime | None = None,
    measurement_status: StatusBits | None = None,
    device_status: StatusBits | None = None,
    pai_pct: NumberLike | None = None,
    clock_not_set: bool = False,
    device_tz: tzinfo = UTC,
) -> bytes:
    """PLX Spot-Check Measurement (0x2A5E): SpO2 in %, pulse rate in bpm, PAI in %.

    Status words take bit names (see ``pulse_oximeter.*_STATUS_BITS``) or raw ints.
    """
    flags = plx.SPOT_CLOCK_NOT_SET if clock_not_set else 0
    body = encode_sfloat(spo2_pct) + encode_sfloat(pulse_bpm)
    if timestamp is not None:
        flags |= plx.SPOT_TIMESTAMP
        body += encode_date_time(timestamp, device_tz=device_tz)
    flags |= plx.SPOT_MEASUREMENT_STATUS if measurement_status is not None else 0
    flags |= plx.SPOT_DEVICE_STATUS if device_status is not None else 0
    body += _plx_status(measurement_status, device_status)
    if pai_pct is not None:
        flags |= plx.SPOT_PAI
        body += encode_sfloat(pai_pct)
    return bytes([flags]) + body


def encode_plx_continuous(
    spo2_pct: NumberLike,
    pulse_bpm: NumberLike,
    *,
    fast: tuple[NumberLike, NumberLike] | None = None,
    slow: tuple[NumberLike, NumberLike] | None = None,
    measurement_status: StatusBits | None = None,
    device_status: StatusBits | None = None,
    pai_pct: NumberLike | None = None,
) -> bytes:
    """PLX Continuous Measurement (0x2A5F); ``fast``/``slow`` are (SpO2 %, pulse bpm) pairs."""
    flags = 0
    body = encode_sfloat(spo2_pct) + encode_sfloat(pulse_bpm)
    for pair, bit in ((fast, plx.CONT_FAST), (slow, plx.CONT_SLOW)):
        if pair is not None:
            flags |= bit
            body += encode_sfloat(pair[0]) + encode_sfloat(pair[1])
    flags |= plx.CONT_MEASUREMENT_STATUS if measurement_status is not None else 0
    flags |= plx.CONT_DEVICE_STATUS if device_status is not None else 0
    body += _plx_status(measurement_status, device_status)
    if pai_pct is not None:
        flags |= plx.CONT_PAI
        body += encode_sfloat(pai_pct)
    return bytes([flags]) + body


# --- Blood pressure --------------------------------------------------------------------------


def _bp_status(status: StatusBits, pulse_rate_range: str) -> int:
    bits = bits_from(status, bp.STATUS_BITS)
    return bits | bp.PULSE_RATE_RANGES.index(pulse_rate_range) << bp.PULSE_RANGE_SHIFT


def _bp_frame(
    pressures: tuple[NumberLike, NumberLike, NumberLike],
    unit: Literal["mmHg", "kPa"],
    timestamp: datetime | None,
    pulse_bpm: NumberLike | None,
    user_id: int | None,
    status: StatusBits | None,
    pulse_rate_range: str,
    device_tz: tzinfo,
) -> bytes:
    flags = bp.UNIT_KPA if unit == "kPa" else 0
    body = b"".join(encode_sfloat(p) for p in pressures)
    if timestamp is not None:
        flags |= bp.TIMESTAMP_PRESENT
        body += encode_date_time(timestamp, device_tz=device_tz)
    if pulse_bpm is not None:
        flags |= bp.PULSE_RATE_PRESENT
        body += encode_sfloat(pulse_bpm)
    if user_id is not None:
        flags |= bp.USER_ID_PRESENT
        body += _uint(user_id, 1, "user id")
    if status is not None:
        flags |= bp.STATUS_PRESENT
        body += _uint(_bp_status(status, pulse_rate_range), 2, "measurement status")
    return bytes([flags]) + body


def encode_blood_pressure(
    systolic: NumberLike,
    diastolic: NumberLike,
    mean: NumberLike,
    *,
    unit: Literal["mmHg", "kPa"] = "mmHg",
    timestamp: datetime | None = None,
    pulse_bpm: NumberLike | None = None,
    user_id: int | None = None,
    status: StatusBits | None = None,
    pulse_rate_range: str = "in_range",
    device_tz: tzinfo = UTC,
) -> bytes:
    """Blood Pressure Measurement (0x2A35): pressures in ``unit``, pulse rate in bpm.

    ``status`` takes names from ``blood_pressure.STATUS_BITS`` or a raw u16; the pulse-rate
    range (one of ``blood_pressure.PULSE_RATE_RANGES``) is only sent with a status.
    ``user_id`` 0xFF means "unknown user".
    """
    return _bp_frame(
        (systolic, diastolic, mean),
        unit,
        timestamp,
        pulse_bpm,
        user_id,
        status,
        pulse_rate_range,
        device_tz,
    )


def encode_intermediate_cuff_pressure(
    cuff: NumberLike,
    *,
    unit: Literal["mmHg", "kPa"] = "mmHg",
    timestamp: datetime | None = None,
    pulse_bpm: NumberLike | None = None,
    user_id: int | None = None,
    status: StatusBits | None = None,
    pulse_rate_range: str = "in_range",
    device_tz: tzinfo = UTC,
) -> bytes:
    """Intermediate Cuff Pressure (0x2A36): the cuff pressure in ``unit``; the unused diastolic
    and MAP fields are sent as NaN, as the SIG XML describes. The optional fields are those of
    :func:`encode_blood_pressure`."""
    nan = float("nan")
    return _bp_frame(
        (cuff, nan, nan),
        unit,
        timestamp,
        pulse_bpm,
        user_id,
        status,
        pulse_rate_range,
        device_tz,
    )


# --- Thermometer -----------------------------------------------------------------------------


def encode_temperature(
    temperature: NumberLike,
    *,
    unit: Literal["Cel", "degF"] = "Cel",
    timestamp: datetime | None = None,
    temperature_type: str | int | None = None,
    device_tz: tzinfo = UTC,
) -> bytes:
    """Temperature Measurement (0x2A1C): temperature in ``unit`` as a 32-bit FLOAT;
    ``temperature_type`` is a site name from ``thermometer.TEMPERATURE_TYPES`` or a code."""
    flags = ht.FAHRENHEIT if unit == "degF" else 0
    body = encode_float(temperature)
    if timestamp is not None:
        flags |= ht.TIMESTAMP_PRESENT
        body += encode_date_time(timestamp, device_tz=device_tz)
    if temperature_type is not None:
        flags |= ht.TYPE_PRESENT
        body += encode_temperature_type(temperature_type)
    return bytes([flags]) + body


def encode_intermediate_temperature(
    temperature: NumberLike,
    *,
    unit: Literal["Cel", "degF"] = "Cel",
    timestamp: datetime | None = None,
    temperature_type: str | int | None = None,
    device_tz: tzinfo = UTC,
) -> bytes:
    """Intermediate Temperature (0x2A1E): same layout as :func:`encode_temperature`."""
    return encode_temperature(
        temperature,
        unit=unit,
        timestamp=timestamp,
        temperature_type=temperature_type,
        device_tz=device_tz,
    )


def encode_temperature_type(site: str | int) -> bytes:
    """Temperature Type (0x2A1D) from a site name ("ear", ...) or a code."""
    return _uint(code_of(site, ht.TEMPERATURE_TYPES, "temperature type"), 1, "temperature type")


# --- Weight scale ----------------------------------------------------------------------------


def encode_weight(
    weight: float | None,
    *,
    unit: Literal["kg", "lb"] = "kg",
    timestamp: datetime | None = None,
    user_id: int | None = None,
    bmi_kg_m2: float | None = None,
    height: float | None = None,
    device_tz: tzinfo = UTC,
) -> bytes:
    """Weight Measurement (0x2A9D): weight in kg (0.005 kg steps) or lb (0.01 lb steps).

    ``height`` is in m for "kg" (0.001 m steps) and in inches for "lb" (0.1 in steps); BMI and
    height go together. ``weight=None`` sends 0xFFFF, "measurement unsuccessful".
    """
    imperial = unit == "lb"
    flags = ws.IMPERIAL if imperial else 0
    per_tick = ws.LB_PER_UNIT_IMPERIAL if imperial else ws.KG_PER_UNIT_SI
    raw = ws.UNSUCCESSFUL if weight is None else _ticks(weight, per_tick)
    if raw == ws.UNSUCCESSFUL and weight is not None:
        raise ValueError(f"weight {weight} {unit} collides with the 'unsuccessful' marker")
    body = _uint(raw, 2, "weight")
    if timestamp is not None:
        flags |= ws.TIMESTAMP_PRESENT
        body += encode_date_time(timestamp, device_tz=device_tz)
    if user_id is not None:
        flags |= ws.USER_ID_PRESENT
        body += _uint(user_id, 1, "user id")
    if (bmi_kg_m2 is None) != (height is None):
        raise ValueError("BMI and height are sent together: give both or neither")
    if bmi_kg_m2 is not None and height is not None:
        flags |= ws.BMI_HEIGHT_PRESENT
        height_tick = ws.IN_PER_UNIT_IMPERIAL if imperial else ws.M_PER_UNIT_SI
        body += _uint(_ticks(bmi_kg_m2, ws.BMI_PER_UNIT), 2, "BMI")
        body += _uint(_ticks(height, height_tick), 2, "height")
    return bytes([flags]) + body


# --- Battery ---------------------------------------------------------------------------------


def encode_battery_level(level_pct: int) -> bytes:
    """Battery Level (0x2A19): u8 percent, 0-100."""
    if not 0 <= level_pct <= 100:
        raise ValueError(f"battery level {level_pct} is not 0-100 %")
    return bytes([level_pct])
