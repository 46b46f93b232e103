"""Heart Rate Measurement (0x2A37) and Body Sensor Location (0x2A38)."""

from __future__ import annotations

import pytest

from device_bridge.gatt import MalformedPayload, decode, decode_body_sensor_location
from device_bridge.gatt.encode import encode_body_sensor_location, encode_heart_rate
from telemed_core.kinds import Kind

HR6 = bytes.fromhex("10 48 6C 03")
HR7 = bytes.fromhex("16 48 6C 03 A0 03")


def test_hr6_gives_heart_rate_and_one_rr_interval_in_ms() -> None:
    heart_rate, rr = decode(0x2A37, HR6)
    assert (heart_rate.kind, heart_rate.value, heart_rate.unit) == (Kind.HEART_RATE, 72.0, "/min")
    assert (rr.kind, rr.unit) == (Kind.RR_INTERVAL, "ms")
    assert rr.value == pytest.approx(855.47, abs=0.005)
    assert rr.extra["rr_ticks"] == 876


def test_hr7_gives_every_rr_interval_oldest_first_with_contact_detected() -> None:
    found = decode(0x2A37, HR7)
    assert [m.kind for m in found] == [Kind.HEART_RATE, Kind.RR_INTERVAL, Kind.RR_INTERVAL]
    assert [m.value for m in found[1:]] == [855.46875, 906.25]
    assert {m.extra["sensor_contact"] for m in found} == {"detected"}
    assert all(m.flags == () for m in found)


def test_heart_rate_has_no_device_time() -> None:
    assert all(m.device_time is None for m in decode(0x2A37, HR7))


def test_contact_supported_but_not_detected_flags_everything_invalid() -> None:
    found = decode(0x2A37, bytes.fromhex("14 00 6C 03"))
    assert found[0].extra["sensor_contact"] == "not_detected"
    assert all("invalid" in m.flags for m in found)


def test_contact_bit_without_supported_bit_means_unsupported() -> None:
    (heart_rate,) = decode(0x2A37, bytes.fromhex("02 48"))
    assert heart_rate.extra["sensor_contact"] == "unsupported"
    assert heart_rate.flags == ()


def test_uint16_heart_rate_is_read_from_two_bytes() -> None:
    (heart_rate,) = decode(0x2A37, bytes.fromhex("01 2C 01"))
    assert heart_rate.value == 300.0


def test_energy_expended_is_kept_in_kilojoules_on_the_heart_rate() -> None:
    heart_rate, rr = decode(0x2A37, bytes.fromhex("18 48 10 27 6C 03"))
    assert heart_rate.extra["energy_expended_kj"] == 10_000
    assert "energy_expended_kj" not in rr.extra


def test_reserved_flag_bits_are_ignored() -> None:
    (heart_rate,) = decode(0x2A37, bytes.fromhex("E0 48"))
    assert heart_rate.value == 72.0


def test_odd_number_of_rr_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A37: RR-interval flag set but 3 bytes follow"):
        decode(0x2A37, bytes.fromhex("10 48 6C 03 A0"))


def test_rr_flag_without_any_rr_interval_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0 bytes follow"):
        decode(0x2A37, bytes.fromhex("10 48"))


def test_uint16_heart_rate_cut_short_is_malformed() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A37: payload is 2 bytes, flags 0x01 need at least 3"
    ):
        decode(0x2A37, bytes.fromhex("01 2C"))


def test_empty_payload_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A37"):
        decode(0x2A37, b"")


def test_encode_heart_rate_reproduces_hr7() -> None:
    assert encode_heart_rate(72, rr_ms=[855.47, 906.25], contact=True) == HR7


def test_heart_rate_round_trip_keeps_every_field() -> None:
    payload = encode_heart_rate(310, rr_ms=[1000.0, 812.5], energy_kj=42, contact=False)
    heart_rate, *rrs = decode(0x2A37, payload)
    assert heart_rate.value == 310.0
    assert heart_rate.extra == {"sensor_contact": "not_detected", "energy_expended_kj": 42}
    assert [rr.value for rr in rrs] == pytest.approx([1000.0, 812.5], abs=1000 / 1024 / 2)


def test_body_sensor_location_decodes_to_a_name() -> None:
    assert decode_body_sensor_location(bytes([1])) == "chest"
    assert decode_body_sensor_location(bytes([9])) == "reserved_9"


def test_body_sensor_location_round_trip() -> None:
    assert decode_body_sensor_location(encode_body_sensor_location("ear_lobe")) == "ear_lobe"
