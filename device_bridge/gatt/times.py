"""SIG date-time structures: Date Time (0x2A08) and Current Time (0x2A2B).

A SIG Date Time has no time zone: it is the device's wall clock. Decoders take ``device_tz``, the
zone that clock is set to (UTC by default, which is what a gateway writes when it sets device
clocks through the Current Time Service), and return UTC-aware datetimes. Year, month or day 0
means "unknown" and decodes to None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from device_bridge.gatt.bits import bit_names, bits_from
from device_bridge.gatt.errors import MalformedPayload

DATE_TIME = 0x2A08
CURRENT_TIME = 0x2A2B
DATE_TIME_SIZE = 7
CURRENT_TIME_SIZE = 10

#: Current Time "adjust reason" bits.
ADJUST_REASONS: dict[int, str] = {
    0: "manual",
    1: "external_reference",
    2: "time_zone_change",
    3: "dst_change",
}
_FIRST_VALID_YEAR = 1582  # the Gregorian calendar's first year; the SIG range is 1582-9999


def parse_date_time(raw: bytes, device_tz: tzinfo) -> datetime | None:
    """Decode the 7 bytes of a Date Time; None when year, month or day is 0 (unknown).

    Raises ValueError for an impossible date or time (month 13, 25 o'clock, 30 February).
    """
    year = int.from_bytes(raw[0:2], "little")
    month, day, hour, minute, second = raw[2:7]
    if 0 in (year, month, day):
        return None
    stamp = f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
    if year < _FIRST_VALID_YEAR:
        raise ValueError(f"{stamp} is before {_FIRST_VALID_YEAR}")
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=device_tz)
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{stamp} is not a valid date-time") from exc


def encode_date_time(moment: datetime | None, *, device_tz: tzinfo = UTC) -> bytes:
    """Encode a Date Time (7 bytes) as the wall clock of ``device_tz``; None encodes "unknown".

    ``moment`` must be timezone-aware: a naive datetime has no defined instant.
    """
    if moment is None:
        return bytes(DATE_TIME_SIZE)
    if moment.tzinfo is None:
        raise ValueError("encode_date_time needs a timezone-aware datetime")
    local = moment.astimezone(device_tz)
    head = local.year.to_bytes(2, "little")
    return head + bytes([local.month, local.day, local.hour, local.minute, local.second])


def _checked(raw: bytes | bytearray, size: int, name: str) -> bytes:
    if len(raw) != size:
        raise MalformedPayload(f"{name}: payload is {len(raw)} bytes, need exactly {size}")
    return bytes(raw)


def decode_date_time(payload: bytes | bytearray, *, device_tz: tzinfo = UTC) -> datetime | None:
    """Decode a Date Time characteristic (0x2A08) to UTC; None when the date is unknown."""
    raw = _checked(payload, DATE_TIME_SIZE, "0x2A08")
    try:
        return parse_date_time(raw[:DATE_TIME_SIZE], device_tz)
    except ValueError as exc:
        raise MalformedPayload(f"0x2A08: {exc}") from exc


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """The device's clock as read from the Current Time characteristic (0x2A2B).

    ``device_time`` is UTC (None when the device says its date is unknown), including the
    1/256 s fraction; ``day_of_week`` is 1 = Monday .. 7 = Sunday, None when unknown.
    """

    device_time: datetime | None
    day_of_week: int | None
    fractions256: int
    adjust_reasons: tuple[str, ...]


def decode_current_time(payload: bytes | bytearray, *, device_tz: tzinfo = UTC) -> CurrentTime:
    """Decode Current Time (0x2A2B): Exact Time 256 plus the adjust-reason bits."""
    raw = _checked(payload, CURRENT_TIME_SIZE, "0x2A2B")
    try:
        moment = parse_date_time(raw[:DATE_TIME_SIZE], device_tz)
    except ValueError as exc:
        raise MalformedPayload(f"0x2A2B: {exc}") from exc
    day_of_week, fractions, reasons = raw[7:10]
    if moment is not None:
        moment = moment.replace(microsecond=fractions * 1_000_000 // 256)
    return CurrentTime(moment, day_of_week or None, fractions, bit_names(reasons, ADJUST_REASONS))


def encode_current_time(
    moment: datetime,
    *,
    adjust_reasons: tuple[str, ...] = (),
    device_tz: tzinfo = UTC,
) -> bytes:
    """Encode Current Time (10 bytes), e.g. for a gateway that sets a scale's clock.

    The fraction is the sub-second part in 1/256 s (truncated); the weekday is computed.
    """
    local = moment.astimezone(device_tz) if moment.tzinfo is not None else None
    if local is None:
        raise ValueError("encode_current_time needs a timezone-aware datetime")
    reasons = bits_from(adjust_reasons, ADJUST_REASONS)
    fractions = local.microsecond * 256 // 1_000_000
    tail = bytes([local.isoweekday(), fractions, reasons])
    return encode_date_time(local, device_tz=device_tz) + tail
