"""Czech birth numbers: the real rules (format, month offsets, dates, modulo 11)."""

from __future__ import annotations

from datetime import date

import pytest

from telemed_core.birth_number import parse_birth_number
from telemed_core.errors import InvalidInput


def test_a_man_born_1985_with_slash() -> None:
    number = parse_birth_number("850612/0007")
    assert number.birth_date == date(1985, 6, 12)
    assert number.sex == "male"
    assert number.normalized == "8506120007"
    assert number.formatted == "850612/0007"


def test_a_woman_has_month_plus_50() -> None:
    number = parse_birth_number("8556120001")
    assert number.birth_date == date(1985, 6, 12)
    assert number.sex == "female"


def test_the_2004_overflow_series_plus_20_and_plus_70() -> None:
    man = parse_birth_number("0423150002")  # +20: March 2004
    woman = parse_birth_number("0473150007")  # +70: March 2004
    assert (man.birth_date, man.sex) == (date(2004, 3, 15), "male")
    assert (woman.birth_date, woman.sex) == (date(2004, 3, 15), "female")


def test_plus_20_before_2004_is_refused() -> None:
    with pytest.raises(InvalidInput, match="only from 2004"):
        parse_birth_number("9923150006")


def test_a_nine_digit_number_before_1954_has_no_check_digit() -> None:
    number = parse_birth_number("320415/123")
    assert number.birth_date == date(1932, 4, 15)


def test_a_nine_digit_number_from_1954_is_refused() -> None:
    with pytest.raises(InvalidInput, match="before 1954"):
        parse_birth_number("600415/123")


def test_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidInput, match="modulo-11"):
        parse_birth_number("850612/0009")


def test_remainder_ten_written_as_zero_is_accepted() -> None:
    # 850612003 % 11 == 10: before 1985 such numbers end in 0 and are not divisible by 11.
    assert int("850612003") % 11 == 10
    assert parse_birth_number("8506120030").normalized == "8506120030"


@pytest.mark.parametrize(
    "text", ["", "12345", "85061200081", "abcdef/1234", "851312/0003", "850230/0004"]
)
def test_malformed_or_impossible_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_birth_number(text)
