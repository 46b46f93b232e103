"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) numbers, as used by the SIG health services.

Both are ``mantissa * 10**exponent`` with *two's-complement* mantissa and exponent (SFLOAT: 12-bit
mantissa, 4-bit exponent; FLOAT: 24-bit mantissa, 8-bit exponent). A handful of exact bit patterns
with exponent 0 are special values (NaN, NRes, +INF, -INF, reserved), not numbers.

The exponent carries precision (``20e-1`` means "2.0", ``2e0`` means "2"), so :class:`Number`
keeps the pair and converts exactly through :class:`fractions.Fraction`; rounding happens once,
when the caller asks for a float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction


class Special(StrEnum):
    """The IEEE 11073 special values; the strings follow the HL7 PHD dataAbsentReason wording."""

    NAN = "nan"
    NRES = "nres"  # "not at this resolution": the value is out of the representable range
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RFU = "rfu"  # reserved for future use


_SFLOAT_SPECIALS: dict[int, Special] = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POS_INF,
    0x0802: Special.NEG_INF,
    0x0801: Special.RFU,
}
_FLOAT_SPECIALS: dict[int, Special] = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POS_INF,
    0x00800002: Special.NEG_INF,
    0x00800001: Special.RFU,
}
_SFLOAT_RAW = {special: raw for raw, special in _SFLOAT_SPECIALS.items()}
_FLOAT_RAW = {special: raw for raw, special in _FLOAT_SPECIALS.items()}


@dataclass(frozen=True, slots=True)
class Number:
    """An IEEE 11073 number: ``mantissa * 10**exponent``, or a special value.

    For a special value ``mantissa`` and ``exponent`` are 0 and ``special`` says which one.
    Equality compares the encoding, so ``Number(20, -1) != Number(2, 0)``; compare ``exact``
    to compare values.
    """

    mantissa: int
    exponent: int
    special: Special | None = None

    @property
    def exact(self) -> Fraction | None:
        """The exact value, or None for a special value."""
        if self.special is not None:
            return None
        return Fraction(self.mantissa) * Fraction(10) ** self.exponent

    @property
    def value(self) -> float | None:
        """The value as the nearest float, or None for a special value."""
        exact = self.exact
        return None if exact is None else float(exact)


NumberLike = float | Special | Number
"""What the encoders accept: a float (exponent chosen automatically), a special, or an exact pair."""


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw


def parse_sfloat(raw: int) -> Number:
    """Decode a 16-bit SFLOAT given as the unsigned little-endian integer from the wire."""
    special = _SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return Number(0, 0, special)
    return Number(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def parse_float(raw: int) -> Number:
    """Decode a 32-bit FLOAT given as the unsigned little-endian integer from the wire."""
    special = _FLOAT_SPECIALS.get(raw)
    if special is not None:
        return Number(0, 0, special)
    return Number(_signed(raw & 0xFFFFFF, 24), _signed(raw >> 24, 8))


def decode_sfloat(payload: bytes | bytearray) -> Number:
    """Decode the 2 wire bytes of an SFLOAT (ValueError if not exactly 2 bytes)."""
    if len(payload) != 2:
        raise ValueError(f"an SFLOAT is 2 bytes, got {len(payload)}")
    return parse_sfloat(int.from_bytes(payload, "little"))


def decode_float(payload: bytes | bytearray) -> Number:
    """Decode the 4 wire bytes of a FLOAT (ValueError if not exactly 4 bytes)."""
    if len(payload) != 4:
        raise ValueError(f"a FLOAT is 4 bytes, got {len(payload)}")
    return parse_float(int.from_bytes(payload, "little"))


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    mantissa_bits: int
    exponent_bits: int
    specials: dict[Special, int]

    @property
    def mantissa_range(self) -> range:
        half = 1 << (self.mantissa_bits - 1)
        return range(-half, half)

    @property
    def exponent_range(self) -> range:
        half = 1 << (self.exponent_bits - 1)
        return range(-half, half)


_SFLOAT = _Format("SFLOAT", 12, 4, _SFLOAT_RAW)
_FLOAT = _Format("FLOAT", 24, 8, _FLOAT_RAW)


def _mantissa_at(value: Decimal, exponent: int) -> int:
    return int(value.scaleb(-exponent).to_integral_value())  # round half to even


def _choose_exponent(value: Decimal, fmt: _Format) -> int:
    """The largest exponent <= 0 that represents ``value`` exactly, else the finest that fits.

    Devices send "72 bpm" as mantissa 72, exponent 0 and "98.6" as 986e-1; this reproduces that.
    A mantissa only grows as the exponent falls, so the search stops at the first that overflows.
    """
    finest: int | None = None
    for exponent in range(0, fmt.exponent_range.start - 1, -1):
        mantissa = _mantissa_at(value, exponent)
        if mantissa not in fmt.mantissa_range:
            break
        if Decimal(mantissa).scaleb(exponent) == value:
            return exponent
        finest = exponent
    if finest is not None:
        return finest
    for exponent in range(1, fmt.exponent_range.stop):
        if _mantissa_at(value, exponent) in fmt.mantissa_range:
            return exponent
    raise ValueError(f"{value} is out of the {fmt.name} range")


def _encode(value: NumberLike, exponent: int | None, fmt: _Format) -> int:
    if isinstance(value, Special):
        return fmt.specials[value]
    if isinstance(value, Number):
        if value.special is not None:
            return fmt.specials[value.special]
        mantissa, exponent = value.mantissa, value.exponent
    elif math.isnan(value):
        return fmt.specials[Special.NAN]
    elif math.isinf(value):
        return fmt.specials[Special.POS_INF if value > 0 else Special.NEG_INF]
    else:
        exact = Decimal(repr(float(value)))  # repr: the shortest decimal that round-trips
        exponent = _choose_exponent(exact, fmt) if exponent is None else exponent
        mantissa = _mantissa_at(exact, exponent)
    if exponent not in fmt.exponent_range or mantissa not in fmt.mantissa_range:
        raise ValueError(f"{mantissa}e{exponent} does not fit a {fmt.name}")
    mantissa_mask = (1 << fmt.mantissa_bits) - 1
    exponent_mask = (1 << fmt.exponent_bits) - 1
    raw = ((exponent & exponent_mask) << fmt.mantissa_bits) | (mantissa & mantissa_mask)
    if raw in fmt.specials.values():
        raise ValueError(f"{mantissa}e{exponent} collides with a {fmt.name} special value")
    return raw


def encode_sfloat(value: NumberLike, exponent: int | None = None) -> bytes:
    """Encode an SFLOAT (2 bytes, little-endian).

    ``value`` is a float (NaN and infinities map to the specials), a :class:`Special`, or an exact
    :class:`Number`. ``exponent`` forces the decimal exponent (-8..7; the mantissa is rounded half
    to even); by default the value is sent as exactly as possible. Raises ValueError when the value
    does not fit.
    """
    return _encode(value, exponent, _SFLOAT).to_bytes(2, "little")


def encode_float(value: NumberLike, exponent: int | None = None) -> bytes:
    """Encode a 32-bit FLOAT (4 bytes, little-endian); same rules as :func:`encode_sfloat`."""
    return _encode(value, exponent, _FLOAT).to_bytes(4, "little")
