"""FHIR date search values: partial dates as ranges, prefixes as bounds (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal

from patient_hub.fhir.search.errors import SearchParamError
from patient_hub.fhir.search.tokens import any_of

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class DateRange:
    """The half-open span ``[lo, hi)`` a FHIR date stands for at its precision (UTC-aware)."""

    lo: datetime
    hi: datetime


def _add_months(at: datetime, months: int) -> datetime:
    years, month0 = divmod(at.month - 1 + months, 12)
    return at.replace(year=at.year + years, month=month0 + 1)


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def parse_date_range(text: str, tz: tzinfo = UTC) -> DateRange:
    """``2026``, ``2026-11``, ``2026-11-27`` (days in ``tz``, the server's zone) or a dateTime
    with a UTC offset, to minute, second or fraction precision -> the span it covers."""
    text = text.replace(" ", "+")  # an offset's "+" that the client did not percent-encode
    m = _DATE.match(text)
    if m is None:
        raise SearchParamError(f"{text!r} is not a FHIR date (e.g. 2026-11-27T10:00:00Z)")
    g = m.groupdict()
    if g["H"] is not None and g["tz"] is None:
        raise SearchParamError(f"{text!r} has a time but no time zone: add Z or an offset")
    zone = tz if g["H"] is None else _offset(g["tz"])
    try:
        lo = datetime(
            int(g["y"]), int(g["m"] or 1), int(g["d"] or 1), int(g["H"] or 0), int(g["M"] or 0),
            int(g["S"] or 0), int((g["f"] or "0").ljust(6, "0")), tzinfo=zone,
        )  # fmt: skip
    except ValueError as exc:
        raise SearchParamError(f"{text!r} is not a valid date: {exc}") from None
    if g["m"] is None:
        hi = lo.replace(year=lo.year + 1)
    elif g["d"] is None:
        hi = _add_months(lo, 1)
    elif g["H"] is None:
        hi = lo + timedelta(days=1)
    elif g["S"] is None:
        hi = lo + timedelta(minutes=1)
    else:
        hi = lo + timedelta(microseconds=10 ** (6 - len(g["f"] or "")))
    return DateRange(lo.astimezone(UTC), hi.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Bound:
    """One comparison of a target's span with an instant: ``start >= at`` or ``end < at``.

    An instant (a reading) has ``start == end``; an ongoing period (a finding without an end)
    has ``end`` None, which is after every instant.
    """

    side: Literal["start", "end"]
    op: Literal[">=", "<"]
    at: datetime

    def holds(self, start: datetime, end: datetime | None) -> bool:
        value = start if self.side == "start" else end
        if value is None:
            return self.op == ">="
        return value >= self.at if self.op == ">=" else value < self.at


@dataclass(frozen=True, slots=True)
class DateClause:
    """One date value with its prefix, as alternatives (OR) of bounds (AND).

    FHIR semantics for a target span T and the value's span [lo, hi): eq: T inside it;
    ne: not eq; gt/ge: T reaches past hi/lo; lt/le: T starts before lo/hi; sa: T starts after
    it; eb: T ends before it.
    """

    prefix: str
    span: DateRange

    @property
    def alternatives(self) -> tuple[tuple[Bound, ...], ...]:
        lo, hi = self.span.lo, self.span.hi
        table: dict[str, tuple[tuple[Bound, ...], ...]] = {
            "eq": ((Bound("start", ">=", lo), Bound("end", "<", hi)),),
            "ne": ((Bound("start", "<", lo),), (Bound("end", ">=", hi),)),
            "gt": ((Bound("end", ">=", hi),),),
            "ge": ((Bound("end", ">=", lo),),),
            "lt": ((Bound("start", "<", lo),),),
            "le": ((Bound("start", "<", hi),),),
            "sa": ((Bound("start", ">=", hi),),),
            "eb": ((Bound("end", "<", lo),),),
        }
        return table[self.prefix]

    def matches(self, start: datetime, end: datetime | None) -> bool:
        return any(all(b.holds(start, end) for b in alt) for alt in self.alternatives)


@dataclass(frozen=True, slots=True)
class DateFilter:
    """One date parameter: its comma-separated values are alternatives."""

    clauses: tuple[DateClause, ...]

    def matches(self, start: datetime, end: datetime | None) -> bool:
        return any(c.matches(start, end) for c in self.clauses)


def parse_date_filter(value: str, tz: tzinfo = UTC) -> DateFilter:
    """``ge2026-11-27,lt2026-01`` -> a DateFilter; no prefix means ``eq``; ``ap`` is refused."""
    clauses = []
    for part in any_of(value):
        prefix = part[:2] if part[:2].isalpha() else "eq"
        if prefix not in PREFIXES:
            raise SearchParamError(f"date prefix {prefix!r} is not supported; use {PREFIXES}")
        text = part[2:] if part[:2].isalpha() else part
        clauses.append(DateClause(prefix, parse_date_range(text, tz)))
    return DateFilter(tuple(clauses))
