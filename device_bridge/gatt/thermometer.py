"""Health Thermometer Service (0x1809): Temperature Measurement 0x2A1C, Intermediate
Temperature 0x2A1E (same layout) and Temperature Type 0x2A1D.

Layout: ``flags u8 | temperature FLOAT (4 bytes) | [timestamp 7] | [temperature type u8]``;
flags b0 = 0 Celsius, 1 Fahrenheit; b1 timestamp present; b2 temperature type present.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from fractions import Fraction

from device_bridge.gatt.measurement import ExtraValue, Measurement
from device_bridge.gatt.reader import Reader
from telemed_core.kinds import Kind

TEMPERATURE_MEASUREMENT = 0x2A1C
TEMPERATURE_TYPE = 0x2A1D
INTERMEDIATE_TEMPERATURE = 0x2A1E

FAHRENHEIT = 0x01
TIMESTAMP_PRESENT = 0x02
TYPE_PRESENT = 0x04

TEMPERATURE_TYPES: dict[int, str] = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


def temperature_type_name(code: int) -> str:
    """The site name of a Temperature Type code; unknown codes as "reserved_<n>"."""
    return TEMPERATURE_TYPES.get(code, f"reserved_{code}")


def fahrenheit_to_celsius(fahrenheit: Fraction) -> Fraction:
    """Exact degF -> Cel."""
    return (fahrenheit - 32) * Fraction(5, 9)


def _decode(characteristic: int, payload: bytes | bytearray, device_tz: tzinfo) -> Measurement:
    reader = Reader(characteristic, payload)
    flags = reader.u8("flags")
    reader.expect(5 + 7 * bool(flags & TIMESTAMP_PRESENT) + bool(flags & TYPE_PRESENT), flags)
    number = reader.float32("temperature")
    stamp = reader.date_time("timestamp", device_tz) if flags & TIMESTAMP_PRESENT else None
    extra: dict[str, ExtraValue] = {"unit_on_wire": "degF" if flags & FAHRENHEIT else "Cel"}
    if flags & TYPE_PRESENT:
        extra["temperature_type"] = temperature_type_name(reader.u8("temperature type"))
    marks = []
    if characteristic == INTERMEDIATE_TEMPERATURE:
        marks.append("early")  # a reading still settling, not the final result
        extra["intermediate"] = True
    exact = number.exact
    celsius = None
    if exact is not None:
        celsius = float(fahrenheit_to_celsius(exact) if flags & FAHRENHEIT else exact)
    if number.special is not None:
        extra["special"] = number.special.value
    return Measurement.of(
        Kind.BODY_TEMPERATURE, celsius, device_time=stamp, flags=marks, extra=extra
    )


def decode_temperature(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A1C into one BODY_TEMPERATURE in Cel (degF is converted).

    ``extra["temperature_type"]`` names the body site when present; a NaN/NRes/INF FLOAT gives
    value None flagged "invalid".
    """
    return [_decode(TEMPERATURE_MEASUREMENT, payload, device_tz)]


def decode_intermediate_temperature(
    payload: bytes | bytearray, device_tz: tzinfo = UTC
) -> list[Measurement]:
    """Decode 0x2A1E like :func:`decode_temperature`, flagged "early" (not the final reading)."""
    return [_decode(INTERMEDIATE_TEMPERATURE, payload, device_tz)]


def decode_temperature_type(payload: bytes | bytearray) -> str:
    """Decode 0x2A1D (u8) to the body-site name."""
    reader = Reader(TEMPERATURE_TYPE, payload)
    reader.expect(1)
    return temperature_type_name(reader.u8("temperature type"))
