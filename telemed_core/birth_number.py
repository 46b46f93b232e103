"""Czech (and Slovak) birth numbers, *rodné číslo*: parsing and validation by their real rules.

A birth number is ``YYMMDD/XXX`` (9 digits, issued before 1954) or ``YYMMDD/XXXX`` (10 digits,
from 1954). The month carries the sex and the overflow series:

* women: month + 50;
* from 2004, when a day's serial numbers run out: month + 20 (men) or + 70 (women).

A 10-digit number is divisible by 11; where the first nine digits leave remainder 10 the check
digit is 0 (numbers issued that way until 1985). A 9-digit number has no check digit and is
only valid for a birth date before 1954. Reference: Act No. 133/2000 Coll. on population
registration, §13, and Decree No. 530/2006 Coll.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from telemed_core.errors import InvalidInput

_PATTERN = re.compile(r"^(\d{2})(\d{2})(\d{2})/?(\d{3,4})$")

Sex = Literal["male", "female"]


@dataclass(frozen=True, slots=True)
class BirthNumber:
    """A valid birth number: ``normalized`` is the 9 or 10 digits with no slash."""

    normalized: str
    birth_date: date
    sex: Sex

    @property
    def formatted(self) -> str:
        """The usual written form, ``YYMMDD/XXXX``."""
        return f"{self.normalized[:6]}/{self.normalized[6:]}"


def parse_birth_number(text: str) -> BirthNumber:
    """Validate a birth number written with or without the slash (spaces are ignored).

    Raises ``InvalidInput`` saying which rule failed: format, month or day, a 9-digit number
    for a date from 1954, or the modulo-11 check of a 10-digit number.
    """
    match = _PATTERN.match(text.replace(" ", "").strip())
    if match is None:
        raise InvalidInput("birth number must be 9 or 10 digits, YYMMDD/XXX or YYMMDD/XXXX")
    yy, mm, dd, serial = (match.group(i) for i in range(1, 5))
    year = _full_year(int(yy), ten_digits=len(serial) == 4)
    month, sex = _month_and_sex(int(mm), year)
    try:
        born = date(year, month, int(dd))
    except ValueError:
        raise InvalidInput(f"birth number encodes an impossible date ({yy}{mm}{dd})") from None
    digits = f"{yy}{mm}{dd}{serial}"
    if len(serial) == 3 and year >= 1954:
        raise InvalidInput("a 9-digit birth number is only valid for births before 1954")
    if len(serial) == 4 and not _check_digit_ok(digits):
        raise InvalidInput("birth number fails the modulo-11 check")
    return BirthNumber(normalized=digits, birth_date=born, sex=sex)


_MONTH_OFFSETS: tuple[tuple[int, Sex], ...] = (
    (0, "male"),
    (50, "female"),
    (20, "male"),
    (70, "female"),
)


def _month_and_sex(encoded: int, year: int) -> tuple[int, Sex]:
    for offset, sex in _MONTH_OFFSETS:
        month = encoded - offset
        if 1 <= month <= 12:
            if offset in (20, 70) and year < 2004:
                raise InvalidInput("birth number months +20 and +70 exist only from 2004")
            return month, sex
    raise InvalidInput(f"birth number month {encoded:02d} is not a month (+50, +20 or +70)")


def _full_year(yy: int, *, ten_digits: bool) -> int:
    if not ten_digits:
        return 1900 + yy  # 9-digit numbers were issued only until 1953
    # 10-digit numbers exist from 1954: 54-99 are the 1900s, 00-53 the 2000s.
    return 1900 + yy if yy >= 54 else 2000 + yy


def _check_digit_ok(digits: str) -> bool:
    if int(digits) % 11 == 0:
        return True
    # Until 1985 a remainder of 10 was written as check digit 0.
    return int(digits[:9]) % 11 == 10 and digits[9] == "0"
