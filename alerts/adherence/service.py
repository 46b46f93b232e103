"""Measurement schedules: remind the patient first, alert the nurse after repeated misses.

Each schedule is a daily local time in the patient's own time zone (hypertension default: blood
pressure at 07:00 and 19:00, ESH home monitoring, HORIZONT II "twice a day"). One durable timer
per schedule fires at due + grace: a measurement of the kind within ±grace of the due time
counts; otherwise it is a miss. Every miss sends the patient a reminder (their screen and each
contact point); after ``misses_before_alert`` consecutive misses the nurse gets one low-priority
adherence alert (later misses add to it). A measurement on time resets the count and clears it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adherence.models import MeasurementSchedule
from alerts.engine.conditions import Trigger
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEpisode
from alerts.escalation import repository as timers
from alerts.escalation.models import AlertTimer
from alerts.escalation.service import HANDLERS
from alerts.notify.repository import REMINDER, REMINDER_SUBJECTS
from alerts.notify.service import queue_for_patient
from alerts.policy.rules import Category, Priority
from patient_hub.accounts.models import User
from patient_hub.ingest.models import ReadingRow
from patient_hub.patients.models import Patient
from telemed_core.explanations import why as explain_why

#: Programme → (reading kind, local time) of its default schedule.
DEFAULT_SCHEDULES: dict[str, tuple[tuple[str, str], ...]] = {
    "hypertension": (("bp_systolic", "07:00"), ("bp_systolic", "19:00")),
}
DEFAULT_GRACE_MIN = 60
DEFAULT_MISSES_BEFORE_ALERT = 2
WHAT = {"bp_systolic": "blood pressure", "body_weight": "weight", "spo2": "oxygen saturation"}
WHAT_CS = {"bp_systolic": "krevního tlaku", "body_weight": "hmotnosti", "spo2": "saturace kyslíkem"}


def reminder_text(kind: str, local_time: str, language: str) -> str:
    """The reminder in the patient's language (Czech unless their account chose English)."""
    if language == "en":
        what = WHAT.get(kind, kind.replace("_", " "))
        return (
            f"Your {what} measurement due at {local_time} has not arrived. Please measure now; "
            "if the device does not work, call your telemedicine centre."
        )
    what = WHAT_CS.get(kind, kind.replace("_", " "))
    return (
        f"Měření {what} plánované na {local_time} nedorazilo. Změřte se prosím nyní; pokud "
        "přístroj nefunguje, zavolejte do svého telemedicínského centra."
    )


async def _patient_language(session: AsyncSession, patient_id: str) -> str:
    """The language the patient's account chose; Czech, the patients' default, otherwise."""
    chosen = await session.scalar(
        select(User.language).where(User.patient_id == patient_id, User.language.is_not(None))
    )
    return "en" if chosen == "en" else "cs"


def next_due(local_time: str, tz_name: str, after: datetime) -> datetime:
    """The first occurrence of ``local_time`` in ``tz_name`` strictly after ``after`` (UTC)."""
    tz = ZoneInfo(tz_name)
    hh, mm = (int(x) for x in local_time.split(":"))
    day = after.astimezone(tz).date()
    for offset in range(3):  # today, tomorrow (a DST gap never spans two days)
        candidate = datetime.combine(day + timedelta(days=offset), time(hh, mm), tz)
        if candidate > after:
            return candidate.astimezone(after.tzinfo)
    raise AssertionError("unreachable")


async def schedule_next(session: AsyncSession, sched: MeasurementSchedule, after: datetime) -> None:
    due = next_due(sched.local_time, sched.timezone, after)
    fire = due + timedelta(minutes=sched.grace_min)
    key = f"adherence|{sched.id}|{due.isoformat()}"
    payload = {"schedule_id": sched.id, "due": due.isoformat()}
    await timers.schedule(session, key, "adherence", fire, payload)


