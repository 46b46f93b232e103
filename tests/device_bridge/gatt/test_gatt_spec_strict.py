"""The parsers follow the GATT specifications to the letter (ble-gatt.md).

Optional fields are present exactly as the flags say: a payload one byte too short or too long
for its flags is malformed. A fixed-length characteristic with extra bytes is malformed. Encoded
values round-trip through the decoders. Intermediate Cuff Pressure decodes the same optional
fields as the Blood Pressure Measurement.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from device_bridge.gatt import (
    MalformedPayload,
    decode,
    decode_blood_pressure_feature,
    decode_body_sensor_location,
    decode_current_time,
    decode_date_time,
    decode_device_info,
    decode_racp_request,
    decode_racp_response,
    decode_temperature_type,
    decode_weight_scale_feature,
)
from device_bridge.gatt import encode as enc
from telemed_core.kinds import Kind

PROPERTY = settings(max_examples=int(os.environ.get("TELEMED_FUZZ_EXAMPLES", "150")), deadline=None)
STAMPS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
OPTIONAL_STAMP = st.none() | STAMPS
USER_IDS = st.none() | st.integers(0, 0xFE)
BP_STATUS = st.none() | st.lists(
    st.sampled_from(["body_movement", "cuff_too_loose", "irregular_pulse", "improper_position"]),
    unique=True,
)

# One valid payload per measurement characteristic, with every optional field the flags allow.
VALID: dict[int, bytes] = {
    0x2A37: enc.encode_heart_rate(72, rr_ms=[800.0], energy_kj=12, contact=True),
    0x2A5E: enc.encode_plx_spot_check(
        97,
        70,
        timestamp=datetime(2024, 3, 15, tzinfo=UTC),
        measurement_status=0,
        device_status=0,
        pai_pct=2.5,
    ),
    0x2A5F: enc.encode_plx_continuous(
        97, 70, fast=(96, 71), slow=(97, 69), measurement_status=0, device_status=0, pai_pct=2.5
    ),
    0x2A35: enc.encode_blood_pressure(
        122,
        80,
        94,
        timestamp=datetime(2024, 3, 15, tzinfo=UTC),
        pulse_bpm=72,
        user_id=1,
        status=[],
    ),
    0x2A36: enc.encode_intermediate_cuff_pressure(
        150, timestamp=datetime(2024, 3, 15, tzinfo=UTC), pulse_bpm=70, user_id=1, status=[]
    ),
    0x2A1C: enc.encode_temperature(
        37.0, timestamp=datetime(2024, 3, 15, tzinfo=UTC), temperature_type="ear"
    ),
    0x2A1E: enc.encode_intermediate_temperature(36.5, temperature_type="mouth"),
    0x2A9D: enc.encode_weight(
        72.5, timestamp=datetime(2024, 3, 15, tzinfo=UTC), user_id=2, bmi_kg_m2=23.1, height=1.77
    ),
    0x2A18: enc.encode_glucose(
        5,
        datetime(2024, 3, 15, tzinfo=UTC),
        concentration=0.001,
        time_offset_min=-5,
        sensor_status=[],
    ),
    0x2A19: enc.encode_battery_level(80),
}
MINIMAL: dict[int, bytes] = {
    0x2A37: enc.encode_heart_rate(72),
    0x2A5E: enc.encode_plx_spot_check(97, 70),
    0x2A5F: enc.encode_plx_continuous(97, 70),
    0x2A35: enc.encode_blood_pressure(122, 80, 94),
    0x2A36: enc.encode_intermediate_cuff_pressure(150),
    0x2A1C: enc.encode_temperature(37.0),
    0x2A1E: enc.encode_intermediate_temperature(36.5),
    0x2A9D: enc.encode_weight(72.5),
    0x2A18: enc.encode_glucose(5, None),
}
FIXED: dict[str, tuple[Callable[[bytes], object], bytes]] = {
    "body_sensor_location": (decode_body_sensor_location, b"\x01"),
    "temperature_type": (decode_temperature_type, b"\x03"),
    "bp_feature": (decode_blood_pressure_feature, b"\xff\x01"),
    "weight_scale_feature": (decode_weight_scale_feature, b"\x07\x00\x00\x00"),
    "date_time": (decode_date_time, enc.encode_date_time(datetime(2024, 3, 15, tzinfo=UTC))),
    "current_time": (
        decode_current_time,
        enc.encode_current_time(datetime(2024, 3, 15, tzinfo=UTC)),
    ),
    "system_id": (lambda p: decode_device_info(0x2A23, p), bytes(range(8))),
    "pnp_id": (lambda p: decode_device_info(0x2A50, p), bytes([1, 2, 3, 4, 5, 6, 7])),
    "racp_request": (decode_racp_request, enc.encode_racp_report_all()),
    "racp_response_code": (decode_racp_response, enc.encode_racp_response(1, 1)),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("characteristic", sorted(VALID), ids=hex)
def test_payload_with_every_optional_field_decodes(characteristic: int) -> None:
    assert decode(characteristic, VALID[characteristic])


@pytest.mark.parametrize("characteristic", sorted(VALID), ids=hex)
def test_one_byte_more_than_the_flags_promise_is_malformed(characteristic: int) -> None:
    with pytest.raises(MalformedPayload, match=f"^0x{characteristic:04X}: "):
        decode(characteristic, VALID[characteristic] + b"\x00")


@pytest.mark.parametrize("characteristic", sorted(MINIMAL), ids=hex)
def test_one_byte_more_than_a_minimal_payload_is_malformed(characteristic: int) -> None:
    with pytest.raises(MalformedPayload):
        decode(characteristic, MINIMAL[characteristic] + b"\x00")


@pytest.mark.parametrize("characteristic", sorted(VALID), ids=hex)
def test_one_byte_less_than_the_flags_promise_is_malformed(characteristic: int) -> None:
    with pytest.raises(MalformedPayload):
        decode(characteristic, VALID[characteristic][:-1])


def test_heart_rate_with_odd_rr_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="pairs"):
        decode(0x2A37, enc.encode_heart_rate(72, rr_ms=[800.0]) + b"\x01")


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_length_characteristic_decodes_at_its_exact_length(name: str) -> None:
    decoder, payload = FIXED[name]
    decoder(payload)


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_length_characteristic_with_extra_bytes_is_malformed(name: str) -> None:
    decoder, payload = FIXED[name]
    with pytest.raises(MalformedPayload):
        decoder(payload + b"\x00")


def test_icp_decodes_pulse_rate_user_id_and_status_like_the_measurement() -> None:
    stamp = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
    payload = enc.encode_intermediate_cuff_pressure(
        150, timestamp=stamp, pulse_bpm=71, user_id=3, status=["body_movement"]
    )
    cuff, pulse = decode(0x2A36, payload)
    assert (cuff.kind, cuff.value, pulse.kind, pulse.value) == (
        Kind.CUFF_PRESSURE,
        150.0,
        Kind.PULSE_RATE,
        71.0,
    )
    assert cuff.device_time == pulse.device_time == stamp
    assert pulse.extra["user_id"] == 3
    assert pulse.extra["measurement_status"] == ("body_movement",)
    assert set(pulse.flags) == {"motion", "early"}


def test_icp_without_pulse_flag_gives_only_the_cuff_pressure() -> None:
    (cuff,) = decode(0x2A36, enc.encode_intermediate_cuff_pressure(150, user_id=0xFF))
    assert cuff.kind is Kind.CUFF_PRESSURE
    assert cuff.extra["user_id"] is None


@PROPERTY
@given(
    systolic=st.integers(40, 300),
    diastolic=st.integers(20, 200),
    mean=st.integers(30, 250),
    pulse=st.none() | st.integers(20, 250),
    stamp=OPTIONAL_STAMP,
    user_id=USER_IDS,
    status=BP_STATUS,
)
def test_blood_pressure_round_trips(
    systolic: int,
    diastolic: int,
    mean: int,
    pulse: int | None,
    stamp: datetime | None,
    user_id: int | None,
    status: list[str] | None,
) -> None:
    payload = enc.encode_blood_pressure(
        systolic,
        diastolic,
        mean,
        pulse_bpm=pulse,
        timestamp=stamp,
        user_id=user_id,
        status=status,
    )
    found = {m.kind: m for m in decode(0x2A35, payload)}
    expected = {Kind.BP_SYSTOLIC: systolic, Kind.BP_DIASTOLIC: diastolic, Kind.BP_MEAN: mean}
    if pulse is not None:
        expected[Kind.PULSE_RATE] = pulse
    assert {kind: m.value for kind, m in found.items()} == expected
    assert {m.device_time for m in found.values()} == {stamp}
    for m in found.values():
        assert m.extra.get("user_id", "absent") == ("absent" if user_id is None else user_id)
        if status is not None:
            assert set(m.extra["measurement_status"]) == set(status)


@PROPERTY
@given(
    cuff=st.integers(0, 300),
    pulse=st.none() | st.integers(20, 250),
    stamp=OPTIONAL_STAMP,
    user_id=USER_IDS,
    status=BP_STATUS,
)
def test_intermediate_cuff_pressure_round_trips(
    cuff: int,
    pulse: int | None,
    stamp: datetime | None,
    user_id: int | None,
    status: list[str] | None,
) -> None:
    payload = enc.encode_intermediate_cuff_pressure(
        cuff, pulse_bpm=pulse, timestamp=stamp, user_id=user_id, status=status
    )
    found = decode(0x2A36, payload)
    assert [(m.kind, m.value) for m in found] == [(Kind.CUFF_PRESSURE, cuff)] + (
        [] if pulse is None else [(Kind.PULSE_RATE, pulse)]
    )
    assert {m.device_time for m in found} == {stamp}
    if status is not None:
        assert set(found[0].extra["measurement_status"]) == set(status)


@PROPERTY
@given(
    hr_bpm=st.integers(0, 0xFFFF),
    rr_ticks=st.lists(st.integers(0, 0xFFFF), max_size=9),
    energy=st.none() | st.integers(0, 0xFFFF),
    contact=st.sampled_from([None, True]),
)
def test_heart_rate_round_trips(
    hr_bpm: int, rr_ticks: list[int], energy: int | None, contact: bool | None
) -> None:
    rr_ms = [ticks * 1000 / 1024 for ticks in rr_ticks]
    payload = enc.encode_heart_rate(hr_bpm, rr_ms=rr_ms, energy_kj=energy, contact=contact)
    heart, *intervals = decode(0x2A37, payload)
    assert heart.value == hr_bpm
    assert heart.extra.get("energy_expended_kj") == energy
    assert [m.extra["rr_ticks"] for m in intervals] == rr_ticks


@PROPERTY
@given(
    spo2=st.integers(0, 100),
    pulse=st.integers(0, 300),
    stamp=OPTIONAL_STAMP,
    pai_tenths=st.none() | st.integers(0, 200),
)
def test_spot_check_round_trips(
    spo2: int, pulse: int, stamp: datetime | None, pai_tenths: int | None
) -> None:
    pai = None if pai_tenths is None else pai_tenths / 10
    payload = enc.encode_plx_spot_check(spo2, pulse, timestamp=stamp, pai_pct=pai)
    oxygen, rate = decode(0x2A5E, payload)
    assert (oxygen.value, rate.value, oxygen.device_time) == (spo2, pulse, stamp)
    assert oxygen.extra.get("pai_pct") == pai


@PROPERTY
@given(
    tenths=st.integers(300, 450),
    stamp=OPTIONAL_STAMP,
    site=st.none() | st.sampled_from(["armpit", "ear", "mouth", "rectum"]),
)
def test_temperature_round_trips(tenths: int, stamp: datetime | None, site: str | None) -> None:
    payload = enc.encode_temperature(tenths / 10, timestamp=stamp, temperature_type=site)
    (temperature,) = decode(0x2A1C, payload)
    assert temperature.value == pytest.approx(tenths / 10)
    assert temperature.device_time == stamp
    assert temperature.extra.get("temperature_type") == site


@PROPERTY
@given(ticks=st.integers(0, 0xFFFE), stamp=OPTIONAL_STAMP, user_id=USER_IDS)
def test_weight_round_trips(ticks: int, stamp: datetime | None, user_id: int | None) -> None:
    payload = enc.encode_weight(ticks * 0.005, timestamp=stamp, user_id=user_id)
    (weight,) = decode(0x2A9D, payload)
    assert weight.value == pytest.approx(ticks * 0.005)
    assert weight.device_time == stamp


@PROPERTY
@given(level=st.integers(0, 100))
def test_battery_level_round_trips(level: int) -> None:
    (battery,) = decode(0x2A19, enc.encode_battery_level(level))
    assert battery.value == level


@PROPERTY
@given(characteristic=st.sampled_from(sorted(VALID)), extra=st.binary(min_size=1, max_size=8))
def test_any_trailing_bytes_make_a_valid_payload_malformed(
    characteristic: int, extra: bytes
) -> None:
    payload = VALID[characteristic] + extra
    assume(characteristic != 0x2A37 or len(extra) % 2)  # an even tail is more RR intervals
    with pytest.raises(MalformedPayload):
        decode(characteristic, payload)
