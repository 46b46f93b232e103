"""Patient search parameters beyond ids: name, family, given, birthdate, gender, and the birth
number as an identifier (FHIR R4 search rules for string, date and token parameters)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from telemed_core.errors import InvalidInput

NAME_PARAMS = ("name", "family", "given")
GENDERS = frozenset({"male", "female", "other", "unknown"})
_BIRTHDATE = re.compile(
    r"^(?P<op>eq|ne|lt|le|gt|ge|sa|eb)?(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?$"
)

DateOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "sa", "eb"]


@dataclass(frozen=True, slots=True)
class NameFilter:
    """A string search: any of ``values`` starts a word of ``part`` (case-insensitive)."""

    part: Literal["name", "family", "given"]
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BirthdateFilter:
    """``birthdate`` compared with the day span ``[lo, hi)`` its precision stands for."""

    op: DateOp
    lo: date
    hi: date


def name_filter(
    part: Literal["name", "family", "given"], value: str, alternatives: Iterable[str]
) -> NameFilter:
    values = tuple(v.strip().lower() for v in alternatives if v.strip())
    if not values:
        raise InvalidInput(f"{part}={value!r} names nothing")
    return NameFilter(part, values)


def birthdate_filter(value: str) -> BirthdateFilter:
    """``[prefix]YYYY[-MM[-DD]]`` (a birth date has no time)."""
    m = _BIRTHDATE.match(value)
    if m is None:
        raise InvalidInput(f"birthdate {value!r} is not a date such as 1956-03-14 or ge1950")
    year, month, day = int(m["y"]), int(m["m"] or 1), int(m["d"] or 1)
    try:
        lo = date(year, month, day)
    except ValueError as exc:
        raise InvalidInput(f"birthdate {value!r}: {exc}") from None
    if m["m"] is None:
        hi = date(year + 1, 1, 1)
    elif m["d"] is None:
        hi = date(year + month // 12, month % 12 + 1, 1)
    else:
        hi = lo + timedelta(days=1)
    op: DateOp = m["op"] or "eq"  # type: ignore[assignment]
    return BirthdateFilter(op, lo, hi)


def gender_values(alternatives: Iterable[str]) -> frozenset[str]:
    values = frozenset(v.split("|")[-1] for v in alternatives)
    unknown = values - GENDERS
    if unknown:
        raise InvalidInput(f"gender {sorted(unknown)} is not one of {sorted(GENDERS)}")
    return values
