"""Trend rules on home measurements: heart-failure weight gain, ESH home blood pressure,
hypertensive crisis confirmed by a repeat, and adherence to a measurement schedule (in
:mod:`telemed_signal.adherence`, whose names this module re-exports).

Day boundaries, "morning" and "evening" are the patient's local time: every function that needs
them takes the patient's timezone explicitly (``tz``); all datetimes in and out are UTC-aware.

References:
    McDonagh TA et al. 2021 ESC Guidelines for the diagnosis and treatment of acute and chronic
    heart failure. Eur Heart J 2021;42:3599-3726 (patient self-care: act on an unexpected
    weight gain of > 2 kg in 3 days). MOBITEL routine operation used > 2 kg in 2 days
    (clinical-workflow reference, section 1.9).
    Parati G, Stergiou GS et al. Home blood pressure monitoring: methodology, clinical relevance
    and practical application: a 2021 position paper by the ESH Working Group on BP Monitoring.
    J Hypertens 2021;39:1742-1767 (7 days, morning and evening duplicates, discard the first
    day, average all the rest; home hypertension at >= 135 and/or >= 85 mmHg).
    Parati G et al. ESH practice guidelines for home BP monitoring. J Hum Hypertens
    2010;24:779-785 (at least 12 readings for a decision).
    Mancia G et al. 2023 ESH Guidelines for the management of arterial hypertension.
    J Hypertens 2023;41:1874-2071 (grade 3, >= 180 and/or >= 110 mmHg; hypertensive emergency
    and urgency; home threshold 135/85).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telemed_core.explanations import explained
from telemed_signal.adherence import (
    Measurement,
    ScheduleSlot,
    SlotOutcome,
    adherence,
    missed_measurement_findings,
    require_utc,
    scheduled_slots,
)
from telemed_signal.findings import Finding, Severity

__all__ = [  # adherence's names stay importable from here
    "Measurement",
    "ScheduleSlot",
    "SlotOutcome",
    "adherence",
    "missed_measurement_findings",
    "scheduled_slots",
]


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={value!r} is outside the plausible range [{low}, {high}]")


@dataclass(frozen=True, slots=True)
class WeightReading:
    """One body weight in kg; refuses NaN and impossible values."""

    at: datetime
    weight_kg: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_utc(self.at))
        _check_range("weight_kg", self.weight_kg, 1.0, 500.0)


@dataclass(frozen=True, slots=True)
class BpReading:
    """One cuff measurement in mmHg; refuses NaN, impossible values and SBP <= DBP."""

    at: datetime
    sbp_mmhg: float
    dbp_mmhg: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_utc(self.at))
        _check_range("sbp_mmhg", self.sbp_mmhg, 40.0, 300.0)
        _check_range("dbp_mmhg", self.dbp_mmhg, 20.0, 200.0)
        if self.sbp_mmhg <= self.dbp_mmhg:
            raise ValueError(f"sbp_mmhg {self.sbp_mmhg} must exceed dbp_mmhg {self.dbp_mmhg}")


# --- Heart failure: weight gain -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeightRule:
    """Gain >= ``gain_kg`` within ``window_days`` days, or >= ``day_to_day_kg`` since yesterday."""

    gain_kg: float = 2.0
    window_days: int = 3
    day_to_day_kg: float = 1.0


DEFAULT_WEIGHT_RULE = WeightRule()


def daily_weights(readings: Iterable[WeightReading], tz: ZoneInfo) -> dict[date, WeightReading]:
    """The first weighing of each local day: the morning weight HF patients are taught to take."""
    days: dict[date, WeightReading] = {}
    for r in sorted(readings, key=lambda r: r.at):
        days.setdefault(r.at.astimezone(tz).date(), r)
    return days


def weight_gain_findings(
    patient_id: str,
    readings: Iterable[WeightReading],
    tz: ZoneInfo,
    rule: WeightRule = DEFAULT_WEIGHT_RULE,
) -> list[Finding]:
    """Weight-gain findings, at most one per local day, over the whole history given.

    Each day's weight is compared with the lowest daily weight of the ``window_days`` days
    before (so "today vs 3 days ago" and any dip in between both count): a gain >= ``gain_kg``
    is ``weight_gain`` (medium). Otherwise a gain >= ``day_to_day_kg`` over the previous day is
    ``weight_gain_day_to_day`` (low). Gains are compared at 10 g resolution (scale precision).
    """
    days = daily_weights(readings, tz)
    findings: list[Finding] = []
    for day, today in days.items():
        earlier = [days[d] for d in _previous_days(day, rule.window_days) if d in days]
        if not earlier:
            continue
        ref = min(earlier, key=lambda r: r.weight_kg)
        gain = round(today.weight_kg - ref.weight_kg, 2)
        if gain >= rule.gain_kg:
            findings.append(_weight_finding(patient_id, ref, today, gain, rule, tz, window=True))
            continue
        yesterday = days.get(day - timedelta(days=1))
        if yesterday is not None:
            step = round(today.weight_kg - yesterday.weight_kg, 2)
            if step >= rule.day_to_day_kg:
                findings.append(
                    _weight_finding(patient_id, yesterday, today, step, rule, tz, window=False)
                )
    return findings


def _previous_days(day: date, n: int) -> list[date]:
    return [day - timedelta(days=k) for k in range(1, n + 1)]


def _weight_finding(
    patient_id: str,
    ref: WeightReading,
    today: WeightReading,
    gain_kg: float,
    rule: WeightRule,
    tz: ZoneInfo,
    *,
    window: bool,
) -> Finding:
    if window:
        kind, severity = "weight_gain", Severity.MEDIUM
        method = f"HF weight gain >= {rule.gain_kg:g} kg within {rule.window_days} days (ESC 2021)"
    else:
        kind, severity = "weight_gain_day_to_day", Severity.LOW
        method = f"HF weight gain >= {rule.day_to_day_kg:g} kg day to day"
    return Finding(
        patient_id=patient_id,
        kind=kind,
        start=ref.at,
        end=today.at,
        severity=severity,
        method=method,
        values={
            "weight_kg": today.weight_kg,
            "reference_weight_kg": ref.weight_kg,
            "gain_kg": gain_kg,
        },
        window_s=(today.at - ref.at).total_seconds(),
        **explained(
            "weight_gain",
            weight_kg=today.weight_kg,
            gain_kg=gain_kg,
            reference_kg=ref.weight_kg,
            reference_date=ref.at.astimezone(tz).date().isoformat(),
        ),
    )


# --- Hypertension: ESH home blood pressure ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class HomeBpRule:
    """ESH home-BP averaging. Hours are local, [start, end); readings outside both are unused."""

    days: int = 7
    discard_first_day: bool = True
    morning_hours: tuple[int, int] = (4, 12)
    evening_hours: tuple[int, int] = (16, 24)
    min_readings: int = 12
    min_days: int = 3
    sbp_mmhg: float = 135.0
    dbp_mmhg: float = 85.0


DEFAULT_HOME_BP_RULE = HomeBpRule()


@dataclass(frozen=True, slots=True)
class BpMean:
    """Mean SBP/DBP in mmHg of ``n`` readings."""

    sbp_mmhg: float
    dbp_mmhg: float
    n: int


@dataclass(frozen=True, slots=True)
class HomeBpSummary:
    """Home-BP means of one window (None without readings). ``elevated`` is None unless
    ``sufficient``: at least ``min_days`` measured days and ``min_readings`` used readings."""

    first_day: date
    last_day: date
    discarded_day: date | None
    n_days: int
    overall: BpMean | None
    morning: BpMean | None
    evening: BpMean | None
    used: tuple[BpReading, ...]
    sufficient: bool
    elevated: bool | None


def _local_day(r: BpReading, tz: ZoneInfo) -> date:
    return r.at.astimezone(tz).date()


def _in_hours(r: BpReading, tz: ZoneInfo, hours: tuple[int, int]) -> bool:
    local = r.at.astimezone(tz)
    return hours[0] <= local.hour + local.minute / 60.0 < hours[1]


def _mean(readings: Sequence[BpReading]) -> BpMean | None:
    if not readings:
        return None
    sbp = statistics.fmean(r.sbp_mmhg for r in readings)
    return BpMean(sbp, statistics.fmean(r.dbp_mmhg for r in readings), len(readings))


def home_bp_summary(
    readings: Iterable[BpReading],
    tz: ZoneInfo,
    as_of: datetime,
    rule: HomeBpRule = DEFAULT_HOME_BP_RULE,
) -> HomeBpSummary:
    """Average home BP over the ``rule.days`` local days ending on ``as_of``'s local day (ESH).

    Morning and evening readings are kept; the first local day with readings is discarded
    (readings are higher on day 1); all remaining readings, duplicates included, are averaged
    with equal weight. ``elevated`` is mean SBP >= 135 or mean DBP >= 85 mmHg (ESH 2021/2023).
    """
    last_day = require_utc(as_of).astimezone(tz).date()
    first_day = last_day - timedelta(days=rule.days - 1)
    kept = [
        r
        for r in sorted(readings, key=lambda r: r.at)
        if first_day <= _local_day(r, tz) <= last_day
        and (_in_hours(r, tz, rule.morning_hours) or _in_hours(r, tz, rule.evening_hours))
    ]
    measured_days = sorted({_local_day(r, tz) for r in kept})
    discarded = measured_days[0] if rule.discard_first_day and measured_days else None
    used = tuple(r for r in kept if _local_day(r, tz) != discarded)
    overall = _mean(used)
    sufficient = len(measured_days) >= rule.min_days and len(used) >= rule.min_readings
    elevated = None
    if sufficient and overall is not None:
        elevated = overall.sbp_mmhg >= rule.sbp_mmhg or overall.dbp_mmhg >= rule.dbp_mmhg
    morning = _mean([r for r in used if _in_hours(r, tz, rule.morning_hours)])
    evening = _mean([r for r in used if _in_hours(r, tz, rule.evening_hours)])
    return HomeBpSummary(
        first_day, last_day, discarded, len(measured_days), overall, morning, evening, used,
        sufficient, elevated,
    )  # fmt: skip


def home_bp_finding(
    patient_id: str, summary: HomeBpSummary, rule: HomeBpRule = DEFAULT_HOME_BP_RULE
) -> Finding | None:
    """A low-severity trend Finding when the ESH home average is at or above the threshold."""
    if not summary.elevated or summary.overall is None:
        return None
    values: dict[str, Any] = {"n_readings": summary.overall.n}
    for name in ("overall", "morning", "evening"):
        mean: BpMean | None = getattr(summary, name)
        values[f"{name}_sbp_mmhg"] = None if mean is None else round(mean.sbp_mmhg, 1)
        values[f"{name}_dbp_mmhg"] = None if mean is None else round(mean.dbp_mmhg, 1)
    start, end = summary.used[0].at, summary.used[-1].at
    return Finding(
        patient_id=patient_id,
        kind="home_bp_elevated",
        start=start,
        end=end,
        severity=Severity.LOW,
        method=f"ESH home BP average over {rule.days} days, first day discarded, "
        f">= {rule.sbp_mmhg:g}/{rule.dbp_mmhg:g} mmHg (Parati 2021; ESH 2023)",
        values=values,
        window_s=(end - start).total_seconds(),
        **explained(
            "home_bp",
            sbp_mmhg=round(summary.overall.sbp_mmhg),
            dbp_mmhg=round(summary.overall.dbp_mmhg),
            n=summary.overall.n,
            first_date=str(summary.first_day),
            last_date=str(summary.last_day),
            sbp_limit=rule.sbp_mmhg,
            dbp_limit=rule.dbp_mmhg,
        ),
    )


# --- Hypertensive crisis, confirmed by a repeat -----------------------------------------------


def hypertensive_crisis_findings(
    patient_id: str,
    readings: Iterable[BpReading],
    *,
    sbp_mmhg: float = 180.0,
    dbp_mmhg: float = 110.0,
    confirm_within_s: float = 600.0,
) -> list[Finding]:
    """Crisis-range readings (SBP >= 180 and/or DBP >= 110 mmHg, ESH 2023 grade 3).

    High readings each followed within ``confirm_within_s`` by another high reading form one
    confirmed episode, ``hypertensive_crisis`` (medium severity; whether it is an emergency
    depends on symptoms and organ damage, which a reading cannot tell). A single high reading
    is ``hypertensive_crisis_unconfirmed``: low severity while no repeat came within the window,
    informational when the repeat was below the thresholds. The default window (10 min) covers
    the 5 min of seated rest recommended before re-measuring.
    """
    method = f"BP >= {sbp_mmhg:g} and/or >= {dbp_mmhg:g} mmHg, repeat within {confirm_within_s:g} s"
    ordered = sorted(readings, key=lambda r: r.at)
    findings: list[Finding] = []
    i = 0
    while i < len(ordered):
        if not _is_crisis(ordered[i], sbp_mmhg, dbp_mmhg):
            i += 1
            continue
        j = i
        while (
            j + 1 < len(ordered)
            and _seconds(ordered[j], ordered[j + 1]) <= confirm_within_s
            and _is_crisis(ordered[j + 1], sbp_mmhg, dbp_mmhg)
        ):
            j += 1
        nxt = ordered[j + 1] if j + 1 < len(ordered) else None
        if nxt is not None and _seconds(ordered[j], nxt) > confirm_within_s:
            nxt = None
        findings.append(_crisis_finding(patient_id, ordered[i : j + 1], nxt, method))
        i = j + 1
    return findings


def _is_crisis(r: BpReading, sbp_mmhg: float, dbp_mmhg: float) -> bool:
    return r.sbp_mmhg >= sbp_mmhg or r.dbp_mmhg >= dbp_mmhg


def _seconds(a: BpReading, b: BpReading) -> float:
    return (b.at - a.at).total_seconds()


def _crisis_finding(
    patient_id: str, episode: list[BpReading], repeat: BpReading | None, method: str
) -> Finding:
    top = max(episode, key=lambda r: (r.sbp_mmhg, r.dbp_mmhg))
    values: dict[str, Any] = {
        "sbp_mmhg": top.sbp_mmhg,
        "dbp_mmhg": top.dbp_mmhg,
        "n_readings": len(episode),
        "confirmed": len(episode) > 1,
    }
    reading = {"sbp_mmhg": top.sbp_mmhg, "dbp_mmhg": top.dbp_mmhg}
    if len(episode) > 1:
        kind, severity = "hypertensive_crisis", Severity.MEDIUM
        why = explained("crisis_confirmed", n=len(episode), **reading)
    elif repeat is not None:
        kind, severity = "hypertensive_crisis_unconfirmed", Severity.INFO
        values.update(repeat_sbp_mmhg=repeat.sbp_mmhg, repeat_dbp_mmhg=repeat.dbp_mmhg)
        why = explained("crisis_repeat_lower", **reading)
    else:
        kind, severity = "hypertensive_crisis_unconfirmed", Severity.LOW
        why = explained("crisis_unconfirmed", **reading)
    start, end = episode[0].at, episode[-1].at
    window_s = (end - start).total_seconds()
    return Finding(patient_id, kind, start, end, severity, method, values, window_s, **why)
