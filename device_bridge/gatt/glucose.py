"""Glucose Service (0x1808): Glucose Measurement 0x2A18 and Measurement Context 0x2A34.

Layout of 0x2A18: ``flags u8 | sequence u16 | base time 7 | [time offset s16 min] |
[concentration SFLOAT | type/location u8] | [sensor status annunciation u16]``. The
concentration is in kg/L (flags b2 = 0) or mol/L (b2 = 1); type is the low nibble of the
type/location byte, location the high nibble. Stored records are pulled with the RACP
(see :mod:`device_bridge.gatt.racp`) and matched to their context by sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction

from device_bridge.gatt.bits import bit_names
from device_bridge.gatt.measurement import ExtraValue, Measurement, from_number, number_value
from device_bridge.gatt.reader import Reader
from telemed_core.kinds import Kind

GLUCOSE_MEASUREMENT = 0x2A18
GLUCOSE_CONTEXT = 0x2A34

TIME_OFFSET_PRESENT = 0x01
CONCENTRATION_PRESENT = 0x02
UNIT_MOL_PER_L = 0x04
STATUS_PRESENT = 0x08
CONTEXT_FOLLOWS = 0x10

MG_PER_DL_PER_KG_PER_L = 100_000
MG_PER_DL_PER_MMOL_PER_L = Fraction("18.016")
MMOL_PER_L_PER_KG_PER_L = MG_PER_DL_PER_KG_PER_L / MG_PER_DL_PER_MMOL_PER_L
MMOL_PER_L_PER_MOL_PER_L = Fraction(1000)

SAMPLE_TYPES: dict[int, str] = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
SAMPLE_LOCATIONS: dict[int, str] = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "not_available",
}
CONTROL_SOLUTION_TYPE = 10
CONTROL_SOLUTION_LOCATION = 4

SENSOR_STATUS_BITS: dict[int, str] = {
    0: "battery_low",
    1: "sensor_malfunction",
    2: "sample_size_insufficient",
    3: "strip_insertion_error",
    4: "strip_type_incorrect",
    5: "result_too_high",
    6: "result_too_low",
    7: "temperature_too_high",
    8: "temperature_too_low",
    9: "strip_pulled_too_soon",
    10: "general_device_fault",
    11: "time_fault",
}
# Every annunciation except "battery low" and "time fault" says the result itself is not valid
# (the meter could not process it or measured under invalid conditions).
_INVALID_STATUS = sum(1 << bit for bit in range(1, 11))
_TIME_FAULT = 1 << 11


def _named(table: dict[int, str], code: int) -> str:
    return table.get(code, f"reserved_{code}")


def _sample(type_location: int) -> tuple[dict[str, ExtraValue], bool]:
    sample_type, location = type_location & 0x0F, type_location >> 4
    extra: dict[str, ExtraValue] = {
        "sample_type": _named(SAMPLE_TYPES, sample_type),
        "sample_location": _named(SAMPLE_LOCATIONS, location),
    }
    control = sample_type == CONTROL_SOLUTION_TYPE or location == CONTROL_SOLUTION_LOCATION
    return extra, control


def _device_time(reader: Reader, flags: int, device_tz: tzinfo) -> datetime | None:
    base = reader.date_time("base time", device_tz)
    offset = reader.sint(2, "time offset") if flags & TIME_OFFSET_PRESENT else 0
    if base is None:
        return None
    try:
        return base + timedelta(minutes=offset)
    except OverflowError as exc:
        raise reader.fail(f"base time {base} + {offset} min is out of range") from exc


def decode_glucose(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A18 into one GLUCOSE in mmol/L.

    kg/L is converted via mg/dL (x 100000, / 18.016), mol/L by x 1000. ``device_time`` is base
    time + time offset. ``extra`` always holds ``sequence_number`` (the RACP watermark) and
    ``context_follows``; with a concentration also ``sample_type`` and ``sample_location``;
    with annunciations ``sensor_status`` (bit names). Flags: "invalid" for control-solution
    readings (``extra["control_solution"]``), for annunciations that void the result, and when
    no concentration was sent; "clock_unsure" for a time fault.
    """
    reader = Reader(GLUCOSE_MEASUREMENT, payload)
    flags = reader.u8("flags")
    needed = 10 + 2 * bool(flags & TIME_OFFSET_PRESENT) + 3 * bool(flags & CONCENTRATION_PRESENT)
    reader.expect(needed + 2 * bool(flags & STATUS_PRESENT), flags)
    extra: dict[str, ExtraValue] = {
        "sequence_number": reader.u16("sequence number"),
        "context_follows": bool(flags & CONTEXT_FOLLOWS),
    }
    stamp = _device_time(reader, flags, device_tz)
    marks: list[str] = []
    if flags & CONCENTRATION_PRESENT:
        number = reader.sfloat("concentration")
        sample, control = _sample(reader.u8("type and sample location"))
        extra.update(sample, unit_on_wire="mol/L" if flags & UNIT_MOL_PER_L else "kg/L")
        if control:
            extra["control_solution"] = True
            marks.append("invalid")  # quality control of the meter, not the patient's glucose
    if flags & STATUS_PRESENT:
        status = reader.u16("sensor status annunciation")
        extra["sensor_status"] = bit_names(status, SENSOR_STATUS_BITS)
        marks += ["invalid"] if status & _INVALID_STATUS else []
        marks += ["clock_unsure"] if status & _TIME_FAULT else []
    if not flags & CONCENTRATION_PRESENT:
        extra["no_concentration"] = True
        return [Measurement.of(Kind.GLUCOSE, None, device_time=stamp, flags=marks, extra=extra)]
    scale = MMOL_PER_L_PER_MOL_PER_L if flags & UNIT_MOL_PER_L else MMOL_PER_L_PER_KG_PER_L
    return [from_number(Kind.GLUCOSE, number, scale, device_time=stamp, flags=marks, extra=extra)]


