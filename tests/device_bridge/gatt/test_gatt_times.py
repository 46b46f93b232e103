"""SIG Date Time (0x2A08) and Current Time (0x2A2B)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from device_bridge.gatt import MalformedPayload, decode_current_time, decode_date_time
from device_bridge.gatt.encode import encode_current_time, encode_date_time

DT3 = bytes.fromhex("E8 07 03 0F 08 1E 00")
CT1 = bytes.fromhex("E8 07 05 11 10 0B 1A 05 FF 01")
HELSINKI_WINTER = timezone(timedelta(hours=2))


def test_date_time_vector_dt3_decodes_to_utc() -> None:
    assert decode_date_time(DT3) == datetime(2024, 3, 15, 8, 30, tzinfo=UTC)


def test_date_time_is_read_as_wall_clock_of_the_device_zone() -> None:
    assert decode_date_time(DT3, device_tz=HELSINKI_WINTER) == datetime(
        2024, 3, 15, 6, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "wire",
    [
        "00 00 00 00 00 00 00",
        "00 00 03 0F 08 1E 00",
        "E8 07 00 0F 08 1E 00",
        "E8 07 03 00 08 1E 00",
    ],
)
def test_date_time_with_unknown_year_month_or_day_is_none(wire: str) -> None:
    assert decode_date_time(bytes.fromhex(wire)) is None


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("E8 07 0D 0F 08 1E 00", "2024-13-15 08:30:00 is not a valid date-time"),
        ("E8 07 02 1E 08 1E 00", "2024-02-30"),
        ("E8 07 03 0F 18 00 00", "24:00:00"),
        ("2C 06 01 01 00 00 00", "1580-01-01 00:00:00 is before 1582"),
    ],
)
def test_impossible_date_time_is_malformed(wire: str, problem: str) -> None:
    with pytest.raises(MalformedPayload, match=problem):
        decode_date_time(bytes.fromhex(wire))


def test_short_date_time_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A08: payload is 6 bytes, need exactly 7"):
        decode_date_time(DT3[:6])


def test_current_time_vector_ct1_decodes_all_fields() -> None:
    current = decode_current_time(CT1)
    assert current.device_time == datetime(2024, 5, 17, 16, 11, 26, 996093, tzinfo=UTC)
    assert current.day_of_week == 5
    assert current.fractions256 == 255
    assert current.adjust_reasons == ("manual",)


def test_current_time_with_unknown_date_has_no_device_time() -> None:
    assert decode_current_time(bytes(10)).device_time is None


def test_short_current_time_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="0x2A2B"):
        decode_current_time(CT1[:9])


def test_encode_current_time_reproduces_ct1() -> None:
    moment = datetime(2024, 5, 17, 16, 11, 26, 996094, tzinfo=UTC)
    assert encode_current_time(moment, adjust_reasons=("manual",)) == CT1


def test_encode_date_time_writes_device_wall_clock() -> None:
    moment = datetime(2024, 3, 15, 6, 30, tzinfo=UTC)
    assert encode_date_time(moment, device_tz=HELSINKI_WINTER) == DT3


def test_encode_date_time_of_none_is_unknown() -> None:
    assert encode_date_time(None) == bytes(7)


def test_encode_date_time_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_date_time(datetime(2024, 3, 15, 8, 30))


def test_date_time_that_leaves_the_datetime_range_in_utc_is_malformed() -> None:
    last_hour = bytes.fromhex("0F 27 0C 1F 17 00 00")  # 9999-12-31 23:00 on the device
    with pytest.raises(MalformedPayload, match="9999-12-31 23:00:00 is not a valid date-time"):
        decode_date_time(last_hour, device_tz=timezone(timedelta(hours=-14)))
