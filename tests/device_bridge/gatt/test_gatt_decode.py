"""``decode``: characteristic routing, errors, and what every Measurement promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from device_bridge.gatt import (
    MEASUREMENT_CHARACTERISTICS,
    MalformedPayload,
    Measurement,
    UnsupportedCharacteristic,
    decode,
    is_measurement,
    sig_uuid,
)
from device_bridge.gatt.encode import encode_blood_pressure
from telemed_core.kinds import Kind
from telemed_core.values import Reading

HR6 = bytes.fromhex("10 48 6C 03")


@pytest.mark.parametrize(
    "characteristic",
    [
        0x2A37,
        "2a37",
        "2A37",
        "0x2A37",
        "00002a37-0000-1000-8000-00805f9b34fb",
        "00002A37-0000-1000-8000-00805F9B34FB",
    ],
)
def test_characteristic_may_be_an_int_or_any_uuid_spelling(characteristic: int | str) -> None:
    assert [m.value for m in decode(characteristic, HR6)] == [72.0, 855.46875]


def test_sig_uuid_expands_a_16_bit_number() -> None:
    assert sig_uuid(0x2A37) == "00002a37-0000-1000-8000-00805f9b34fb"


def test_unknown_characteristic_is_unsupported() -> None:
    with pytest.raises(UnsupportedCharacteristic, match="0x2A00 is not a supported characteristic"):
        decode(0x2A00, b"\x00")


def test_known_non_measurement_names_the_decoder_to_use() -> None:
    with pytest.raises(
        UnsupportedCharacteristic, match="0x2A34 is not a measurement; use decode_glucose_context"
    ):
        decode("2a34", b"\x00\x01\x00")


@pytest.mark.parametrize(
    "characteristic", ["fb005c82-02e7-f387-1cad-8acd2d8df0c8", "2a3", "zz37", 0x10000, -1]
)
def test_vendor_or_garbled_characteristic_is_unsupported(characteristic: int | str) -> None:
    with pytest.raises(UnsupportedCharacteristic):
        decode(characteristic, b"\x00")


def test_both_errors_are_value_errors() -> None:
    assert issubclass(MalformedPayload, ValueError)
    assert issubclass(UnsupportedCharacteristic, ValueError)


def test_is_measurement_separates_readings_from_metadata() -> None:
    assert is_measurement("2a35")
    assert not is_measurement(0x2A34)
    assert MEASUREMENT_CHARACTERISTICS == {
        0x2A37, 0x2A5E, 0x2A5F, 0x2A35, 0x2A36, 0x2A1C, 0x2A1E, 0x2A9D, 0x2A18, 0x2A19,
    }  # fmt: skip


def test_device_timestamps_are_read_in_the_device_zone_and_returned_in_utc() -> None:
    payload = encode_blood_pressure(
        122, 80, 94, timestamp=datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
    )  # written as wall clock 08:30
    found = decode(0x2A35, payload, device_tz=timezone(timedelta(hours=2)))
    assert {m.device_time for m in found} == {datetime(2024, 3, 15, 6, 30, tzinfo=UTC)}


def test_bytearray_payload_is_accepted() -> None:
    assert decode(0x2A37, bytearray(HR6))[0].value == 72.0


def test_measurement_refuses_a_unit_other_than_the_kinds() -> None:
    with pytest.raises(ValueError, match="cannot be a Measurement"):
        Measurement(kind=Kind.BP_SYSTOLIC, unit="kPa", value=16.3)


def test_measurement_without_value_must_be_invalid() -> None:
    with pytest.raises(ValueError, match="invalid"):
        Measurement(kind=Kind.SPO2, unit="%", value=None)


def test_measurement_extra_is_read_only() -> None:
    (heart_rate, _) = decode(0x2A37, HR6)
    with pytest.raises(TypeError):
        heart_rate.extra["sensor_contact"] = "detected"  # type: ignore[index]


def test_decoded_measurements_convert_to_kernel_readings() -> None:
    payload = encode_blood_pressure(
        122, 80, float("nan"), timestamp=datetime(2024, 3, 15, 8, 30, tzinfo=UTC), pulse_bpm=72
    )
    received = datetime(2024, 3, 15, 8, 31, tzinfo=UTC)
    readings = [
        Reading(
            seq=seq,
            patient_id="p1",
            device_id="bpm-1",
            kind=m.kind,
            value=m.value,
            unit=m.unit,
            measured_at=m.device_time or received,
            device_time=m.device_time,
            received_at=received,
            flags=list(m.flags),
        )
        for seq, m in enumerate(decode(0x2A35, payload), start=1)
    ]
    assert [r.value for r in readings] == [122.0, 80.0, None, 72.0]
