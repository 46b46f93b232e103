"""Pulse oximeter: spot-check 0x2A5E, continuous 0x2A5F, features 0x2A60."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_bridge.gatt import MalformedPayload, Measurement, decode, decode_plx_features
from device_bridge.gatt.encode import encode_plx_continuous, encode_plx_spot_check
from device_bridge.gatt.sfloat import Number
from telemed_core.kinds import Kind

PX1 = bytes.fromhex("00 E8 F3 84 F3")
PX2 = bytes.fromhex("00 64 00 5A 00")
PX3 = bytes.fromhex("1C 5F 00 5A 00 20 00 00 00 00 57 F0")
PX4 = bytes.fromhex("1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3")
PX5 = bytes.fromhex("0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3")
PX6 = bytes.fromhex("00 62 00 48 00")
PX7 = bytes.fromhex("11 62 00 48 00 E8 07 03 0F 08 1E 00")
PX8 = bytes.fromhex("A3 00 40 10 80 01 00")
PX9 = bytes.fromhex("00 62 80 48 80")


def spo2_and_pulse(found: list[Measurement]) -> tuple[Measurement, Measurement]:
    spo2, pulse = found
    assert (spo2.kind, spo2.unit, pulse.kind, pulse.unit) == (
        Kind.SPO2,
        "%",
        Kind.PULSE_RATE,
        "/min",
    )
    return spo2, pulse


@pytest.mark.parametrize("payload", [PX1, PX2], ids=["PX1", "PX2"])
def test_continuous_px1_and_px2_encode_the_same_values_differently(payload: bytes) -> None:
    spo2, pulse = spo2_and_pulse(decode(0x2A5F, payload))
    assert (spo2.value, pulse.value) == (100.0, 90.0)


def test_continuous_px3_keeps_status_and_pulse_amplitude_index() -> None:
    spo2, pulse = spo2_and_pulse(decode(0x2A5F, PX3))
    assert (spo2.value, pulse.value) == (95.0, 90.0)
    assert spo2.extra["measurement_status"] == ("measurement_ongoing",)
    assert spo2.extra["device_sensor_status"] == ()
    assert spo2.extra["pai_pct"] == pytest.approx(8.7)
    assert spo2.flags == ()


def test_continuous_px4_reports_normal_pair_and_keeps_fast_and_slow_in_extra() -> None:
    spo2, pulse = spo2_and_pulse(decode(0x2A5F, PX4))
    assert (spo2.value, pulse.value) == (99.0, 97.0)
    assert spo2.extra["spo2_fast_pct"] == 97.0
    assert spo2.extra["pulse_fast_bpm"] == 137.0
    assert spo2.extra["spo2_slow_pct"] == 98.0
    assert spo2.extra["pulse_slow_bpm"] == 69.0
    assert spo2.extra["measurement_status"] == ("measurement_ongoing", "fully_qualified")
    assert spo2.extra["pai_pct"] == pytest.approx(8.9)


def test_spot_check_px5_questionable_with_malfunction_is_invalid_and_timestamped() -> None:
    spo2, pulse = spo2_and_pulse(decode(0x2A5E, PX5))
    assert (spo2.value, pulse.value) == (94.0, 147.0)
    assert spo2.device_time == datetime(2024, 11, 29, 23, 8, 57, tzinfo=UTC)
    assert spo2.extra["measurement_status"] == ("measurement_ongoing", "questionable_measurement")
    assert spo2.extra["device_sensor_status"] == ("equipment_malfunction", "low_perfusion")
    assert spo2.flags == pulse.flags == ("invalid",)


def test_spot_check_px6_plain_values() -> None:
    spo2, pulse = spo2_and_pulse(decode(0x2A5E, PX6))
    assert (spo2.value, pulse.value, spo2.device_time, spo2.flags) == (98.0, 72.0, None, ())


def test_spot_check_px7_with_clock_not_set_distrusts_the_timestamp() -> None:
    spo2, _ = spo2_and_pulse(decode(0x2A5E, PX7))
    assert spo2.value == 98.0
    assert spo2.device_time is None
    assert spo2.extra["device_clock_not_set"] is True
    assert spo2.extra["unset_clock_time"] == "2024-03-15T08:30:00+00:00"


def test_px9_biased_exponent_vector_decodes_to_tiny_values_not_98_percent() -> None:
    spo2, pulse = spo2_and_pulse(decode(0x2A5F, PX9))
    assert spo2.value == pytest.approx(9.8e-7)
    assert pulse.value == pytest.approx(7.2e-7)


def test_features_px8_decode_to_names() -> None:
    features = decode_plx_features(PX8)
    assert features.supported == (
        "measurement_status_support",
        "device_status_support",
        "spo2pr_slow",
        "multiple_bonds",
    )
    assert features.measurement_status_support == ("early_estimate", "calibration_ongoing")
    assert features.device_status_support == ("non_pulsatile_signal", "questionable_pulse")


def test_features_without_support_words_have_none() -> None:
    features = decode_plx_features(bytes.fromhex("0C 00"))
    assert features.measurement_status_support is None
    assert features.device_status_support is None


def test_features_promising_support_words_that_are_missing_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A60: payload is 4 bytes"):
        decode_plx_features(PX8[:4])


@pytest.mark.parametrize(
    ("measurement_status", "device_status"),
    [
        (["measurement_unavailable"], None),
        (["invalid_measurement"], None),
        (["demonstration_data"], None),
        (None, ["sensor_disconnected"]),
        (None, ["sensor_unconnected_to_user"]),
    ],
)
def test_status_that_voids_the_value_flags_invalid(
    measurement_status: list[str] | None, device_status: list[str] | None
) -> None:
    payload = encode_plx_continuous(
        97, 70, measurement_status=measurement_status, device_status=device_status
    )
    assert all("invalid" in m.flags for m in decode(0x2A5F, payload))


def test_low_perfusion_alone_keeps_the_value_usable() -> None:
    payload = encode_plx_continuous(97, 70, device_status=["low_perfusion"])
    assert all(m.flags == () for m in decode(0x2A5F, payload))


def test_early_estimate_is_flagged_early() -> None:
    payload = encode_plx_spot_check(97, 70, measurement_status=["early_estimate"])
    assert all(m.flags == ("early",) for m in decode(0x2A5E, payload))


def test_nan_spo2_has_no_value_and_is_invalid() -> None:
    spo2, pulse = decode(0x2A5E, encode_plx_spot_check(float("nan"), 70))
    assert (spo2.value, spo2.flags, spo2.extra["special"]) == (None, ("invalid",), "nan")
    assert pulse.value == 70.0


def test_truncated_continuous_names_flags_and_needed_length() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A5F: payload is 11 bytes, flags 0x1C need exactly 12"
    ):
        decode(0x2A5F, PX3[:11])


def test_truncated_spot_check_is_malformed() -> None:
    with pytest.raises(
        MalformedPayload, match="0x2A5E: payload is 4 bytes, flags 0x00 need exactly 5"
    ):
        decode(0x2A5E, PX6[:4])


def test_encode_spot_check_reproduces_px5() -> None:
    payload = encode_plx_spot_check(
        Number(940, -1),
        Number(1470, -1),
        timestamp=datetime(2024, 11, 29, 23, 8, 57, tzinfo=UTC),
        measurement_status=["measurement_ongoing", "questionable_measurement"],
        device_status=["equipment_malfunction", "low_perfusion"],
        pai_pct=Number(870, -2),
    )
    assert payload == PX5


def test_encode_continuous_reproduces_px4() -> None:
    payload = encode_plx_continuous(
        Number(990, -1),
        Number(970, -1),
        fast=(Number(970, -1), Number(1370, -1)),
        slow=(Number(980, -1), Number(690, -1)),
        measurement_status=0x0120,
        device_status=0,
        pai_pct=Number(890, -2),
    )
    assert payload == PX4


def test_spot_check_round_trip_with_unset_clock() -> None:
    stamp = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    payload = encode_plx_spot_check(96.5, 61, timestamp=stamp, clock_not_set=True, pai_pct=2.3)
    spo2, pulse = decode(0x2A5E, payload)
    assert (spo2.value, pulse.value, spo2.extra["pai_pct"]) == (96.5, 61.0, 2.3)
    assert spo2.extra["unset_clock_time"] == stamp.isoformat()