async def add_schedule(
    session: AsyncSession,
    patient: Patient,
    kind: str,
    local_time: str,
    now: datetime,
    *,
    grace_min: int = DEFAULT_GRACE_MIN,
    misses_before_alert: int = DEFAULT_MISSES_BEFORE_ALERT,
) -> MeasurementSchedule:
    sched = MeasurementSchedule(
        patient_id=patient.id, kind=kind, local_time=local_time, timezone=patient.timezone,
        grace_min=grace_min, misses_before_alert=misses_before_alert, consecutive_misses=0,
    )  # fmt: skip
    session.add(sched)
    await session.flush()
    await schedule_next(session, sched, now)
    return sched


async def ensure_default_schedules(session: AsyncSession, now: datetime) -> int:
    """Give every patient of a programme with a default schedule, and none yet, that default."""
    has = exists().where(MeasurementSchedule.patient_id == Patient.id)
    stmt = select(Patient).where(Patient.programme.in_(DEFAULT_SCHEDULES), ~has)
    added = 0
    for patient in (await session.scalars(stmt)).all():
        for kind, local_time in DEFAULT_SCHEDULES[patient.programme]:
            await add_schedule(session, patient, kind, local_time, now)
            added += 1
    return added


async def _siblings(session: AsyncSession, sched: MeasurementSchedule) -> list[MeasurementSchedule]:
    stmt = select(MeasurementSchedule).where(
        MeasurementSchedule.patient_id == sched.patient_id,
        MeasurementSchedule.kind == sched.kind,
    )
    return list((await session.scalars(stmt)).all())


async def _measured(session: AsyncSession, sched: MeasurementSchedule, due: datetime) -> bool:
    window = timedelta(minutes=sched.grace_min)
    stmt = select(
        exists().where(
            ReadingRow.patient_id == sched.patient_id,
            ReadingRow.kind == sched.kind,
            ReadingRow.measured_at >= due - window,
            ReadingRow.measured_at <= due + window,
        )
    )
    return bool(await session.scalar(stmt))


async def _check(session: AsyncSession, timer: AlertTimer, now: datetime) -> list[AlertEpisode]:
    """A slot's grace window is over: was the measurement taken?"""
    sched = await session.get(MeasurementSchedule, int(timer.payload["schedule_id"]))
    if sched is None:
        return []
    due = datetime.fromisoformat(timer.payload["due"])
    sched.last_checked_due = due
    await schedule_next(session, sched, due)
    # Misses count per patient and kind across the day's slots (07:00 then 19:00 is two).
    siblings = await _siblings(session, sched)
    if await _measured(session, sched, due):
        for s in siblings:
            s.consecutive_misses = 0
        return await episodes.apply(session, _trigger(sched, due, "clear"), now)
    misses = max(s.consecutive_misses for s in siblings) + 1
    for s in siblings:
        s.consecutive_misses = misses
    language = await _patient_language(session, sched.patient_id)
    await queue_for_patient(
        session, sched.patient_id, REMINDER_SUBJECTS[language],
        reminder_text(sched.kind, sched.local_time, language), now, kind=REMINDER,
    )  # fmt: skip
    if sched.consecutive_misses < sched.misses_before_alert:
        return []
    return await episodes.apply(session, _trigger(sched, due, "raise"), now)


def _trigger(sched: MeasurementSchedule, due: datetime, action: str) -> Trigger:
    local = due.astimezone(ZoneInfo(sched.timezone))
    return Trigger(
        patient_id=sched.patient_id,
        rule="missed_measurement",
        title="Missed measurements",
        action="raise" if action == "raise" else "clear",
        at=due,
        priority=Priority.LOW,
        category=Category.ADHERENCE,
        evidence_key=f"missed|{sched.id}|{due.isoformat()}",
        source_kind=sched.kind,
        values={"measurement_kind": sched.kind, "consecutive_misses": sched.consecutive_misses},
        detail={
            **explain_why(
                "missed_in_a_row",
                misses=sched.consecutive_misses,
                measurement_kind=sched.kind,
                due_at=local.isoformat(),
                grace_min=sched.grace_min,
            ),  # fmt: skip
            "rule": "missed_measurement",
            "schedule": {
                "local_time": sched.local_time,
                "timezone": sched.timezone,
                "grace_min": sched.grace_min,
                "misses_before_alert": sched.misses_before_alert,
            },
        },
    )


HANDLERS["adherence"] = _check
