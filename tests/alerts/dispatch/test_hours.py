"""AED access hours: when an AED can be reached."""

from __future__ import annotations

from datetime import datetime

import pytest

from alerts.dispatch.hours import parse_hours
from telemed_core.errors import InvalidInput

MONDAY_11 = datetime(2026, 12, 7, 11, 0)


def test_24_7_is_always_open() -> None:
    assert parse_hours("24/7").is_open(MONDAY_11)


def test_weekday_hours_are_open_inside_and_closed_outside() -> None:
    hours = parse_hours("Mo-Fr 08:00-12:00,13:00-17:00; Sa 09:00-11:00")
    assert hours.is_open(MONDAY_11)
    assert not hours.is_open(datetime(2026, 12, 7, 12, 30))  # lunch
    assert not hours.is_open(datetime(2026, 12, 7, 17, 0))  # closes at 17:00
    assert hours.is_open(datetime(2026, 12, 12, 10, 0))  # Saturday
    assert not hours.is_open(datetime(2026, 12, 13, 10, 0))  # Sunday


def test_a_span_past_midnight_belongs_to_the_day_it_starts() -> None:
    hours = parse_hours("Fr-Sa 20:00-04:00")
    assert hours.is_open(datetime(2026, 12, 11, 23, 0))  # Friday night
    assert hours.is_open(datetime(2026, 12, 12, 3, 0))  # early Saturday, from Friday
    assert hours.is_open(datetime(2026, 12, 13, 3, 0))  # early Sunday, from Saturday
    assert not hours.is_open(datetime(2026, 12, 14, 3, 0))  # early Monday: Sunday is closed


def test_a_day_range_may_wrap_the_week() -> None:
    assert parse_hours("Sa-Mo 10:00-12:00").is_open(MONDAY_11)


@pytest.mark.parametrize("text", ["Mo-Fr", "Xy 08:00-12:00", "Mo 8-12", "Mo 25:00-26:00"])
def test_unreadable_hours_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(InvalidInput, match="access hours"):
        parse_hours(text)
