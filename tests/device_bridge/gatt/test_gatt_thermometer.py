"""Health thermometer: 0x2A1C, intermediate 0x2A1E, temperature type 0x2A1D."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_bridge.gatt import MalformedPayload, decode, decode_temperature_type
from device_bridge.gatt.encode import (
    encode_intermediate_temperature,
    encode_temperature,
    encode_temperature_type,
)
from device_bridge.gatt.sfloat import Number
from telemed_core.kinds import Kind

HT3 = bytes.fromhex("01 DA 03 00 FF")
HT4 = bytes.fromhex("04 72 01 00 FF 03")
HT5 = bytes.fromhex("00 FF FF 7F 00")


def test_ht3_fahrenheit_is_converted_to_celsius() -> None:
    (temperature,) = decode(0x2A1C, HT3)
    assert (temperature.kind, temperature.unit) == (Kind.BODY_TEMPERATURE, "Cel")
    assert temperature.value == pytest.approx(37.0, abs=1e-12)
    assert temperature.extra["unit_on_wire"] == "degF"


def test_ht4_celsius_with_ear_site() -> None:
    (temperature,) = decode(0x2A1C, HT4)
    assert temperature.value == 37.0
    assert temperature.extra["temperature_type"] == "ear"


def test_ht5_nan_is_invalid_without_value() -> None:
    (temperature,) = decode(0x2A1C, HT5)
    assert (temperature.value, temperature.flags, temperature.extra["special"]) == (
        None,
        ("invalid",),
        "nan",
    )


def test_nordic_f11_vector_reads_37_point_6() -> None:
    (temperature,) = decode(0x2A1C, bytes.fromhex("00 B0 0E 00 FE"))
    assert temperature.value == 37.6


def test_timestamp_becomes_device_time() -> None:
    stamp = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
    (temperature,) = decode(0x2A1C, encode_temperature(36.8, timestamp=stamp))
    assert (temperature.value, temperature.device_time) == (36.8, stamp)


def test_intermediate_temperature_is_flagged_early() -> None:
    (temperature,) = decode(0x2A1E, encode_intermediate_temperature(36.1))
    assert (temperature.value, temperature.flags) == (36.1, ("early",))
    assert temperature.extra["intermediate"] is True


def test_final_temperature_is_not_flagged_early() -> None:
    (temperature,) = decode(0x2A1C, HT4)
    assert temperature.flags == ()


def test_type_flag_without_type_byte_is_malformed() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A1C: payload is 5 bytes, flags 0x04 need exactly 6"
    ):
        decode(0x2A1C, HT4[:5])


def test_truncated_float_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A1E"):
        decode(0x2A1E, HT3[:4])


def test_encode_temperature_reproduces_ht3_and_ht4() -> None:
    assert encode_temperature(98.6, unit="degF") == HT3
    assert encode_temperature(Number(370, -1), temperature_type="ear") == HT4


def test_temperature_round_trip_in_fahrenheit_with_site() -> None:
    payload = encode_temperature(100.4, unit="degF", temperature_type="mouth")
    (temperature,) = decode(0x2A1C, payload)
    assert temperature.value == pytest.approx(38.0)
    assert temperature.extra["temperature_type"] == "mouth"


def test_temperature_type_decodes_and_round_trips() -> None:
    assert decode_temperature_type(bytes([9])) == "tympanum"
    assert decode_temperature_type(encode_temperature_type("rectum")) == "rectum"
    assert decode_temperature_type(bytes([0])) == "reserved_0"
