"""A bounds-checked cursor over a GATT payload.

Every decoder first reads the flags, computes the length those flags promise and calls
:meth:`Reader.expect`, so a payload too short or too long for its flags fails with one message
naming the flags and the length (``0x2A35: payload is 5 bytes, flags 0x1E need exactly 19``).
Reads past the end still raise :class:`MalformedPayload`, never IndexError.

The specifications are followed to the letter: optional fields are present exactly as the flags
say, and a fixed-length characteristic with extra bytes is malformed (:meth:`Reader.done`). A
device that appends bytes behind reserved flag bits is not following the revision it claims, and
its payload is quarantined with the raw bytes rather than half-read.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from device_bridge.gatt.errors import MalformedPayload
from device_bridge.gatt.sfloat import Number, parse_float, parse_sfloat
from device_bridge.gatt.times import DATE_TIME_SIZE, parse_date_time


def char_name(characteristic: int) -> str:
    """The way messages name a characteristic: ``0x2A35``."""
    return f"0x{characteristic:04X}"


class Reader:
    """Reads little-endian fields from ``payload`` left to right."""

    def __init__(self, characteristic: int, payload: bytes | bytearray) -> None:
        self.name = char_name(characteristic)
        self.payload = bytes(payload)
        self.offset = 0

    def fail(self, problem: str) -> MalformedPayload:
        """A MalformedPayload whose message starts with the characteristic's name."""
        return MalformedPayload(f"{self.name}: {problem}")

    def require(self, needed: int, flags: int | None = None) -> None:
        """Raise unless the payload holds at least ``needed`` bytes."""
        if len(self.payload) >= needed:
            return
        because = "," if flags is None else f", flags 0x{flags:02X}"
        raise self.fail(f"payload is {len(self.payload)} bytes{because} need at least {needed}")

    def expect(self, needed: int, flags: int | None = None) -> None:
        """Raise unless the payload holds exactly ``needed`` bytes."""
        if len(self.payload) == needed:
            return
        because = "," if flags is None else f", flags 0x{flags:02X}"
        raise self.fail(f"payload is {len(self.payload)} bytes{because} need exactly {needed}")

    def done(self) -> None:
        """Raise if bytes remain after the last field the layout defines."""
        extra = len(self.payload) - self.offset
        if extra:
            raise self.fail(f"{extra} extra bytes after the last field (at byte {self.offset})")

    def _take(self, size: int, what: str) -> bytes:
        end = self.offset + size
        if end > len(self.payload):
            raise self.fail(
                f"payload is {len(self.payload)} bytes, ends inside the {what} at byte {self.offset}"
            )
        chunk = self.payload[self.offset : end]
        self.offset = end
        return chunk

    def uint(self, size: int, what: str) -> int:
        """An unsigned little-endian integer of ``size`` bytes."""
        return int.from_bytes(self._take(size, what), "little")

    def sint(self, size: int, what: str) -> int:
        """A two's-complement little-endian integer of ``size`` bytes."""
        return int.from_bytes(self._take(size, what), "little", signed=True)

    def u8(self, what: str) -> int:
        return self.uint(1, what)

    def u16(self, what: str) -> int:
        return self.uint(2, what)

    def sfloat(self, what: str) -> Number:
        """An IEEE 11073 16-bit SFLOAT."""
        return parse_sfloat(self.uint(2, what))

    def float32(self, what: str) -> Number:
        """An IEEE 11073 32-bit FLOAT."""
        return parse_float(self.uint(4, what))

    def date_time(self, what: str, device_tz: tzinfo) -> datetime | None:
        """A 7-byte SIG Date Time on the device's wall clock, as UTC; None when unknown."""
        try:
            return parse_date_time(self._take(DATE_TIME_SIZE, what), device_tz)
        except ValueError as exc:
            raise self.fail(f"{what}: {exc}") from exc

    def rest(self) -> bytes:
        """All bytes not read yet."""
        chunk = self.payload[self.offset :]
        self.offset = len(self.payload)
        return chunk
