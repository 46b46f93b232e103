"""Blood Pressure Service (0x1810): measurement 0x2A35, intermediate cuff pressure 0x2A36,
feature 0x2A49.

Layout of 0x2A35 and 0x2A36: ``flags u8 | systolic SFLOAT | diastolic SFLOAT | MAP SFLOAT |
[timestamp 7] | [pulse rate SFLOAT bpm] | [user id u8] | [measurement status u16]``, pressures in
mmHg (flags b0 = 0) or kPa (b0 = 1). In 0x2A36 the systolic field is the current cuff pressure
and the other two are unused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from fractions import Fraction

from device_bridge.gatt.bits import bit_names
from device_bridge.gatt.measurement import ExtraValue, Measurement, from_number
from device_bridge.gatt.reader import Reader
from device_bridge.gatt.sfloat import Number
from telemed_core.kinds import Kind

BLOOD_PRESSURE_MEASUREMENT = 0x2A35
INTERMEDIATE_CUFF_PRESSURE = 0x2A36
BLOOD_PRESSURE_FEATURE = 0x2A49

UNIT_KPA = 0x01
TIMESTAMP_PRESENT = 0x02
PULSE_RATE_PRESENT = 0x04
USER_ID_PRESENT = 0x08
STATUS_PRESENT = 0x10

MMHG_PER_KPA = Fraction("7.50062")
UNKNOWN_USER = 0xFF

STATUS_BITS: dict[int, str] = {
    0: "body_movement",
    1: "cuff_too_loose",
    2: "irregular_pulse",
    5: "improper_position",
}
PULSE_RATE_RANGES = ("in_range", "above_upper_limit", "below_lower_limit", "reserved")
PULSE_RANGE_SHIFT = 3
FEATURE_BITS: dict[int, str] = {
    0: "body_movement_detection",
    1: "cuff_fit_detection",
    2: "irregular_pulse_detection",
    3: "pulse_rate_range_detection",
    4: "measurement_position_detection",
    5: "multiple_bonds",
    6: "e2e_crc",
    7: "user_data_service",
    8: "user_facing_time",
}
_STATUS_FLAGS = {"body_movement": "motion", "irregular_pulse": "irregular_pulse"}


class _Frame:
    """The fields shared by 0x2A35 and 0x2A36, read in wire order."""

    def __init__(self, reader: Reader, device_tz: tzinfo) -> None:
        flags = reader.u8("flags")
        needed = 7 + 7 * bool(flags & TIMESTAMP_PRESENT) + 2 * bool(flags & PULSE_RATE_PRESENT)
        reader.expect(
            needed + bool(flags & USER_ID_PRESENT) + 2 * bool(flags & STATUS_PRESENT), flags
        )
        self.scale = MMHG_PER_KPA if flags & UNIT_KPA else Fraction(1)
        self.pressures = [reader.sfloat(name) for name in ("systolic", "diastolic", "MAP")]
        self.time: datetime | None = None
        if flags & TIMESTAMP_PRESENT:
            self.time = reader.date_time("timestamp", device_tz)
        self.pulse: Number | None = (
            reader.sfloat("pulse rate") if flags & PULSE_RATE_PRESENT else None
        )
        self.extra: dict[str, ExtraValue] = {"unit_on_wire": "kPa" if flags & UNIT_KPA else "mmHg"}
        if flags & USER_ID_PRESENT:
            user = reader.u8("user id")
            self.extra["user_id"] = None if user == UNKNOWN_USER else user
        self.flags: list[str] = []
        if flags & STATUS_PRESENT:
            self._read_status(reader.u16("measurement status"))

    def _read_status(self, status: int) -> None:
        names = bit_names(status, STATUS_BITS)
        self.extra["measurement_status"] = names
        self.extra["pulse_rate_range"] = PULSE_RATE_RANGES[status >> PULSE_RANGE_SHIFT & 0b11]
        self.flags = [_STATUS_FLAGS[name] for name in names if name in _STATUS_FLAGS]

    def measure(self, kind: Kind, number: Number, scale: Fraction) -> Measurement:
        return from_number(
            kind, number, scale, device_time=self.time, flags=self.flags, extra=self.extra
        )


def decode_blood_pressure(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A35 into BP_SYSTOLIC, BP_DIASTOLIC, BP_MEAN (mm[Hg]) and PULSE_RATE (/min).

    kPa is converted to mm[Hg] (1 kPa = 7.50062 mmHg). A MAP of NaN (common) becomes value None
    flagged "invalid". Status bits: body movement -> "motion", irregular pulse ->
    "irregular_pulse"; all bits are in ``extra["measurement_status"]`` with
    ``extra["pulse_rate_range"]``. ``extra["user_id"]`` is None for the "unknown user" id.
    """
    frame = _Frame(Reader(BLOOD_PRESSURE_MEASUREMENT, payload), device_tz)
    kinds = (Kind.BP_SYSTOLIC, Kind.BP_DIASTOLIC, Kind.BP_MEAN)
    found = [
        frame.measure(kind, n, frame.scale) for kind, n in zip(kinds, frame.pressures, strict=True)
    ]
    if frame.pulse is not None:
        found.append(frame.measure(Kind.PULSE_RATE, frame.pulse, Fraction(1)))
    return found


def decode_intermediate_cuff_pressure(
    payload: bytes | bytearray, device_tz: tzinfo = UTC
) -> list[Measurement]:
    """Decode 0x2A36 into one CUFF_PRESSURE (mm[Hg]) from the systolic field, and a PULSE_RATE
    (/min) when the flags say one is present.

    Diastolic and MAP are ignored: the SIG marks them unused while inflating, and devices fill
    them with NaN or zeros. The optional fields are those of 0x2A35 (time stamp, pulse rate, user
    id, measurement status) and decode the same way; the pulse rate is flagged "early" because
    the cuff is still inflating (FHIR status "preliminary"). ``extra`` as for
    :func:`decode_blood_pressure`.
    """
    frame = _Frame(Reader(INTERMEDIATE_CUFF_PRESSURE, payload), device_tz)
    found = [frame.measure(Kind.CUFF_PRESSURE, frame.pressures[0], frame.scale)]
    if frame.pulse is not None:
        pulse = frame.measure(Kind.PULSE_RATE, frame.pulse, Fraction(1))
        found.append(replace(pulse, flags=(*pulse.flags, "early")))
    return found


def decode_blood_pressure_feature(payload: bytes | bytearray) -> tuple[str, ...]:
    """Decode 0x2A49 (u16) to the names of the supported features."""
    reader = Reader(BLOOD_PRESSURE_FEATURE, payload)
    reader.expect(2)
    return bit_names(reader.u16("features"), FEATURE_BITS)
