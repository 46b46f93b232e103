"""Weight scale: Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from device_bridge.gatt import MalformedPayload, decode, decode_weight_scale_feature
from device_bridge.gatt.encode import encode_weight
from telemed_core.kinds import Kind

WS1 = bytes.fromhex("00 B0 36")
WS2 = bytes.fromhex("01 54 3D")
WS3 = bytes.fromhex("02 B0 36 E7 07 0C 19 0E 1E 2D")
WS4 = bytes.fromhex("0C B0 36 05 F5 00 D6 06")
WS5 = bytes.fromhex("06 98 3A E8 07 06 01 07 00 00 01")
WS6 = bytes.fromhex("00 FF FF")


def test_ws1_si_weight_uses_5_gram_steps() -> None:
    (weight,) = decode(0x2A9D, WS1)
    assert (weight.kind, weight.value, weight.unit) == (Kind.BODY_WEIGHT, 70.0, "kg")


def test_ws2_imperial_weight_is_converted_from_pounds() -> None:
    (weight,) = decode(0x2A9D, WS2)
    assert weight.value == pytest.approx(157.0 * 0.45359237)
    assert weight.extra["unit_on_wire"] == "lb"


def test_ws3_timestamp_becomes_device_time() -> None:
    (weight,) = decode(0x2A9D, WS3)
    assert weight.device_time == datetime(2023, 12, 25, 14, 30, 45, tzinfo=UTC)


def test_ws4_keeps_user_bmi_and_height() -> None:
    (weight,) = decode(0x2A9D, WS4)
    assert weight.value == 70.0
    assert weight.extra["user_id"] == 5
    assert weight.extra["bmi_kg_m2"] == 24.5
    assert weight.extra["height_m"] == 1.75


def test_ws5_timestamp_and_user() -> None:
    (weight,) = decode(0x2A9D, WS5)
    assert weight.value == 75.0
    assert weight.device_time == datetime(2024, 6, 1, 7, 0, tzinfo=UTC)
    assert weight.extra["user_id"] == 1


def test_ws6_unsuccessful_measurement_is_invalid_without_value() -> None:
    (weight,) = decode(0x2A9D, WS6)
    assert (weight.value, weight.flags, weight.extra["special"]) == (
        None,
        ("invalid",),
        "unsuccessful",
    )


def test_imperial_height_is_converted_from_tenths_of_inches() -> None:
    (weight,) = decode(0x2A9D, encode_weight(180.0, unit="lb", bmi_kg_m2=25.1, height=70.0))
    assert weight.extra["height_m"] == pytest.approx(70.0 * 0.0254)


def test_bmi_flag_without_height_is_malformed() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A9D: payload is 6 bytes, flags 0x0C need exactly 8"
    ):
        decode(0x2A9D, WS4[:6])


def test_one_byte_weight_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A9D"):
        decode(0x2A9D, WS1[:2])


@pytest.mark.parametrize(
    ("payload", "build"),
    [
        (WS1, lambda: encode_weight(70.0)),
        (WS2, lambda: encode_weight(157.0, unit="lb")),
        (
            WS3,
            lambda: encode_weight(70.0, timestamp=datetime(2023, 12, 25, 14, 30, 45, tzinfo=UTC)),
        ),
        (WS4, lambda: encode_weight(70.0, user_id=5, bmi_kg_m2=24.5, height=1.75)),
        (WS6, lambda: encode_weight(None)),
    ],
    ids=["WS1", "WS2", "WS3", "WS4", "WS6"],
)
def test_encode_weight_reproduces_vector(payload: bytes, build: Callable[[], bytes]) -> None:
    assert build() == payload


def test_weight_round_trip_is_within_the_5_gram_resolution() -> None:
    (weight,) = decode(0x2A9D, encode_weight(82.347))
    assert weight.value == pytest.approx(82.347, abs=0.0025)


def test_encode_weight_refuses_bmi_without_height() -> None:
    with pytest.raises(ValueError, match="together"):
        encode_weight(70.0, bmi_kg_m2=22.0)


def test_feature_word_gives_resolutions() -> None:
    # b0 timestamp, b1 multiple users, b2 BMI, weight code 4 (0.05 kg), height code 3 (0.001 m)
    bits = 0b111 | 4 << 3 | 3 << 7
    features = decode_weight_scale_feature(bits.to_bytes(4, "little"))
    assert (features.timestamp, features.multiple_users, features.bmi) == (True, True, True)
    assert (features.weight_resolution_kg, features.weight_resolution_lb) == (0.05, 0.1)
    assert (features.height_resolution_m, features.height_resolution_in) == (0.001, 0.1)


def test_feature_with_unspecified_resolution_gives_none() -> None:
    features = decode_weight_scale_feature(bytes(4))
    assert features.weight_resolution_kg is None
    assert features.height_resolution_m is None
