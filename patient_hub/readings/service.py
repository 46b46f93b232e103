"""What the patient timeline shows beyond raw readings: trends, ESH home-BP averages and the
heart-failure daily weights, computed by the signal library from stored readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.readings import repository as repo
from telemed_core.errors import InvalidInput
from telemed_signal.trends import (
    BpReading,
    HomeBpSummary,
    WeightReading,
    daily_weights,
    home_bp_summary,
)

#: Span and bucket of each trend range: ~300 points per chart whatever the data rate.
RANGES: dict[str, tuple[timedelta, int]] = {
    "day": (timedelta(days=1), 300),
    "week": (timedelta(days=7), 1800),
    "month": (timedelta(days=30), 7200),
}
#: Sparse kinds (a cuff, a scale) are shown as measured, not averaged, up to this many.
RAW_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Trend:
    kind: str
    range: str
    since: datetime
    until: datetime
    bucket_s: int
    #: (epoch s, n, mean, min, max) per bucket, oldest first
    points: list[tuple[float, int, float, float, float]]


async def trend(
    session: AsyncSession, patient_id: str, kind: str, range_: str, until: datetime
) -> Trend:
    """One kind over ``range_`` (day, week, month) ending at ``until``, bucketed in SQL."""
    if range_ not in RANGES:
        raise InvalidInput(f"range must be one of {sorted(RANGES)}, not {range_!r}")
    span, bucket_s = RANGES[range_]
    since = until - span
    points = await repo.bucketed(session, patient_id, kind, since, until, bucket_s)
    return Trend(kind, range_, since, until, bucket_s, points)


async def home_bp(
    session: AsyncSession, patient_id: str, tz: ZoneInfo, as_of: datetime
) -> HomeBpSummary:
    """ESH 7-day home BP (morning, evening, overall) from the stored cuff readings."""
    rows = await repo.readings_of_patient(
        session,
        patient_id,
        since=as_of - timedelta(days=8),
        until=as_of + timedelta(seconds=1),
        kinds=("bp_systolic", "bp_diastolic"),
        limit=RAW_LIMIT,
    )
    pairs: dict[tuple[str, datetime], dict[str, float]] = {}
    for r in rows:
        if r.value is not None and "invalid" not in r.flags:
            pairs.setdefault((r.device_id, r.measured_at), {})[r.kind] = r.value
    readings = []
    for (_, at), parts in pairs.items():
        if len(parts) == 2:
            try:
                readings.append(BpReading(at, parts["bp_systolic"], parts["bp_diastolic"]))
            except ValueError:
                continue  # implausible pair: shown in the chart, not averaged
    return home_bp_summary(readings, tz, as_of)


async def weights(
    session: AsyncSession, patient_id: str, tz: ZoneInfo, as_of: datetime, days: int = 30
) -> list[WeightReading]:
    """The first weighing of each local day over ``days`` days (HF patients weigh mornings)."""
    rows = await repo.readings_of_patient(
        session,
        patient_id,
        kinds=("body_weight",),
        since=as_of - timedelta(days=days),
        limit=RAW_LIMIT,
    )
    found = []
    for r in rows:
        if r.value is not None and "invalid" not in r.flags:
            try:
                found.append(WeightReading(r.measured_at, r.value))
            except ValueError:
                continue
    return sorted(daily_weights(found, tz).values(), key=lambda w: w.at)
