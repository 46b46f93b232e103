"""Replay over the stored period, and per-rule statistics of the alerts actually raised."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.episodes import repository as episodes_repo
from alerts.replay.engine import CURRENT, ReplayCount, ReplayPolicy, replay
from patient_hub.findings.models import FindingRow
from patient_hub.ingest.models import ReadingRow
from patient_hub.patients.models import Patient
from telemed_core.errors import InvalidInput

READING_KINDS = ("spo2", "heart_rate", "pulse_rate")


def _check_period(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("since and until need a time zone (e.g. 2026-12-01T00:00:00Z)")
    if until <= since:
        raise InvalidInput("until must be after since")


async def _readings(
    session: AsyncSession, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    stmt = (
        select(ReadingRow)
        .where(
            ReadingRow.measured_at >= since,
            ReadingRow.measured_at < until,
            ReadingRow.kind.in_(READING_KINDS),
        )
        .order_by(ReadingRow.patient_id, ReadingRow.measured_at)
        .execution_options(yield_per=10_000)
    )
    out = []
    async for r in await session.stream_scalars(stmt):
        if "derived" in r.flags.split(","):
            continue
        out.append({
            "bridge_id": r.bridge_id, "seq": r.seq, "patient_id": r.patient_id, "kind": r.kind,
            "value": r.value, "measured_at": r.measured_at.isoformat(),
            "flags": [f for f in r.flags.split(",") if f],
        })  # fmt: skip
    return out


async def _findings(
    session: AsyncSession, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    stmt = select(FindingRow).where(FindingRow.start >= since, FindingRow.start < until)
    return [
        {
            "key": f.key, "patient_id": f.patient_id, "kind": f.kind,
            "start": f.start.isoformat(), "end": f.end.isoformat() if f.end else None,
            "severity": f.severity, "method": f.method, "values": f.values,
            "window_s": f.window_s, "explanation": f.explanation,
            "explanation_key": f.explanation_key or "", "explanation_args": f.explanation_args or {},
        }
        for f in (await session.scalars(stmt)).all()
    ]  # fmt: skip


async def replay_period(
    session: AsyncSession, proposed: ReplayPolicy, since: datetime, until: datetime
) -> dict[str, Any]:
    """Alerts today's policy and ``proposed`` would have raised over the stored period."""
    _check_period(since, until)
    readings = await _readings(session, since, until)
    findings = await _findings(session, since, until)
    programmes = dict((await session.execute(select(Patient.id, Patient.programme))).all())
    current = replay(readings, findings, programmes, CURRENT)
    new = replay(readings, findings, programmes, proposed)
    actual = len(await episodes_repo.in_period(session, since, until))
    return {
        "since": since.isoformat(), "until": until.isoformat(),
        "readings": len(readings), "findings": len(findings),
        "current": _count(current), "proposed": _count(new),
        "difference": new.alerts - current.alerts,
        "raised_live_in_period": actual,
    }  # fmt: skip


def _count(c: ReplayCount) -> dict[str, Any]:
    return {"policy": c.policy, "alerts": c.alerts, "by_rule": dict(sorted(c.by_rule.items()))}


async def rule_stats(
    session: AsyncSession, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per rule: count, acceptance rate, median time to accept, outcomes (false alarms)."""
    _check_period(since, until)
    by_rule: dict[str, list[Any]] = defaultdict(list)
    for ep in await episodes_repo.in_period(session, since, until):
        if ep.state not in ("pending", "merged"):
            by_rule[ep.rule].append(ep)
    out = []
    for rule, eps in sorted(by_rule.items()):
        waits = [(e.accepted_at - e.opened_at).total_seconds() for e in eps if e.accepted_at]
        outcomes = Counter(e.outcome for e in eps if e.outcome)
        out.append({
            "rule": rule, "count": len(eps), "accepted": len(waits),
            "acceptance_rate": len(waits) / len(eps),
            "median_time_to_accept_s": statistics.median(waits) if waits else None,
            "outcomes": dict(outcomes), "false_alarms": outcomes.get("false_alarm", 0),
        })  # fmt: skip
    return out
