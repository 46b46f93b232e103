"""Battery Level (0x2A19) and Device Information (0x180A)."""

from __future__ import annotations

import pytest

from device_bridge.gatt import (
    MalformedPayload,
    UnsupportedCharacteristic,
    decode,
    decode_device_info,
)
from device_bridge.gatt.encode import encode_battery_level
from telemed_core.kinds import Kind


def test_battery_level_is_a_percentage_reading() -> None:
    (battery,) = decode(0x2A19, bytes([85]))
    assert (battery.kind, battery.value, battery.unit) == (Kind.BATTERY_LEVEL, 85.0, "%")


def test_battery_level_above_100_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A19: battery level 101 is above 100 %"):
        decode(0x2A19, bytes([101]))


def test_empty_battery_level_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A19"):
        decode(0x2A19, b"")


def test_battery_level_round_trip() -> None:
    assert decode(0x2A19, encode_battery_level(7))[0].value == 7.0


def test_manufacturer_name_strips_trailing_nuls() -> None:
    field = decode_device_info(0x2A29, b"Nordic Semiconductor\x00\x00")
    assert (field.name, field.value) == ("manufacturer_name", "Nordic Semiconductor")


@pytest.mark.parametrize(
    ("characteristic", "name"),
    [
        ("2a24", "model_number"),
        ("00002A25-0000-1000-8000-00805F9B34FB", "serial_number"),
        (0x2A26, "firmware_revision"),
        (0x2A27, "hardware_revision"),
        (0x2A28, "software_revision"),
    ],
)
def test_device_info_strings_are_named_by_characteristic(
    characteristic: int | str, name: str
) -> None:
    assert decode_device_info(characteristic, b"A1").name == name


def test_invalid_utf8_is_replaced_not_rejected() -> None:
    assert decode_device_info(0x2A24, b"BP\xe9").value == "BP\ufffd"


def test_system_id_shows_oui_and_manufacturer_identifier() -> None:
    field = decode_device_info(0x2A23, bytes.fromhex("01 02 03 04 05 AA BB CC"))
    assert (field.name, field.value) == ("system_id", "CCBBAA-0504030201")


def test_pnp_id_pn1() -> None:
    field = decode_device_info(0x2A50, bytes.fromhex("01 59 00 34 12 00 01"))
    assert (field.name, field.value) == ("pnp_id", "bluetooth:0059:1234:0100")


def test_short_system_id_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A23: payload is 7 bytes, need exactly 8"):
        decode_device_info(0x2A23, bytes(7))


def test_non_device_info_characteristic_is_unsupported() -> None:
    with pytest.raises(UnsupportedCharacteristic, match="0x2A37 is not a Device Information field"):
        decode_device_info(0x2A37, b"x")