# --- Glucose Measurement Context (0x2A34) ---------------------------------------------------

CARBOHYDRATE_PRESENT = 0x01
MEAL_PRESENT = 0x02
TESTER_HEALTH_PRESENT = 0x04
EXERCISE_PRESENT = 0x08
MEDICATION_PRESENT = 0x10
MEDICATION_IN_LITRES = 0x20
HBA1C_PRESENT = 0x40
EXTENDED_FLAGS_PRESENT = 0x80

CARBOHYDRATES: dict[int, str] = {
    1: "breakfast",
    2: "lunch",
    3: "dinner",
    4: "snack",
    5: "drink",
    6: "supper",
    7: "brunch",
}
MEALS: dict[int, str] = {
    1: "preprandial",
    2: "postprandial",
    3: "fasting",
    4: "casual",
    5: "bedtime",
}
TESTERS: dict[int, str] = {
    1: "self",
    2: "health_care_professional",
    3: "lab_test",
    15: "not_available",
}
HEALTH: dict[int, str] = {
    1: "minor_issues",
    2: "major_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_issues",
    15: "not_available",
}
MEDICATIONS: dict[int, str] = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}
EXERCISE_DURATION_OVERRUN = 0xFFFF
G_PER_KG = Fraction(1000)
MG_PER_KG = Fraction(1_000_000)
ML_PER_L = Fraction(1000)


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """Glucose Measurement Context (0x2A34), matched to its measurement by ``sequence_number``.

    Units: carbohydrate in g, exercise duration in s (None = overrun), exercise intensity in %,
    medication in mg or mL (``medication_unit``), HbA1c in %. Absent fields are None; SFLOAT
    specials decode to None too.
    """

    sequence_number: int
    carbohydrate: str | None = None
    carbohydrate_g: float | None = None
    meal: str | None = None
    tester: str | None = None
    health: str | None = None
    exercise_duration_s: int | None = None
    exercise_intensity_pct: int | None = None
    medication: str | None = None
    medication_amount: float | None = None
    medication_unit: str | None = None
    hba1c_pct: float | None = None


def _context_length(flags: int) -> int:
    sizes = {
        EXTENDED_FLAGS_PRESENT: 1,
        CARBOHYDRATE_PRESENT: 3,
        MEAL_PRESENT: 1,
        TESTER_HEALTH_PRESENT: 1,
        EXERCISE_PRESENT: 3,
        MEDICATION_PRESENT: 3,
        HBA1C_PRESENT: 2,
    }
    return 3 + sum(size for bit, size in sizes.items() if flags & bit)


def decode_glucose_context(payload: bytes | bytearray) -> GlucoseContext:
    """Decode 0x2A34 (a context record; not a vital, so not part of :func:`decode`)."""
    reader = Reader(GLUCOSE_CONTEXT, payload)
    flags = reader.u8("flags")
    reader.expect(_context_length(flags), flags)
    context = GlucoseContext(reader.u16("sequence number"))
    if flags & EXTENDED_FLAGS_PRESENT:
        reader.u8("extended flags")  # all bits reserved
    if flags & CARBOHYDRATE_PRESENT:
        carbohydrate = _named(CARBOHYDRATES, reader.u8("carbohydrate id"))
        grams = number_value(reader.sfloat("carbohydrate"), G_PER_KG)
        context = replace(context, carbohydrate=carbohydrate, carbohydrate_g=grams)
    if flags & MEAL_PRESENT:
        context = replace(context, meal=_named(MEALS, reader.u8("meal")))
    if flags & TESTER_HEALTH_PRESENT:
        both = reader.u8("tester and health")
        tester, health = _named(TESTERS, both & 0x0F), _named(HEALTH, both >> 4)
        context = replace(context, tester=tester, health=health)
    if flags & EXERCISE_PRESENT:
        raw_s = reader.u16("exercise duration")
        duration_s = None if raw_s == EXERCISE_DURATION_OVERRUN else raw_s
        intensity = reader.u8("exercise intensity")
        context = replace(context, exercise_duration_s=duration_s, exercise_intensity_pct=intensity)
    if flags & MEDICATION_PRESENT:
        context = _with_medication(context, reader, litres=bool(flags & MEDICATION_IN_LITRES))
    if flags & HBA1C_PRESENT:
        context = replace(context, hba1c_pct=number_value(reader.sfloat("HbA1c")))
    return context


def _with_medication(context: GlucoseContext, reader: Reader, *, litres: bool) -> GlucoseContext:
    medication = _named(MEDICATIONS, reader.u8("medication id"))
    scale, unit = (ML_PER_L, "mL") if litres else (MG_PER_KG, "mg")
    amount = number_value(reader.sfloat("medication"), scale)
    return replace(context, medication=medication, medication_amount=amount, medication_unit=unit)
