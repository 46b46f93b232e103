"""Each programme's measurement schedule and how today's slots stand for a patient.

The schedules are the programme defaults of clinical-workflow.md (hypertension: BP morning and
evening, as ESH home monitoring asks; heart failure: weight and BP every morning, TIM-HF2's
daily set). They are proposals to validate with the clinicians, not sourced values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.readings import repository as repo
from telemed_signal.trends import Measurement, ScheduleSlot, adherence, scheduled_slots

WINDOW_S = 3 * 3600.0
SCHEDULES: dict[str, tuple[ScheduleSlot, ...]] = {
    "hypertension": (
        ScheduleSlot("bp_systolic", time(7, 0), WINDOW_S, WINDOW_S),
        ScheduleSlot("bp_systolic", time(19, 0), WINDOW_S, WINDOW_S),
    ),
    "heart_failure": (
        ScheduleSlot("body_weight", time(7, 0), WINDOW_S, WINDOW_S),
        ScheduleSlot("bp_systolic", time(7, 0), WINDOW_S, WINDOW_S),
    ),
}


@dataclass(frozen=True, slots=True)
class SlotToday:
    """``status``: done, due (window open), missed (window closed), upcoming."""

    kind: str
    due: datetime
    window_start: datetime
    window_end: datetime
    status: str
    measured_at: datetime | None


def _status(measured: datetime | None, lo: datetime, hi: datetime, now: datetime) -> str:
    if measured is not None:
        return "done"
    if now < lo:
        return "upcoming"
    return "due" if now <= hi else "missed"


async def today(
    session: AsyncSession, patient_id: str, programme: str, tz: ZoneInfo, now: datetime
) -> list[SlotToday]:
    """The programme's slots of the patient's local day, each with its measurement if taken."""
    schedule = SCHEDULES.get(programme, ())
    local = now.astimezone(tz).date()
    start = datetime.combine(local, time(0), tzinfo=tz).astimezone(UTC)
    slots = scheduled_slots(schedule, tz, start, start + timedelta(days=1))
    kinds = sorted({s.kind for s in schedule})
    rows = await repo.readings_of_patient(
        session, patient_id, kinds=kinds, since=start - timedelta(seconds=WINDOW_S), limit=500
    )
    pool = sorted((r.measured_at, r.kind) for r in rows)
    used: set[int] = set()
    out = []
    for slot, due in slots:
        lo, hi = due - timedelta(seconds=slot.before_s), due + timedelta(seconds=slot.after_s)
        match = next(
            (k for k, (at, kind) in enumerate(pool)
             if k not in used and kind == slot.kind and lo <= at <= hi),
            None,
        )  # fmt: skip
        if match is not None:
            used.add(match)
        measured = pool[match][0] if match is not None else None
        out.append(SlotToday(slot.kind, due, lo, hi, _status(measured, lo, hi, now), measured))
    return out


async def period_adherence(
    session: AsyncSession,
    patient_id: str,
    programme: str,
    tz: ZoneInfo,
    since: datetime,
    until: datetime,
) -> tuple[int, int]:
    """``(done, scheduled)`` slots of the programme whose window closed in ``[since, until)``."""
    schedule = SCHEDULES.get(programme, ())
    if not schedule:
        return 0, 0
    rows = await repo.readings_of_patient(
        session, patient_id, kinds=sorted({s.kind for s in schedule}),
        since=since - timedelta(seconds=WINDOW_S), until=until, limit=100_000,
    )  # fmt: skip
    outcomes = adherence(
        schedule, [Measurement(r.kind, r.measured_at) for r in rows], tz, since, until
    )
    return sum(o.received_at is not None for o in outcomes), len(outcomes)
