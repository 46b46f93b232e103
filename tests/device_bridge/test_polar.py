"""Polar H10 PMD: commands, control-point responses, ECG frames and clock anchoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device_bridge import polar
from device_bridge.gatt import MalformedPayload

PM1 = bytes.fromhex("00 00 94 35 77 00 00 00 00 00 02 80 FF 02 80 00")
ECG_PERIOD_NS = 1e9 / 130


def frame_of(count: int, last_ns: int) -> polar.EcgFrame:
    return polar.EcgFrame(last_ns, tuple(range(count)))


def test_pm1_polar_sdk_vector_decodes_samples_and_timestamp() -> None:
    frame = polar.decode_ecg_frame(PM1)
    assert frame.samples_uv == (-32766, 32770)
    assert frame.sensor_timestamp_ns == 2_000_000_000
    assert frame.sensor_time == datetime(2000, 1, 1, 0, 0, 2, tzinfo=UTC)


def test_pm5_start_ecg_command_is_130_hz_14_bit() -> None:
    assert polar.START_ECG == bytes.fromhex("02 00 00 01 82 00 01 01 0E 00")
    assert polar.encode_start_ecg() == polar.START_ECG


def test_pm8_stop_ecg_is_op_3_not_get_settings() -> None:
    assert polar.STOP_ECG == bytes.fromhex("03 00")
    assert polar.encode_get_settings() == bytes.fromhex("01 00")


def test_pm9_start_acc_command_encodes_every_setting() -> None:
    settings = {
        polar.PmdSetting.SAMPLE_RATE: [200],
        polar.PmdSetting.RESOLUTION: [16],
        polar.PmdSetting.RANGE: [8],
    }
    command = polar.encode_start(polar.PmdMeasurement.ACC, settings)
    assert command == bytes.fromhex("02 02 00 01 C8 00 01 01 10 00 02 01 08 00")


def test_pm2_get_settings_response_keeps_raw_params() -> None:
    response = polar.decode_control_point_response(bytes.fromhex("F0 01 02 00 00 FF FF FF"))
    assert (response.op, response.measurement, response.succeeded) == (
        1,
        polar.PmdMeasurement.ACC,
        True,
    )
    assert response.more_frames is False
    assert response.params == b"\xff\xff\xff"


def test_pm3_error_response_names_its_status() -> None:
    response = polar.decode_control_point_response(bytes.fromhex("F0 01 06 07 00"))
    assert (response.measurement, response.succeeded) == (polar.PmdMeasurement.MAG, False)
    assert response.status_name == "invalid_resolution"


def test_pm6_ecg_settings_response_parses_to_sample_rate_and_resolution() -> None:
    payload = bytes.fromhex("F0 01 00 00 00 00 01 82 00 01 01 0E 00")
    assert polar.decode_control_point_response(payload).settings() == {0: (130,), 1: (14,)}


def test_pm7_start_ecg_success() -> None:
    response = polar.decode_control_point_response(bytes.fromhex("F0 02 00 00 00"))
    assert (response.op, response.succeeded) == (polar.PmdOp.START, True)


def test_pm4_feature_read_lists_ecg_and_acc() -> None:
    assert polar.decode_features(bytes.fromhex("0F 05 00 00")) == {0, 2}


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("F0 01 02", "need at least 4"),
        ("0F 01 02 00 00", "starts with 0x0F, expected 0xF0"),
    ],
)
def test_malformed_control_point_response(payload: str, problem: str) -> None:
    with pytest.raises(MalformedPayload, match=problem):
        polar.decode_control_point_response(bytes.fromhex(payload))


def test_settings_with_unknown_type_are_malformed() -> None:
    with pytest.raises(MalformedPayload, match="unknown setting type 0xFF"):
        polar.decode_settings(bytes.fromhex("FF FF FF"))


def test_settings_with_missing_values_are_malformed() -> None:
    with pytest.raises(MalformedPayload, match="type 0 needs 4 value bytes"):
        polar.decode_settings(bytes.fromhex("00 02 82 00"))


def test_acc_frame_is_not_an_ecg_frame() -> None:
    pm10 = bytes.fromhex("02 00 94 35 77 00 00 00 00 01 10 00 F0 FF E8 03")
    with pytest.raises(MalformedPayload, match="measurement type is 2"):
        polar.decode_ecg_frame(pm10)


def test_compressed_ecg_frame_is_refused_by_name() -> None:
    with pytest.raises(MalformedPayload, match="compressed frame type 0x80"):
        polar.decode_ecg_frame(PM1[:9] + b"\x80" + PM1[10:])


def test_ecg_frame_with_partial_sample_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="5 sample bytes is not a multiple of 3"):
        polar.decode_ecg_frame(PM1[:-1])


def test_ecg_frame_without_samples_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="need at least 13"):
        polar.decode_ecg_frame(PM1[:10])


def test_encode_ecg_frame_reproduces_pm1() -> None:
    assert polar.encode_ecg_frame(2_000_000_000, [-32766, 32770]) == PM1


def test_ecg_frame_round_trip_keeps_24_bit_extremes() -> None:
    samples = [-(1 << 23), (1 << 23) - 1, 0, -1]
    assert polar.decode_ecg_frame(polar.encode_ecg_frame(5, samples)).samples_uv == tuple(samples)


def test_first_sample_at_receive_puts_last_sample_at_receipt() -> None:
    received = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    start = polar.first_sample_at_receive(frame_of(131, 0), received)
    assert start == received - timedelta(seconds=1)


def test_clock_anchors_on_first_frame_regardless_of_sensor_epoch() -> None:
    clock = polar.EcgClock()
    received = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    # a strap reset to 2019 reports a sensor time years in the past
    start, reanchored = clock.first_sample_time(frame_of(131, 600 * 10**15), received)
    assert reanchored is True
    assert start == received - timedelta(seconds=1)


def test_clock_keeps_consecutive_frames_contiguous_despite_radio_jitter() -> None:
    clock = polar.EcgClock()
    received = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    first_last_ns = 10**12
    clock.first_sample_time(frame_of(73, first_last_ns), received)
    next_last_ns = first_last_ns + round(73 * ECG_PERIOD_NS)
    late = received + timedelta(seconds=73 / 130 + 0.2)  # this one sat 200 ms in a buffer
    start, reanchored = clock.first_sample_time(frame_of(73, next_last_ns), late)
    assert reanchored is False
    expected = received + timedelta(seconds=1 / 130)
    assert abs((start - expected).total_seconds()) < 1e-6


def test_clock_tightens_its_offset_on_a_faster_frame() -> None:
    clock = polar.EcgClock()
    received = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    clock.first_sample_time(frame_of(1, 10**12), received)
    early = received + timedelta(seconds=0.9)  # sensor says 1 s later, arrived after 0.9 s
    start, reanchored = clock.first_sample_time(frame_of(1, 10**12 + 10**9), early)
    assert (start, reanchored) == (early, False)


def test_clock_reanchors_when_the_sensor_clock_jumps() -> None:
    clock = polar.EcgClock()
    received = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    clock.first_sample_time(frame_of(1, 10**15), received)
    later = received + timedelta(seconds=10)
    start, reanchored = clock.first_sample_time(frame_of(1, 5 * 10**9), later)  # strap reset
    assert (start, reanchored) == (later, True)


def test_clock_refuses_naive_receive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        polar.EcgClock().first_sample_time(frame_of(1, 0), datetime(2025, 1, 1))
