"""Event production: the candidates of a bus batch, topic and filter matching, and the
per-subscription numbering into the durable log."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS
from patient_hub.fhir.common import id_from_reference
from patient_hub.fhir.finding_observations import finding_to_fhir
from patient_hub.fhir.mapping import observations_from_rows
from patient_hub.fhir.subscriptions.models import SubscriptionEventRow, SubscriptionRow
from patient_hub.fhir.subscriptions.topics import topic_for
from patient_hub.findings.models import FindingRow
from patient_hub.ingest.models import ReadingRow
from telemed_signal.findings import Finding, Severity


@dataclass(frozen=True, slots=True)
class Candidate:
    """A change that may be an event: whose, from which topic, its focus resource and the key
    that makes numbering idempotent (the same change is one event however often it is seen)."""

    topic: str
    patient_id: str
    source_key: str
    focus: Mapping[str, Any]


def _token_match(token: str, concepts: Iterable[Mapping[str, Any]]) -> bool:
    system, bar, code = token.partition("|")
    if not bar:
        system, code = "", token
    return any(
        c.get("code") == code and (not system or c.get("system") == system)
        for concept in concepts
        for c in concept.get("coding", [])
    )


def matches(filters: Sequence[Sequence[str]], focus: Mapping[str, Any]) -> bool:
    """All filters hold (AND); repeated parameters are alternatives (comma lists too)."""
    by_param: dict[str, list[str]] = defaultdict(list)
    for param, value in filters:
        by_param[param] += value.split(",")
    for param, tokens in by_param.items():
        concepts = [focus.get("code", {})] if param == "code" else focus.get("category", [])
        if not any(_token_match(t, concepts) for t in tokens):
            return False
    return True


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


#: Active subscriptions of a topic read whole and matched in Python, at most.
_WHOLE = 1000


async def active_subscriptions(
    session: AsyncSession, topic: str, patient_ids: Iterable[str], now: datetime
) -> list[SubscriptionRow]:
    """The active subscriptions of ``topic`` for any of ``patient_ids``.

    A batch names up to thousands of patients (a kiosk's), and most deployments have few
    subscriptions: the topic's active ones are read whole (up to ``_WHOLE``) and matched here.
    An ``IN`` list of every patient of every batch cost the hub's event loop a tenth of its time
    at 5,000 patients (SQLAlchemy renders each bound id), with no subscription at all."""
    ids = set(patient_ids)
    if not ids:
        return []
    stmt = select(SubscriptionRow).where(
        SubscriptionRow.topic == topic, SubscriptionRow.status == "active"
    )
    rows = (await session.scalars(stmt.limit(_WHOLE + 1))).all()
    if len(rows) > _WHOLE:  # many: ask for these patients' only
        rows = (await session.scalars(stmt.where(SubscriptionRow.patient_id.in_(ids)))).all()
    return [s for s in rows if s.patient_id in ids and (s.end is None or s.end > now)]


async def reading_candidates(
    session: AsyncSession, payloads: Sequence[Mapping[str, Any]], watched: set[str]
) -> list[Candidate]:
    """Stored readings of watched patients as Observations (BP panels grouped as in the
    mapping). Derived readings carry no seq and are not stored, so they are no event."""
    topic = topic_for(TOPIC_READINGS)
    out: list[Candidate] = []
    for payload in payloads:
        seqs = [r["seq"] for r in payload.get("readings", [])
                if "seq" in r and r.get("patient_id") in watched]  # fmt: skip
        if not seqs:
            continue
        rows = (await session.scalars(
            select(ReadingRow)
            .where(ReadingRow.bridge_id == payload["bridge_id"], ReadingRow.seq.in_(seqs))
            .order_by(ReadingRow.seq)
        )).all()  # fmt: skip
        for obs in observations_from_rows(rows):
            out.append(Candidate(topic, _patient(obs), _key(f"obs:{obs['id']}"), obs))
    return out


def _patient(obs: Mapping[str, Any]) -> str:
    found = id_from_reference(obs["subject"], "Patient", system_key="patient_identifier")
    assert found is not None
    return found


async def finding_candidates(
    session: AsyncSession, payloads: Sequence[Mapping[str, Any]], watched: set[str]
) -> list[Candidate]:
    """Findings of watched patients: an event when one is found, ends or changes severity."""
    topic = topic_for(TOPIC_FINDINGS)
    items = [f for p in payloads for f in p.get("findings", []) if f.get("patient_id") in watched]
    if not items:
        return []
    keys = {f["key"] for f in items}
    stmt = select(FindingRow.key, FindingRow.id).where(FindingRow.key.in_(keys))
    ids = {key: pk for key, pk in (await session.execute(stmt)).all()}
    out = []
    for f in items:
        if f["key"] not in ids:
            continue
        focus = {"resourceType": "Observation", "id": f"f-{ids[f['key']]}",
                 **_without_type(finding_to_fhir(_finding(f)))}  # fmt: skip
        state = f"finding:{f['key']}|{f.get('end')}|{f['severity']}"
        out.append(Candidate(topic, f["patient_id"], _key(state), focus))
    return out


def _without_type(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "resourceType"}


def _finding(f: Mapping[str, Any]) -> Finding:
    return Finding(
        patient_id=f["patient_id"], kind=f["kind"], start=datetime.fromisoformat(f["start"]),
        end=datetime.fromisoformat(f["end"]) if f.get("end") else None,
        severity=Severity(f["severity"]), method=f["method"], values=dict(f.get("values") or {}),
        window_s=f.get("window_s"), explanation=f.get("explanation") or "",
        explanation_key=f.get("explanation_key") or "",
        explanation_args=dict(f.get("explanation_args") or {}),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Numbered:
    """An event just logged, to push to the sockets bound to its subscription."""

    subscription_id: str
    number: int
    at: datetime
    focus: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"subscription_id": self.subscription_id, "event_number": self.number,
                "at": self.at.isoformat(), "focus": self.focus}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Numbered:
        return cls(raw["subscription_id"], int(raw["event_number"]),
                   datetime.fromisoformat(raw["at"]), raw["focus"])  # fmt: skip


async def record_events(
    session: AsyncSession,
    subs: Sequence[SubscriptionRow],
    candidates: Sequence[Candidate],
    now: datetime,
) -> list[Numbered]:
    """Number and log the candidates for each matching subscription, once (idempotent by
    source key). Subscription rows are locked in id order, so concurrent consumers neither
    double-number nor deadlock. The caller commits, then publishes the result."""
    wanted: dict[str, list[Candidate]] = defaultdict(list)
    for sub in subs:
        for c in candidates:
            if (
                c.topic == sub.topic
                and c.patient_id == sub.patient_id
                and matches(sub.filters, c.focus)
            ):
                wanted[sub.id].append(c)
    out: list[Numbered] = []
    for sub_id in sorted(wanted):
        out += await _number(session, sub_id, wanted[sub_id], now)
    return out


async def _number(
    session: AsyncSession, sub_id: str, candidates: Sequence[Candidate], now: datetime
) -> list[Numbered]:
    sub = await session.scalar(
        select(SubscriptionRow).where(SubscriptionRow.id == sub_id).with_for_update()
    )
    if sub is None or sub.status != "active":
        return []
    seen = set(await session.scalars(
        select(SubscriptionEventRow.source_key).where(
            SubscriptionEventRow.subscription_id == sub_id,
            SubscriptionEventRow.source_key.in_({c.source_key for c in candidates}),
        )
    ))  # fmt: skip
    rows, out, number = [], [], sub.events_count
    for c in candidates:
        if c.source_key in seen:
            continue
        seen.add(c.source_key)
        number += 1
        rows.append({"subscription_id": sub_id, "event_number": number, "source_key": c.source_key,
                     "occurred_at": now, "focus": dict(c.focus)})  # fmt: skip
        out.append(Numbered(sub_id, number, now, c.focus))
    if rows:
        await session.execute(insert(SubscriptionEventRow), rows)
        sub.events_count = number
    return out
