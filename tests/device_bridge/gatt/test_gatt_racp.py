"""Record Access Control Point (0x2A52): requests for a watermark sync and device responses."""

from __future__ import annotations

import pytest

from device_bridge.gatt import (
    MalformedPayload,
    RacpOp,
    RacpOperator,
    decode_racp_request,
    decode_racp_response,
    encode_racp_abort,
    encode_racp_count_all,
    encode_racp_count_from,
    encode_racp_report_all,
    encode_racp_report_from,
    encode_racp_report_range,
    encode_racp_sync_request,
)
from device_bridge.gatt.racp import RacpResponseCode, encode_racp_record_count, encode_racp_response


def test_ra3_report_records_from_sequence_number() -> None:
    assert encode_racp_report_from(10) == bytes.fromhex("01 03 01 0A 00")


def test_ra4_report_records_in_sequence_range() -> None:
    assert encode_racp_report_range(10, 20) == bytes.fromhex("01 04 01 0A 00 14 00")


def test_report_all_count_and_abort_commands() -> None:
    assert encode_racp_report_all() == bytes.fromhex("01 01")
    assert encode_racp_count_all() == bytes.fromhex("04 01")
    assert encode_racp_count_from(0x1234) == bytes.fromhex("04 03 01 34 12")
    assert encode_racp_abort() == bytes.fromhex("03 00")


def test_sync_without_watermark_asks_for_all_records() -> None:
    assert encode_racp_sync_request(None) == bytes.fromhex("01 01")


def test_sync_asks_for_records_after_the_watermark() -> None:
    assert encode_racp_sync_request(9) == bytes.fromhex("01 03 01 0A 00")


def test_sync_at_the_largest_sequence_number_asks_for_all_records() -> None:
    assert encode_racp_sync_request(0xFFFF) == bytes.fromhex("01 01")


def test_sequence_number_outside_u16_is_refused() -> None:
    with pytest.raises(ValueError, match="not a u16"):
        encode_racp_report_from(0x10000)


def test_success_response_completes_the_sync() -> None:
    response = decode_racp_response(bytes.fromhex("06 00 01 01"))
    assert (response.request_op, response.succeeded, response.no_records_found) == (1, True, False)


def test_no_records_found_response() -> None:
    response = decode_racp_response(bytes.fromhex("06 00 01 06"))
    assert (response.succeeded, response.no_records_found) == (False, True)


def test_error_response_keeps_its_code() -> None:
    response = decode_racp_response(bytes.fromhex("06 00 01 05"))
    assert response.response_code == RacpResponseCode.INVALID_OPERAND
    assert not response.succeeded


@pytest.mark.parametrize(
    ("wire", "count"), [("05 00 2A 00", 42), ("05 00 07", 7), ("05 00 01 00 01 00", 65537)]
)
def test_number_of_records_accepts_u8_u16_and_u32(wire: str, count: int) -> None:
    assert decode_racp_response(bytes.fromhex(wire)).record_count == count


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("05 00 01 02 03", "number of records is 3 bytes"),
        ("06 00 01", "payload is 3 bytes, need exactly 4"),
        ("01 03 01 0A 00", "op code 0x01 is not a response"),
        ("06", "payload is 1 bytes, need at least 2"),
    ],
)
def test_malformed_response_is_rejected(wire: str, problem: str) -> None:
    with pytest.raises(MalformedPayload, match=f"0x2A52: {problem}"):
        decode_racp_response(bytes.fromhex(wire))


def test_device_side_decodes_the_sync_request() -> None:
    request = decode_racp_request(encode_racp_report_range(10, 20))
    assert (request.op, request.operator) == (RacpOp.REPORT_RECORDS, RacpOperator.WITHIN_RANGE)
    assert request.sequence_numbers == (10, 20)


def test_request_filtered_by_user_facing_time_is_not_supported() -> None:
    with pytest.raises(MalformedPayload, match="filter type 0x02"):
        decode_racp_request(bytes.fromhex("01 03 02 E8 07 03 0F 08 1E 00"))


def test_request_with_reserved_operator_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="operator 0x07 is reserved"):
        decode_racp_request(bytes.fromhex("01 07"))


def test_device_side_encoders_round_trip() -> None:
    assert decode_racp_response(encode_racp_record_count(300)).record_count == 300
    response = decode_racp_response(
        encode_racp_response(RacpOp.REPORT_RECORDS, RacpResponseCode.SUCCESS)
    )
    assert response.succeeded and response.request_op == RacpOp.REPORT_RECORDS
