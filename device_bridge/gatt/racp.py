"""Record Access Control Point (0x2A52): pull stored glucose (or PLX spot-check) records.

Wire format: ``op u8 | operator u8 | operand...``. The bridge writes a request and the device
answers with an indication: either ``05 00 <count>`` (number of stored records) or
``06 00 <request op> <response code>``; the records themselves arrive as ordinary measurement
notifications in between.

Sync by watermark (the highest sequence number already stored): write
:func:`encode_racp_sync_request`, buffer the records, and when :func:`decode_racp_response`
reports success or "no records found", persist and advance the watermark.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from device_bridge.gatt.reader import Reader

RECORD_ACCESS_CONTROL_POINT = 0x2A52
MAX_SEQUENCE = 0xFFFF


class RacpOp(IntEnum):
    """RACP op codes."""

    REPORT_RECORDS = 1
    DELETE_RECORDS = 2
    ABORT = 3
    REPORT_NUMBER_OF_RECORDS = 4
    NUMBER_OF_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(IntEnum):
    """RACP operators."""

    NULL = 0
    ALL = 1
    LESS_OR_EQUAL = 2
    GREATER_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST = 5
    LAST = 6


class RacpResponseCode(IntEnum):
    """RACP response codes (operand of op 6)."""

    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


FILTER_SEQUENCE_NUMBER = 0x01  # in GLS; 0x02 is user-facing time, not supported here
_REQUEST_OPS = {RacpOp.REPORT_RECORDS, RacpOp.DELETE_RECORDS, RacpOp.REPORT_NUMBER_OF_RECORDS}
_OPERAND_COUNT = {RacpOperator.LESS_OR_EQUAL: 1, RacpOperator.GREATER_OR_EQUAL: 1}
_OPERAND_COUNT[RacpOperator.WITHIN_RANGE] = 2


def _check_sequence(sequence: int) -> int:
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence number {sequence} is not a u16")
    return sequence


def _request(op: RacpOp, operator: RacpOperator, *sequences: int) -> bytes:
    operand = b""
    if sequences:
        values = b"".join(_check_sequence(s).to_bytes(2, "little") for s in sequences)
        operand = bytes([FILTER_SEQUENCE_NUMBER]) + values
    return bytes([op, operator]) + operand


def encode_racp_report_all() -> bytes:
    """Request every stored record: ``01 01``."""
    return _request(RacpOp.REPORT_RECORDS, RacpOperator.ALL)


def encode_racp_report_from(first_sequence: int) -> bytes:
    """Request stored records with sequence number >= ``first_sequence``: ``01 03 01 <u16>``."""
    return _request(RacpOp.REPORT_RECORDS, RacpOperator.GREATER_OR_EQUAL, first_sequence)


def encode_racp_report_range(first_sequence: int, last_sequence: int) -> bytes:
    """Request stored records with ``first <= sequence number <= last``: ``01 04 01 <u16> <u16>``."""
    return _request(RacpOp.REPORT_RECORDS, RacpOperator.WITHIN_RANGE, first_sequence, last_sequence)


def encode_racp_count_all() -> bytes:
    """Ask for the number of stored records: ``04 01``."""
    return _request(RacpOp.REPORT_NUMBER_OF_RECORDS, RacpOperator.ALL)


def encode_racp_count_from(first_sequence: int) -> bytes:
    """Ask how many stored records have sequence number >= ``first_sequence``: ``04 03 01 <u16>``."""
    return _request(RacpOp.REPORT_NUMBER_OF_RECORDS, RacpOperator.GREATER_OR_EQUAL, first_sequence)


def encode_racp_abort() -> bytes:
    """Abort the running procedure: ``03 00``."""
    return _request(RacpOp.ABORT, RacpOperator.NULL)


def encode_racp_sync_request(watermark: int | None) -> bytes:
    """The request that fetches what is newer than ``watermark`` (the highest stored sequence).

    No watermark yet: all records. At 0xFFFF nothing larger can exist, so the device's counter
    must have wrapped or reset: ask for all records and let the caller dedupe.
    """
    if watermark is None or _check_sequence(watermark) == MAX_SEQUENCE:
        return encode_racp_report_all()
    return encode_racp_report_from(watermark + 1)


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """A device's RACP indication: a record count, or the outcome of a request."""

    record_count: int | None = None
    request_op: int | None = None
    response_code: int | None = None

    @property
    def succeeded(self) -> bool:
        """The request finished and every matching record has been sent."""
        return self.response_code == RacpResponseCode.SUCCESS

    @property
    def no_records_found(self) -> bool:
        """The request matched nothing: also a completed sync."""
        return self.response_code == RacpResponseCode.NO_RECORDS_FOUND


def decode_racp_response(payload: bytes | bytearray) -> RacpResponse:
    """Decode a device's RACP indication (op 5 with a u8/u16/u32 count, or op 6).

    Counts of any of those widths are accepted because deployed meters differ (GLS says u16).
    """
    reader = Reader(RECORD_ACCESS_CONTROL_POINT, payload)
    reader.require(2)
    op = reader.u8("op code")
    reader.u8("operator")  # always "null" in a response
    if op == RacpOp.NUMBER_OF_RECORDS_RESPONSE:
        count = reader.rest()
        if len(count) not in (1, 2, 4):
            raise reader.fail(f"number of records is {len(count)} bytes, expected 1, 2 or 4")
        return RacpResponse(record_count=int.from_bytes(count, "little"))
    if op == RacpOp.RESPONSE_CODE:
        reader.expect(4)
        return RacpResponse(request_op=reader.u8("request op"), response_code=reader.u8("code"))
    raise reader.fail(f"op code 0x{op:02X} is not a response (expected 0x05 or 0x06)")


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request written to the RACP, as a device (or simulator) sees it."""

    op: RacpOp
    operator: RacpOperator
    sequence_numbers: tuple[int, ...] = ()


def decode_racp_request(payload: bytes | bytearray) -> RacpRequest:
    """Decode a request (ops 1-4) filtered by sequence number, for a device simulator."""
    reader = Reader(RECORD_ACCESS_CONTROL_POINT, payload)
    reader.require(2)
    op, operator = reader.u8("op code"), reader.u8("operator")
    if op not in set(_REQUEST_OPS) | {RacpOp.ABORT}:
        raise reader.fail(f"op code 0x{op:02X} is not a request")
    if operator not in set(RacpOperator):
        raise reader.fail(f"operator 0x{operator:02X} is reserved")
    count = _OPERAND_COUNT.get(RacpOperator(operator), 0)
    if count:
        reader.require(3)
        if (kind := reader.u8("filter type")) != FILTER_SEQUENCE_NUMBER:
            raise reader.fail(f"filter type 0x{kind:02X} is not supported (sequence number only)")
        reader.expect(3 + 2 * count)
    else:
        reader.expect(2)
    sequences = tuple(reader.u16("sequence number") for _ in range(count))
    return RacpRequest(RacpOp(op), RacpOperator(operator), sequences)


def encode_racp_response(request_op: int, code: RacpResponseCode) -> bytes:
    """A device's response indication: ``06 00 <request op> <code>``."""
    return bytes([RacpOp.RESPONSE_CODE, RacpOperator.NULL, request_op, code])


def encode_racp_record_count(count: int) -> bytes:
    """A device's number-of-records indication: ``05 00 <u16 count>``."""
    return bytes([RacpOp.NUMBER_OF_RECORDS_RESPONSE, RacpOperator.NULL]) + count.to_bytes(
        2, "little"
    )
