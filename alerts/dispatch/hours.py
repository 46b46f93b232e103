"""Access hours of an AED: a small subset of OpenStreetMap's ``opening_hours`` syntax.

Accepted: ``24/7``, or rules separated by ``;`` such as ``Mo-Fr 07:00-19:00; Sa 08:00-12:00``
(day ranges or lists ``Mo,We``, one or more time spans ``08:00-12:00,13:00-17:00``; a span
ending at or before it starts runs past midnight, e.g. ``Fr 20:00-02:00``). Pure, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from telemed_core.errors import InvalidInput

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class Rule:
    days: frozenset[int]  # 0 = Monday
    spans: tuple[tuple[time, time], ...]


@dataclass(frozen=True, slots=True)
class AccessHours:
    """Parsed access hours; ``always`` for 24/7."""

    always: bool
    rules: tuple[Rule, ...] = ()

    def is_open(self, local: datetime) -> bool:
        """Whether the AED can be reached at ``local`` (a time in the AED's own zone)."""
        if self.always:
            return True
        today, yesterday = local.weekday(), (local - timedelta(days=1)).weekday()
        t = local.time()
        for rule in self.rules:
            for start, end in rule.spans:
                if start < end and today in rule.days and start <= t < end:
                    return True
                if end <= start and (
                    (today in rule.days and t >= start) or (yesterday in rule.days and t < end)
                ):
                    return True
        return False


def parse_hours(text: str) -> AccessHours:
    """Parse ``text``; InvalidInput says what is wrong."""
    text = text.strip()
    if text in ("24/7", ""):
        return AccessHours(always=True)
    rules = tuple(_rule(part.strip()) for part in text.split(";") if part.strip())
    if not rules:
        raise InvalidInput(f"access hours {text!r}: no rule")
    return AccessHours(always=False, rules=rules)


def _rule(part: str) -> Rule:
    try:
        day_text, span_text = part.split(maxsplit=1)
    except ValueError:
        raise InvalidInput(f"access hours {part!r}: expected 'Mo-Fr 08:00-17:00'") from None
    return Rule(_days(day_text, part), tuple(_span(s, part) for s in span_text.split(",")))


def _days(text: str, part: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        ends = item.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise InvalidInput(f"access hours {part!r}: unknown days {item!r} (use Mo..Su)")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def _span(text: str, part: str) -> tuple[time, time]:
    m = _SPAN.match(text.strip())
    if m is None:
        raise InvalidInput(f"access hours {part!r}: bad time span {text!r} (use 08:00-17:00)")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise InvalidInput(f"access hours {part!r}: no such time in {text!r}")
    end = time(23, 59, 59, 999_999) if h2 == 24 else time(h2, m2)
    return time(h1, m1), end
