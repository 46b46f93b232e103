"""IEEE 11073 SFLOAT/FLOAT: the reference's vectors, the specials, and encoder round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_bridge.gatt.sfloat import (
    Number,
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    parse_float,
    parse_sfloat,
)


@pytest.mark.parametrize(
    ("vector", "wire", "mantissa", "exponent", "value"),
    [
        ("SF1", "02 00", 2, 0, 2.0),
        ("SF2", "14 F0", 20, -1, 2.0),
        ("SF3", "C8 E0", 200, -2, 2.0),
        ("SF4", "02 10", 2, 1, 20.0),
        ("SF5", "02 20", 2, 2, 200.0),
        ("SF6", "C8 00", 200, 0, 200.0),
        ("SF7", "D2 04", 1234, 0, 1234.0),
        ("SF8", "2E 0B", -1234, 0, -1234.0),
        ("SF15", "64 B0", 100, -5, 0.001),
        ("SF16", "38 C0", 56, -4, 0.0056),
        ("SF17", "62 80", 98, -8, 9.8e-7),
    ],
)
def test_sfloat_vector_decodes_with_twos_complement_exponent(
    vector: str, wire: str, mantissa: int, exponent: int, value: float
) -> None:
    number = decode_sfloat(bytes.fromhex(wire))
    assert (number.mantissa, number.exponent) == (mantissa, exponent), vector
    assert number.value == pytest.approx(value, rel=1e-12), vector


def test_sfloat_with_exponent_nibble_8_is_tiny_not_the_biased_misreading() -> None:
    # SF17: a biased-exponent decoder reads 62 80 as 98.0
    assert decode_sfloat(bytes.fromhex("62 80")).value != pytest.approx(98.0)


@pytest.mark.parametrize(
    ("wire", "special"),
    [
        ("FF 07", Special.NAN),
        ("00 08", Special.NRES),
        ("FE 07", Special.POS_INF),
        ("02 08", Special.NEG_INF),
        ("01 08", Special.RFU),
    ],
)
def test_sfloat_special_pattern_has_no_value(wire: str, special: Special) -> None:
    number = decode_sfloat(bytes.fromhex(wire))
    assert number.special is special
    assert number.value is None


@pytest.mark.parametrize(
    ("vector", "wire", "value"),
    [
        ("F1", "02 00 00 00", 2.0),
        ("F2", "14 00 00 FF", 2.0),
        ("F3", "C8 00 00 FE", 2.0),
        ("F4", "02 00 00 01", 20.0),
        ("F5", "2E FB FF 00", -1234.0),
        ("F11", "B0 0E 00 FE", 37.6),
        ("F12", "DA 03 00 FF", 98.6),
        ("F13", "72 01 00 7F", 3.7e129),
    ],
)
def test_float_vector_decodes(vector: str, wire: str, value: float) -> None:
    assert decode_float(bytes.fromhex(wire)).value == pytest.approx(value, rel=1e-12), vector


@pytest.mark.parametrize(
    ("wire", "special"),
    [
        ("FF FF 7F 00", Special.NAN),
        ("00 00 80 00", Special.NRES),
        ("FE FF 7F 00", Special.POS_INF),
        ("02 00 80 00", Special.NEG_INF),
        ("01 00 80 00", Special.RFU),
    ],
)
def test_float_special_pattern_uses_hl7_values(wire: str, special: Special) -> None:
    assert decode_float(bytes.fromhex(wire)).special is special


def test_float_nxp_style_special_is_an_ordinary_number() -> None:
    # NXP's header calls 0x07FFFFFF NaN; per HL7 it is the number -1 x 10^7
    number = decode_float(bytes.fromhex("FF FF FF 07"))
    assert number.special is None
    assert (number.mantissa, number.exponent) == (-1, 7)


def test_exact_value_keeps_decimal_digits() -> None:
    assert (
        decode_sfloat(bytes.fromhex("14 F0")).exact == decode_sfloat(bytes.fromhex("02 00")).exact
    )
    assert decode_sfloat(bytes.fromhex("14 F0")) != decode_sfloat(bytes.fromhex("02 00"))


@pytest.mark.parametrize(
    ("value", "exponent", "wire"),
    [
        (2.0, -1, "14 F0"),
        (2.0, -2, "C8 E0"),
        (-1234.0, 0, "2E 0B"),
        (98.6, None, "DA F3"),
        (72.0, None, "48 00"),
        (3000.0, None, "2C 11"),
        (float("nan"), None, "FF 07"),
        (float("inf"), None, "FE 07"),
        (float("-inf"), None, "02 08"),
    ],
)
def test_encode_sfloat_builds_the_wire_bytes(value: float, exponent: int | None, wire: str) -> None:
    assert encode_sfloat(value, exponent) == bytes.fromhex(wire)


def test_encode_sfloat_accepts_specials_and_exact_pairs() -> None:
    assert encode_sfloat(Special.NRES) == bytes.fromhex("00 08")
    assert encode_sfloat(Number(100, -5)) == bytes.fromhex("64 B0")


def test_encode_float_picks_the_shortest_exact_exponent() -> None:
    assert encode_float(98.6) == bytes.fromhex("DA 03 00 FF")
    assert encode_float(37.6, -2) == bytes.fromhex("B0 0E 00 FE")


@pytest.mark.parametrize("bad", [Number(2047, 0), Number(-2048, 0), Number(5, 8), Number(2048, 0)])
def test_encode_sfloat_rejects_pairs_that_do_not_fit_or_collide_with_specials(bad: Number) -> None:
    with pytest.raises(ValueError):
        encode_sfloat(bad)


def test_encode_sfloat_rejects_values_beyond_its_range() -> None:
    with pytest.raises(ValueError, match="out of the SFLOAT range"):
        encode_sfloat(1e12)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF))
def test_every_sfloat_pattern_survives_decode_then_encode(raw: int) -> None:
    number = parse_sfloat(raw)
    assert int.from_bytes(encode_sfloat(number), "little") == raw


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_pattern_survives_decode_then_encode(raw: int) -> None:
    number = parse_float(raw)
    assert int.from_bytes(encode_float(number), "little") == raw


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-2000, max_value=2000, allow_nan=False))
def test_encoded_sfloat_is_within_half_a_unit_of_its_exponent(value: float) -> None:
    number = decode_sfloat(encode_sfloat(value))
    assert number.value is not None
    assert abs(number.value - value) <= 0.5 * 10.0**number.exponent * (1 + 1e-9)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_encoded_float_is_within_half_a_unit_of_its_exponent(value: float) -> None:
    number = decode_float(encode_float(value))
    assert number.value is not None
    assert abs(number.value - value) <= 0.5 * 10.0**number.exponent * (1 + 1e-9)
    assert not math.isnan(number.value)
