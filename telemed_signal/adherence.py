"""Adherence to a measurement schedule: which daily slots were met, missed or are still open.

Slots are due at a local time of day in the patient's timezone (``tz``); all datetimes in and
out are UTC-aware. Split from :mod:`telemed_signal.trends`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telemed_core.explanations import explained
from telemed_signal.findings import Finding, Severity


def require_utc(at: datetime) -> datetime:
    """``at`` in UTC; ValueError for a naive datetime (the trend rules take UTC-aware times)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ScheduleSlot:
    """A measurement of ``kind`` due daily at ``local_time`` in the patient's timezone.

    It is accepted from ``before_s`` before to ``after_s`` after the due time (the grace window).
    A once-a-day measurement at any time is ``local_time=time(0)``, ``before_s=0``,
    ``after_s=86400``.
    """

    kind: str
    local_time: time
    before_s: float = 3600.0
    after_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Measurement:
    """A measurement of ``kind`` (e.g. ``bp_systolic``, ``body_weight``) taken at ``at``."""

    kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SlotOutcome:
    """One scheduled slot whose grace window has closed; ``received_at`` None means missed."""

    slot: ScheduleSlot
    due: datetime
    window_start: datetime
    window_end: datetime
    received_at: datetime | None


def scheduled_slots(
    schedule: Sequence[ScheduleSlot], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[ScheduleSlot, datetime]]:
    """(slot, due UTC) for every slot due in [start, end), with due times in local time ``tz``.

    A due time in a DST gap resolves as ``zoneinfo`` does (fold=0), i.e. an hour later.
    """
    start, end = require_utc(start), require_utc(end)
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    out: list[tuple[ScheduleSlot, datetime]] = []
    while day <= last:
        for slot in schedule:
            due = datetime.combine(day, slot.local_time, tzinfo=tz).astimezone(UTC)
            if start <= due < end:
                out.append((slot, due))
        day += timedelta(days=1)
    return sorted(out, key=lambda pair: pair[1])


def adherence(
    schedule: Sequence[ScheduleSlot],
    measurements: Iterable[Measurement],
    tz: ZoneInfo,
    start: datetime,
    now: datetime,
) -> list[SlotOutcome]:
    """Outcome of every slot due from ``start`` whose grace window closed by ``now``.

    Each measurement fills at most one slot: slots are served in due order, each taking the
    earliest unused measurement of its kind inside its window. Slots still open are left out.
    """
    pool = sorted((require_utc(m.at), m.kind) for m in measurements)
    used: set[int] = set()
    outcomes: list[SlotOutcome] = []
    for slot, due in scheduled_slots(schedule, tz, start, now):
        lo, hi = due - timedelta(seconds=slot.before_s), due + timedelta(seconds=slot.after_s)
        if hi > now:
            continue
        match = _first_unused(pool, used, slot.kind, lo, hi)
        if match is not None:
            used.add(match)
        outcomes.append(SlotOutcome(slot, due, lo, hi, None if match is None else pool[match][0]))
    return outcomes


def _first_unused(
    pool: Sequence[tuple[datetime, str]], used: set[int], kind: str, lo: datetime, hi: datetime
) -> int | None:
    for k, (at, pool_kind) in enumerate(pool):
        if k not in used and pool_kind == kind and lo <= at <= hi:
            return k
    return None


def missed_measurement_findings(
    patient_id: str,
    schedule: Sequence[ScheduleSlot],
    measurements: Iterable[Measurement],
    tz: ZoneInfo,
    start: datetime,
    now: datetime,
) -> list[Finding]:
    """One low-severity ``missed_measurement`` Finding per closed slot with nothing received.

    These are compliance findings (for operators and reminders), not clinical ones.
    """
    return [
        _missed_finding(patient_id, o, tz)
        for o in adherence(schedule, measurements, tz, start, now)
        if o.received_at is None
    ]


def _missed_finding(patient_id: str, outcome: SlotOutcome, tz: ZoneInfo) -> Finding:
    due_local = outcome.due.astimezone(tz)
    return Finding(
        patient_id=patient_id,
        kind="missed_measurement",
        start=outcome.window_start,
        end=outcome.window_end,
        severity=Severity.LOW,
        method="Measurement schedule adherence (grace window around the local due time)",
        values={"measurement_kind": outcome.slot.kind, "due_local": due_local.isoformat()},
        window_s=(outcome.window_end - outcome.window_start).total_seconds(),
        **explained(
            "missed_slot", measurement_kind=outcome.slot.kind, due_at=due_local.isoformat()
        ),
    )
