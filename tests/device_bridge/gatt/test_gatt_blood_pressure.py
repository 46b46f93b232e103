"""Blood pressure: measurement 0x2A35, intermediate cuff pressure 0x2A36, feature 0x2A49."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_bridge.gatt import MalformedPayload, Measurement, decode, decode_blood_pressure_feature
from device_bridge.gatt.encode import encode_blood_pressure, encode_intermediate_cuff_pressure
from telemed_core.kinds import Kind

BP6 = bytes.fromhex("06 7A 00 50 00 5E 00 E8 07 03 0F 08 1E 00 48 00")
BP7 = bytes.fromhex("00 7A 00 50 00 FF 07")
BP8 = bytes.fromhex("01 A3 F0 6B F0 FF 07")
ICP3 = bytes.fromhex("00 96 00 FF 07 FF 07")


def by_kind(found: list[Measurement]) -> dict[Kind, Measurement]:
    kinds = [m.kind for m in found]
    assert len(set(kinds)) == len(kinds)
    return {m.kind: m for m in found}


def test_bp6_gives_pressures_pulse_and_timestamp() -> None:
    found = by_kind(decode(0x2A35, BP6))
    assert {kind: m.value for kind, m in found.items()} == {
        Kind.BP_SYSTOLIC: 122.0,
        Kind.BP_DIASTOLIC: 80.0,
        Kind.BP_MEAN: 94.0,
        Kind.PULSE_RATE: 72.0,
    }
    assert {m.unit for m in found.values()} == {"mm[Hg]", "/min"}
    stamp = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
    assert {m.device_time for m in found.values()} == {stamp}


def test_bp7_nan_mean_arterial_pressure_is_invalid_but_kept() -> None:
    found = by_kind(decode(0x2A35, BP7))
    assert found[Kind.BP_MEAN].value is None
    assert found[Kind.BP_MEAN].flags == ("invalid",)
    assert found[Kind.BP_MEAN].extra["special"] == "nan"
    assert (found[Kind.BP_SYSTOLIC].value, found[Kind.BP_SYSTOLIC].flags) == (122.0, ())
    assert Kind.PULSE_RATE not in found


def test_bp8_kpa_is_converted_to_mmhg() -> None:
    found = by_kind(decode(0x2A35, BP8))
    assert found[Kind.BP_SYSTOLIC].value == pytest.approx(16.3 * 7.50062)
    assert found[Kind.BP_DIASTOLIC].value == pytest.approx(10.7 * 7.50062)
    assert found[Kind.BP_SYSTOLIC].value == pytest.approx(122.3, abs=0.05)
    assert found[Kind.BP_SYSTOLIC].extra["unit_on_wire"] == "kPa"


def test_icp3_gives_only_the_cuff_pressure() -> None:
    (cuff,) = decode(0x2A36, ICP3)
    assert (cuff.kind, cuff.value, cuff.unit, cuff.flags) == (
        Kind.CUFF_PRESSURE,
        150.0,
        "mm[Hg]",
        (),
    )


def test_icp_with_zero_filled_unused_fields_is_accepted() -> None:
    (cuff,) = decode(0x2A36, bytes.fromhex("00 96 00 00 00 00 00"))
    assert cuff.value == 150.0


def test_short_payload_error_names_flags_and_needed_length() -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode(0x2A35, bytes.fromhex("1E 7A 00 50 00"))
    assert str(caught.value) == "0x2A35: payload is 5 bytes, flags 0x1E need exactly 19"


def test_bp_without_map_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="flags 0x00 need exactly 7"):
        decode(0x2A35, BP7[:5])


def test_impossible_timestamp_is_malformed() -> None:
    bad = bytearray(BP6)
    bad[9] = 13  # month
    with pytest.raises(MalformedPayload, match="0x2A35: timestamp: 2024-13-15"):
        decode(0x2A35, bytes(bad))


def test_unknown_year_gives_no_device_time() -> None:
    bad = bytearray(BP6)
    bad[7:9] = b"\x00\x00"
    assert {m.device_time for m in decode(0x2A35, bytes(bad))} == {None}


def test_body_movement_and_irregular_pulse_become_flags() -> None:
    payload = encode_blood_pressure(
        131,
        85,
        100,
        status=["body_movement", "irregular_pulse"],
        pulse_rate_range="above_upper_limit",
    )
    found = decode(0x2A35, payload)
    assert {m.flags for m in found} == {("motion", "irregular_pulse")}
    assert found[0].extra["measurement_status"] == ("body_movement", "irregular_pulse")
    assert found[0].extra["pulse_rate_range"] == "above_upper_limit"


def test_cuff_too_loose_is_reported_in_extra_without_voiding_the_value() -> None:
    found = decode(0x2A35, encode_blood_pressure(131, 85, 100, status=["cuff_too_loose"]))
    assert found[0].flags == ()
    assert found[0].extra["measurement_status"] == ("cuff_too_loose",)


def test_user_id_is_kept_and_ff_means_unknown() -> None:
    assert decode(0x2A35, encode_blood_pressure(120, 80, 93, user_id=3))[0].extra["user_id"] == 3
    assert (
        decode(0x2A35, encode_blood_pressure(120, 80, 93, user_id=0xFF))[0].extra["user_id"] is None
    )


def test_encode_blood_pressure_reproduces_bp6() -> None:
    stamp = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
    assert encode_blood_pressure(122, 80, 94, timestamp=stamp, pulse_bpm=72) == BP6


def test_encode_blood_pressure_reproduces_bp8() -> None:
    assert encode_blood_pressure(16.3, 10.7, float("nan"), unit="kPa") == BP8


def test_encode_intermediate_cuff_pressure_reproduces_icp3() -> None:
    assert encode_intermediate_cuff_pressure(150) == ICP3


def test_blood_pressure_round_trip_in_kpa_with_everything() -> None:
    stamp = datetime(2024, 6, 1, 7, 15, 3, tzinfo=UTC)
    payload = encode_blood_pressure(
        17.2, 11.1, 13.1, unit="kPa", timestamp=stamp, pulse_bpm=64, user_id=2, status=0
    )
    found = by_kind(decode(0x2A35, payload))
    assert found[Kind.BP_SYSTOLIC].value == pytest.approx(17.2 * 7.50062)
    assert found[Kind.BP_MEAN].value == pytest.approx(13.1 * 7.50062)
    assert found[Kind.PULSE_RATE].value == 64.0
    assert found[Kind.PULSE_RATE].device_time == stamp
    assert found[Kind.PULSE_RATE].extra["measurement_status"] == ()


def test_feature_word_decodes_to_names() -> None:
    names = decode_blood_pressure_feature(bytes.fromhex("FF 01"))
    assert len(names) == 9
    assert names[0] == "body_movement_detection"
    assert names[-1] == "user_facing_time"


def test_short_feature_word_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A49"):
        decode_blood_pressure_feature(b"\x01")
