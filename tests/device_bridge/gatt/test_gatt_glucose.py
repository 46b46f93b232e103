"""Glucose: measurement 0x2A18 and context 0x2A34."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device_bridge.gatt import MalformedPayload, decode, decode_glucose_context
from device_bridge.gatt.encode import encode_glucose, encode_glucose_context
from device_bridge.gatt.sfloat import Number
from telemed_core.kinds import Kind

GL3 = bytes.fromhex("02 05 00 E8 07 03 0F 07 2D 00 64 B0 11")
GL4 = bytes.fromhex("06 06 00 E8 07 03 0F 07 2D 00 38 C0 11")
BASE = datetime(2024, 3, 15, 7, 45, tzinfo=UTC)


def test_gl3_kg_per_litre_is_converted_via_mg_per_dl_to_mmol_per_l() -> None:
    (glucose,) = decode(0x2A18, GL3)
    assert (glucose.kind, glucose.unit) == (Kind.GLUCOSE, "mmol/L")
    assert glucose.value == pytest.approx(100 / 18.016)
    assert glucose.device_time == BASE
    assert glucose.extra["sequence_number"] == 5
    assert glucose.extra["sample_type"] == "capillary_whole_blood"
    assert glucose.extra["sample_location"] == "finger"
    assert glucose.flags == ()


def test_gl4_mol_per_litre_is_converted_to_mmol_per_l() -> None:
    (glucose,) = decode(0x2A18, GL4)
    assert glucose.value == pytest.approx(5.6)
    assert glucose.extra["sequence_number"] == 6
    assert glucose.extra["unit_on_wire"] == "mol/L"


def test_time_offset_is_added_to_base_time() -> None:
    payload = encode_glucose(7, BASE, concentration=0.0056, unit="mol/L", time_offset_min=-90)
    (glucose,) = decode(0x2A18, payload)
    assert glucose.device_time == BASE - timedelta(minutes=90)


def test_unknown_base_time_gives_no_device_time() -> None:
    (glucose,) = decode(0x2A18, encode_glucose(8, None, concentration=0.0056, unit="mol/L"))
    assert glucose.device_time is None


@pytest.mark.parametrize(
    ("sample_type", "location"),
    [("control_solution", "finger"), ("capillary_whole_blood", "control_solution")],
)
def test_control_solution_reading_is_invalid(sample_type: str, location: str) -> None:
    payload = encode_glucose(
        9, BASE, concentration=0.001, sample_type=sample_type, sample_location=location
    )
    (glucose,) = decode(0x2A18, payload)
    assert glucose.flags == ("invalid",)
    assert glucose.extra["control_solution"] is True


@pytest.mark.parametrize(
    "status", ["result_too_high", "strip_pulled_too_soon", "sensor_malfunction"]
)
def test_annunciation_that_voids_the_result_is_invalid(status: str) -> None:
    payload = encode_glucose(10, BASE, concentration=0.001, sensor_status=[status])
    (glucose,) = decode(0x2A18, payload)
    assert glucose.flags == ("invalid",)
    assert glucose.extra["sensor_status"] == (status,)


def test_battery_low_annunciation_keeps_the_result() -> None:
    payload = encode_glucose(11, BASE, concentration=0.001, sensor_status=["battery_low"])
    assert decode(0x2A18, payload)[0].flags == ()


def test_time_fault_marks_clock_unsure_but_keeps_the_value() -> None:
    payload = encode_glucose(12, BASE, concentration=0.001, sensor_status=["time_fault"])
    (glucose,) = decode(0x2A18, payload)
    assert glucose.flags == ("clock_unsure",)
    assert glucose.value == pytest.approx(100 / 18.016)


def test_record_without_concentration_keeps_its_sequence_number_as_invalid() -> None:
    (glucose,) = decode(0x2A18, encode_glucose(13, BASE))
    assert (glucose.value, glucose.flags) == (None, ("invalid",))
    assert glucose.extra["sequence_number"] == 13
    assert glucose.extra["no_concentration"] is True


def test_context_follows_flag_is_reported() -> None:
    payload = encode_glucose(14, BASE, concentration=0.001, context_follows=True)
    assert decode(0x2A18, payload)[0].extra["context_follows"] is True


def test_nan_concentration_is_invalid() -> None:
    (glucose,) = decode(0x2A18, encode_glucose(15, BASE, concentration=float("nan")))
    assert (glucose.value, glucose.flags) == (None, ("invalid",))


def test_truncated_measurement_names_flags_and_length() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A18: payload is 12 bytes, flags 0x02 need exactly 13"
    ):
        decode(0x2A18, GL3[:12])


def test_encode_glucose_reproduces_gl3_and_gl4() -> None:
    assert encode_glucose(5, BASE, concentration=Number(100, -5)) == GL3
    assert encode_glucose(6, BASE, concentration=Number(56, -4), unit="mol/L") == GL4


def test_glucose_round_trip_in_kg_per_litre() -> None:
    payload = encode_glucose(16, BASE, concentration=0.00126, time_offset_min=5)
    (glucose,) = decode(0x2A18, payload)
    assert glucose.value == pytest.approx(126 / 18.016)
    assert glucose.device_time == BASE + timedelta(minutes=5)


def test_context_round_trip_keeps_every_field() -> None:
    payload = encode_glucose_context(
        5,
        carbohydrate=("breakfast", 45.0),
        meal="postprandial",
        tester_health=("self", "no_issues"),
        exercise=(1800, 60),
        medication=("rapid_acting_insulin", 5.0, "mg"),
        hba1c_pct=6.5,
    )
    context = decode_glucose_context(payload)
    assert context.sequence_number == 5
    assert context.carbohydrate == "breakfast"
    assert context.carbohydrate_g == pytest.approx(45.0)
    assert (context.meal, context.tester, context.health) == ("postprandial", "self", "no_issues")
    assert (context.exercise_duration_s, context.exercise_intensity_pct) == (1800, 60)
    assert (context.medication, context.medication_unit) == ("rapid_acting_insulin", "mg")
    assert context.medication_amount == pytest.approx(5.0)
    assert context.hba1c_pct == 6.5


def test_context_tester_is_the_low_nibble_and_health_the_high_nibble() -> None:
    context = decode_glucose_context(bytes.fromhex("04 01 00 52"))
    assert (context.tester, context.health) == ("health_care_professional", "no_issues")


def test_context_medication_in_litres_reads_as_millilitres() -> None:
    context = decode_glucose_context(encode_glucose_context(1, medication=(2, 0.5, "mL")))
    assert context.medication_unit == "mL"
    assert context.medication_amount == pytest.approx(0.5)


def test_context_skips_the_reserved_extended_flags_byte() -> None:
    context = decode_glucose_context(bytes.fromhex("C0 02 00 AA 41 F0"))
    assert context.hba1c_pct == pytest.approx(6.5)


def test_context_exercise_overrun_has_no_duration() -> None:
    context = decode_glucose_context(bytes.fromhex("08 01 00 FF FF 50"))
    assert (context.exercise_duration_s, context.exercise_intensity_pct) == (None, 80)


def test_truncated_context_is_malformed() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A34: payload is 4 bytes, flags 0x40 need exactly 5"
    ):
        decode_glucose_context(bytes.fromhex("40 01 00 41"))


def test_base_time_plus_offset_beyond_year_9999_is_malformed() -> None:
    last_minute = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    payload = encode_glucose(17, last_minute, time_offset_min=10)
    with pytest.raises(MalformedPayload, match="0x2A18: base time .* \\+ 10 min is out of range"):
        decode(0x2A18, payload)
