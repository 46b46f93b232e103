"""Weight Scale Service (0x181D): Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E.

Layout of 0x2A9D: ``flags u8 | weight u16 | [timestamp 7] | [user id u8] | [BMI u16 |
height u16]``. Flags b0: 0 = SI (weight 0.005 kg, height 0.001 m per unit), 1 = imperial
(weight 0.01 lb, height 0.1 in). BMI is 0.1 kg/m2 per unit.

The weight resolution is fixed by the characteristic (GATT XML, openScale); the Feature's
resolution bits only describe the scale's precision and are not applied to the raw value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from fractions import Fraction

from device_bridge.gatt.measurement import ExtraValue, Measurement
from device_bridge.gatt.reader import Reader
from telemed_core.kinds import Kind

WEIGHT_MEASUREMENT = 0x2A9D
WEIGHT_SCALE_FEATURE = 0x2A9E

IMPERIAL = 0x01
TIMESTAMP_PRESENT = 0x02
USER_ID_PRESENT = 0x04
BMI_HEIGHT_PRESENT = 0x08

KG_PER_LB = Fraction("0.45359237")  # exact, by definition of the pound
M_PER_IN = Fraction("0.0254")
KG_PER_UNIT_SI = Fraction(5, 1000)
LB_PER_UNIT_IMPERIAL = Fraction(1, 100)
M_PER_UNIT_SI = Fraction(1, 1000)
IN_PER_UNIT_IMPERIAL = Fraction(1, 10)
BMI_PER_UNIT = Fraction(1, 10)
UNSUCCESSFUL = 0xFFFF
UNKNOWN_USER = 0xFF

WEIGHT_RESOLUTIONS_KG = (None, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005)
WEIGHT_RESOLUTIONS_LB = (None, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
HEIGHT_RESOLUTIONS_M = (None, 0.01, 0.005, 0.001)
HEIGHT_RESOLUTIONS_IN = (None, 1.0, 0.5, 0.1)


def _weight_kg(raw: int, imperial: bool) -> float:
    if imperial:
        return float(raw * LB_PER_UNIT_IMPERIAL * KG_PER_LB)
    return float(raw * KG_PER_UNIT_SI)


def _height_m(raw: int, imperial: bool) -> float:
    if imperial:
        return float(raw * IN_PER_UNIT_IMPERIAL * M_PER_IN)
    return float(raw * M_PER_UNIT_SI)


def decode_weight(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A9D into one BODY_WEIGHT in kg (lb is converted).

    ``extra`` may hold ``user_id`` (None = unknown user), ``bmi_kg_m2`` and ``height_m``.
    A raw weight of 0xFFFF ("measurement unsuccessful" in the WSS spec) gives value None flagged
    "invalid" with ``extra["special"] = "unsuccessful"``.
    """
    reader = Reader(WEIGHT_MEASUREMENT, payload)
    flags = reader.u8("flags")
    needed = 3 + 7 * bool(flags & TIMESTAMP_PRESENT) + bool(flags & USER_ID_PRESENT)
    reader.expect(needed + 4 * bool(flags & BMI_HEIGHT_PRESENT), flags)
    imperial = bool(flags & IMPERIAL)
    raw = reader.u16("weight")
    stamp = reader.date_time("timestamp", device_tz) if flags & TIMESTAMP_PRESENT else None
    extra: dict[str, ExtraValue] = {"unit_on_wire": "lb" if imperial else "kg"}
    if flags & USER_ID_PRESENT:
        user = reader.u8("user id")
        extra["user_id"] = None if user == UNKNOWN_USER else user
    if flags & BMI_HEIGHT_PRESENT:
        extra["bmi_kg_m2"] = float(reader.u16("BMI") * BMI_PER_UNIT)
        extra["height_m"] = _height_m(reader.u16("height"), imperial)
    weight_kg = None
    if raw == UNSUCCESSFUL:
        extra["special"] = "unsuccessful"
    else:
        weight_kg = _weight_kg(raw, imperial)
    return [Measurement.of(Kind.BODY_WEIGHT, weight_kg, device_time=stamp, extra=extra)]


@dataclass(frozen=True, slots=True)
class WeightScaleFeatures:
    """Weight Scale Feature (0x2A9E); resolutions are None when unspecified."""

    timestamp: bool
    multiple_users: bool
    bmi: bool
    weight_resolution_kg: float | None
    weight_resolution_lb: float | None
    height_resolution_m: float | None
    height_resolution_in: float | None


def decode_weight_scale_feature(payload: bytes | bytearray) -> WeightScaleFeatures:
    """Decode 0x2A9E (u32): b0 timestamp, b1 multiple users, b2 BMI, b3-6 weight and b7-9
    height resolution codes; reserved codes decode as None."""
    reader = Reader(WEIGHT_SCALE_FEATURE, payload)
    reader.expect(4)
    bits = reader.uint(4, "features")
    weight_code, height_code = bits >> 3 & 0b1111, bits >> 7 & 0b111

    def pick(table: tuple[float | None, ...], code: int) -> float | None:
        return table[code] if code < len(table) else None

    return WeightScaleFeatures(
        timestamp=bool(bits & 1),
        multiple_users=bool(bits & 2),
        bmi=bool(bits & 4),
        weight_resolution_kg=pick(WEIGHT_RESOLUTIONS_KG, weight_code),
        weight_resolution_lb=pick(WEIGHT_RESOLUTIONS_LB, weight_code),
        height_resolution_m=pick(HEIGHT_RESOLUTIONS_M, height_code),
        height_resolution_in=pick(HEIGHT_RESOLUTIONS_IN, height_code),
    )
