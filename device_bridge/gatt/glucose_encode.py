"""Encoders for the Glucose Service: measurement 0x2A18 and context 0x2A34.

Kept apart from :mod:`device_bridge.gatt.encode` only for size; use them from there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Literal

from device_bridge.gatt import glucose as gl
from device_bridge.gatt.bits import bits_from, code_of
from device_bridge.gatt.sfloat import Number, NumberLike, decode_sfloat, encode_sfloat
from device_bridge.gatt.times import encode_date_time


def _u16(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} {value} is not a u16")
    return value.to_bytes(2, "little")


def encode_glucose(
    sequence_number: int,
    base_time: datetime | None,
    *,
    concentration: NumberLike | None = None,
    unit: Literal["kg/L", "mol/L"] = "kg/L",
    time_offset_min: int | None = None,
    sample_type: str | int = "capillary_whole_blood",
    sample_location: str | int = "finger",
    sensor_status: int | Iterable[str] | None = None,
    context_follows: bool = False,
    device_tz: tzinfo = UTC,
) -> bytes:
    """Glucose Measurement (0x2A18). ``concentration`` is in ``unit`` (kg/L or mol/L; 100 mg/dL
    is 0.001 kg/L, 5.6 mmol/L is 0.0056 mol/L); ``base_time`` None sends "unknown";
    ``time_offset_min`` is s16 minutes; ``sensor_status`` takes names from
    ``glucose.SENSOR_STATUS_BITS`` or a raw u16; sample type/location take names or codes.
    """
    flags = gl.CONTEXT_FOLLOWS if context_follows else 0
    body = _u16(sequence_number, "sequence number") + encode_date_time(
        base_time, device_tz=device_tz
    )
    if time_offset_min is not None:
        if not -0x8000 <= time_offset_min <= 0x7FFF:
            raise ValueError(f"time offset {time_offset_min} min is not an s16")
        flags |= gl.TIME_OFFSET_PRESENT
        body += time_offset_min.to_bytes(2, "little", signed=True)
    if concentration is not None:
        flags |= gl.CONCENTRATION_PRESENT | (gl.UNIT_MOL_PER_L if unit == "mol/L" else 0)
        sample = code_of(sample_type, gl.SAMPLE_TYPES, "sample type")
        location = code_of(sample_location, gl.SAMPLE_LOCATIONS, "sample location")
        if not (0 <= sample <= 0xF and 0 <= location <= 0xF):
            raise ValueError("sample type and location are nibbles (0-15)")
        body += encode_sfloat(concentration) + bytes([location << 4 | sample])
    if sensor_status is not None:
        flags |= gl.STATUS_PRESENT
        body += _u16(bits_from(sensor_status, gl.SENSOR_STATUS_BITS), "sensor status")
    return bytes([flags]) + body


def encode_glucose_context(
    sequence_number: int,
    *,
    carbohydrate: tuple[str | int, float] | None = None,
    meal: str | int | None = None,
    tester_health: tuple[str | int, str | int] | None = None,
    exercise: tuple[int, int] | None = None,
    medication: tuple[str | int, float, Literal["mg", "mL"]] | None = None,
    hba1c_pct: NumberLike | None = None,
) -> bytes:
    """Glucose Measurement Context (0x2A34).

    ``carbohydrate`` = (meal name or id, grams); ``tester_health`` = (tester, health);
    ``exercise`` = (duration s, intensity %); ``medication`` = (name or id, amount, "mg" or
    "mL"). Grams, mg and mL are sent as kg and L, as the SIG defines them.
    """
    flags, body = 0, b""
    if carbohydrate is not None:
        flags |= gl.CARBOHYDRATE_PRESENT
        body += bytes([code_of(carbohydrate[0], gl.CARBOHYDRATES, "carbohydrate")])
        body += encode_sfloat(_scaled(carbohydrate[1], -3))  # g -> kg
    if meal is not None:
        flags |= gl.MEAL_PRESENT
        body += bytes([code_of(meal, gl.MEALS, "meal")])
    if tester_health is not None:
        flags |= gl.TESTER_HEALTH_PRESENT
        tester = code_of(tester_health[0], gl.TESTERS, "tester")
        health = code_of(tester_health[1], gl.HEALTH, "health")
        body += bytes([health << 4 | tester])
    if exercise is not None:
        flags |= gl.EXERCISE_PRESENT
        body += _u16(exercise[0], "exercise duration") + bytes([exercise[1]])
    if medication is not None:
        flags |= gl.MEDICATION_PRESENT | (gl.MEDICATION_IN_LITRES if medication[2] == "mL" else 0)
        body += bytes([code_of(medication[0], gl.MEDICATIONS, "medication")])
        body += encode_sfloat(_scaled(medication[1], -6 if medication[2] == "mg" else -3))
    if hba1c_pct is not None:
        flags |= gl.HBA1C_PRESENT
        body += encode_sfloat(hba1c_pct)
    return bytes([flags]) + _u16(sequence_number, "sequence number") + body


def _scaled(value: float, shift: int) -> Number:
    """``value * 10**shift`` as an exact pair, keeping the digits ``value`` is written with."""
    number = decode_sfloat(encode_sfloat(value))
    return Number(number.mantissa, number.exponent + shift, number.special)
