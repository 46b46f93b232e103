"""Topic-based subscriptions (Subscriptions R5 Backport IG, websocket channel): the stored
Subscriptions, topic matching, per-subscription event numbering and the durable event log.

Events are numbered once, in the database, by the bus consumer group ``subscriptions``
(:class:`SubscriptionEventWorker`, one consumer per API process): for each matching active
subscription it locks the subscription row, skips events already logged (unique per
subscription and source key: a reading's observation id, a finding's state), numbers the new ones
from ``events_count + 1`` and commits the log entries with the new count. Only then does it
publish them on :data:`TOPIC_SUBSCRIPTION_EVENTS`, a broadcast that every API process tails to
push to the websockets bound there. A redelivered bus message (at-least-once) numbers nothing
twice; a missed push is recovered from the log with ``$events`` (the client sees the gap in
``eventsSinceSubscriptionStart``).

One module by the brief's boundary (tables, parsing, matching, numbering, notification bundles);
split into models/repository/service/notifications when the FHIR facade settles.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B.subscription import Subscription
from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.access import Principal, require_patient, visible_patient_ids
from patient_hub.accounts.models import Role
from patient_hub.bus.base import TOPIC_FINDINGS, TOPIC_READINGS, Delivery
from patient_hub.db import Base, UtcDateTime, unit_of_work
from patient_hub.fhir.codes import CODES_PATH
from patient_hub.fhir.common import fhir_datetime, id_from_reference
from patient_hub.fhir.mapping import observations_from_rows
from patient_hub.fhir.resources import finding_to_fhir
from patient_hub.findings.models import FindingRow
from patient_hub.ingest.models import BigId, ReadingRow
from patient_hub.runtime import HubContext
from telemed_core.errors import BusinessRuleViolation, InvalidInput, NotFound
from telemed_signal.findings import Finding, Severity

log = logging.getLogger(__name__)

#: Bus topic of numbered events, tailed by every API process (broadcast, best effort).
TOPIC_SUBSCRIPTION_EVENTS = "fhir-subscription-events"
GROUP = "subscriptions"
RECLAIM_IDLE_S = 30.0
MAX_EVENTS_PER_QUERY = 1000
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
CONTENTS = ("empty", "id-only", "full-resource")


@lru_cache(maxsize=1)
def topics() -> dict[str, str]:
    """Topic canonical URL -> bus topic it is fed from (``fhir/SubscriptionTopic-*.json``)."""
    out = {}
    for name, bus_topic in (("observation", TOPIC_READINGS), ("finding", TOPIC_FINDINGS)):
        path = CODES_PATH.parent / f"SubscriptionTopic-patient-{name}-new.json"
        out[json.loads(path.read_text(encoding="utf-8"))["url"]] = bus_topic
    return out


def topic_for(bus_topic: str) -> str:
    return next(url for url, t in topics().items() if t == bus_topic)


class SubscriptionRow(Base):
    """A topic-based Subscription; ``events_count`` is eventsSinceSubscriptionStart."""

    __tablename__ = "fhir_subscriptions"
    __table_args__ = (Index("ix_fhir_subscriptions_patient_status", "patient_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    topic: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    filters: Mapped[list[list[str]]] = mapped_column(JSON)
    content: Mapped[str] = mapped_column(String(16))
    fhir_version: Mapped[str] = mapped_column(String(8))
    heartbeat_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    end: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    events_count: Mapped[int] = mapped_column(BigInteger, default=0)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SubscriptionEventRow(Base):
    """One numbered event of one subscription, kept for ``$events`` replay."""

    __tablename__ = "fhir_subscription_events"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_number", name="uq_fhir_subscription_events_number"),
        UniqueConstraint("subscription_id", "source_key", name="uq_fhir_subscription_events_source"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_subscriptions.id", ondelete="CASCADE")
    )
    event_number: Mapped[int] = mapped_column(BigInteger)
    source_key: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    focus: Mapped[dict[str, Any]] = mapped_column(JSON)


# -- a posted Subscription -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a client asked for, checked: one patient, optional code/category tokens."""

    topic: str
    patient_id: str
    filters: tuple[tuple[str, str], ...]
    content: str
    fhir_version: str  # "4.3": SubscriptionStatus notifications; "4.0": Parameters (R4)
    heartbeat_s: int | None
    max_count: int
    end: datetime | None


def _extension(element: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    return next(
        (e for e in (element or {}).get("extension", []) if e.get("url") == BACKPORT + name), None
    )


def parse_subscription(body: Any) -> SubscriptionSpec:
    """Validate a Backport-IG Subscription (R4B model); InvalidInput (400) or
    BusinessRuleViolation (422, e.g. a channel other than websocket) naming the element."""
    try:
        Subscription.model_validate(body)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidInput(f"not a valid Subscription: {details}") from None
    topic = body["criteria"]
    if topic not in topics():
        raise BusinessRuleViolation(f"unknown topic {topic!r}; one of {sorted(topics())}")
    channel = body["channel"]
    if channel.get("type") != "websocket":
        raise BusinessRuleViolation("only the websocket channel is supported")
    patient_id, filters = _filters(body.get("_criteria"), topic)
    content_ext = _extension(channel.get("_payload"), "backport-payload-content")
    content = (content_ext or {}).get("valueCode", "id-only")
    if content not in CONTENTS:
        raise InvalidInput(f"payload content {content!r} is not one of {CONTENTS}")
    heartbeat = (_extension(channel, "backport-heartbeat-period") or {}).get("valueUnsignedInt")
    max_count = (_extension(channel, "backport-max-count") or {}).get("valuePositiveInt", 100)
    end = body.get("end")
    return SubscriptionSpec(
        topic=topic,
        patient_id=patient_id,
        filters=filters,
        content=content,
        fhir_version="4.0" if "fhirVersion=4.0" in str(channel.get("payload", "")) else "4.3",
        heartbeat_s=int(heartbeat) if heartbeat else None,
        max_count=min(int(max_count), MAX_EVENTS_PER_QUERY),
        end=datetime.fromisoformat(end) if end else None,
    )


def _filters(criteria: Any, topic: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(patient id, other filters) from ``backport-filter-criteria`` (``Observation?patient=..``)."""
    allowed = (
        {"patient", "code", "category"}
        if topics()[topic] == TOPIC_READINGS
        else {"patient", "code"}
    )
    pairs: list[tuple[str, str]] = []
    for ext in (criteria or {}).get("extension", []):
        if ext.get("url") != BACKPORT + "backport-filter-criteria":
            continue
        rtype, _, query = str(ext.get("valueString", "")).partition("?")
        if rtype != "Observation":
            raise InvalidInput(
                f"filter {ext.get('valueString')!r}: the topic's resource is Observation"
            )
        pairs += parse_qsl(query, keep_blank_values=True)
    unknown = {k for k, _ in pairs} - allowed
    if unknown:
        raise InvalidInput(f"filters {sorted(unknown)} are not supported; use {sorted(allowed)}")
    patients = [v for k, v in pairs if k == "patient"]
    if len(patients) != 1:
        raise BusinessRuleViolation(
            "exactly one patient filter is required (Observation?patient=Patient/<id>)"
        )
    ref = {"reference": patients[0] if "/" in patients[0] else f"Patient/{patients[0]}"}
    patient_id = id_from_reference(ref, "Patient", system_key="patient_identifier")
    if patient_id is None:
        raise InvalidInput(f"patient filter {patients[0]!r} is not Patient/<id>")
    return patient_id, tuple((k, v) for k, v in pairs if k != "patient")  # fmt: skip


async def create_subscription(
    session: AsyncSession,
    body: Mapping[str, Any],
    spec: SubscriptionSpec,
    who: Principal,
    now: datetime,
) -> SubscriptionRow:
    """Store an active subscription; NotFound (404) when ``who`` may not see the patient."""
    await require_patient(session, who, spec.patient_id)
    sub_id = uuid.uuid4().hex
    resource = {**body, "id": sub_id, "status": "active"}
    row = SubscriptionRow(
        id=sub_id, owner_id=who.user_id, topic=spec.topic, patient_id=spec.patient_id,
        filters=[list(f) for f in spec.filters], content=spec.content,
        fhir_version=spec.fhir_version, heartbeat_s=spec.heartbeat_s, max_count=spec.max_count,
        status="active", end=spec.end, events_count=0, resource=resource, created_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


async def get_subscription(session: AsyncSession, sub_id: str, who: Principal) -> SubscriptionRow:
    """The subscription if ``who`` owns it (or is admin) and still sees its patient; else 404."""
    row = await session.get(SubscriptionRow, sub_id)
    if row is None or (row.owner_id != who.user_id and who.role is not Role.ADMIN):
        raise NotFound(f"no Subscription {sub_id!r}")
    await require_patient(session, who, row.patient_id)
    return row


async def owned_subscriptions(session: AsyncSession, who: Principal) -> list[SubscriptionRow]:
    """The caller's active subscriptions whose patient they still see."""
    stmt = select(SubscriptionRow).where(
        SubscriptionRow.owner_id == who.user_id, SubscriptionRow.status == "active"
    )
    visible = await visible_patient_ids(session, who)
    rows = (await session.scalars(stmt.order_by(SubscriptionRow.created_at))).all()
    return [r for r in rows if visible is None or r.patient_id in visible]


async def delete_subscription(session: AsyncSession, sub_id: str, who: Principal) -> None:
    row = await get_subscription(session, sub_id, who)
    await session.delete(row)


def subscription_resource(row: SubscriptionRow) -> dict[str, Any]:
    """The stored Subscription with its current status."""
    return {**row.resource, "id": row.id, "status": row.status}


async def events_between(
    session: AsyncSession, sub_id: str, since: int, until: int | None
) -> Sequence[SubscriptionEventRow]:
    """Logged events ``since`` .. ``until`` (inclusive), oldest first, at most 1000."""
    stmt = select(SubscriptionEventRow).where(
        SubscriptionEventRow.subscription_id == sub_id, SubscriptionEventRow.event_number >= since
    )
    if until is not None:
        stmt = stmt.where(SubscriptionEventRow.event_number <= until)
    stmt = stmt.order_by(SubscriptionEventRow.event_number).limit(MAX_EVENTS_PER_QUERY)
    return (await session.scalars(stmt)).all()


# -- notification bundles (pure) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One numbered event as notifications carry it."""

    number: int
    at: datetime
    focus: Mapping[str, Any]


def notification_bundle(
    sub: SubscriptionRow, kind: str, events: Sequence[Event], base_url: str, now: datetime, *,
    count: int | None = None, content: str | None = None, bundle_type: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A notification Bundle: the status first (``kind``: handshake, heartbeat,
    event-notification, query-status, query-event), then the focus resources when the content
    is ``full-resource``. R4B shape (``subscription-notification`` + SubscriptionStatus) unless
    the subscription asked for ``fhirVersion=4.0`` (``history`` + Parameters, Backport IG R4).
    ``count`` is eventsSinceSubscriptionStart (default: the subscription's count)."""
    base = base_url.rstrip("/")
    content = content or sub.content
    total = sub.events_count if count is None else count
    r4 = sub.fhir_version == "4.0"
    status = (_status_r4 if r4 else _status_r4b)(sub, kind, events, base, total, content)
    first: dict[str, Any] = {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status}
    if r4:  # history entries carry request and response
        first |= {"request": {"method": "GET", "url": f"{base}/Subscription/{sub.id}/$status"},
                  "response": {"status": "200"}}  # fmt: skip
    entries = [first]
    if content == "full-resource":
        for e in events:
            entry: dict[str, Any] = {
                "fullUrl": _focus_url(e.focus, base),
                "resource": dict(e.focus),
            }
            if r4:
                entry |= {"request": {"method": "POST", "url": e.focus["resourceType"]},
                          "response": {"status": "201"}}  # fmt: skip
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": bundle_type or ("history" if r4 else "subscription-notification"),
        "timestamp": fhir_datetime(now),
        "entry": entries,
    }


def _focus_url(focus: Mapping[str, Any], base: str) -> str:
    return f"{base}/{focus['resourceType']}/{focus['id']}"


def _status_r4b(
    sub: SubscriptionRow, kind: str, events: Sequence[Event], base: str, total: int, content: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "SubscriptionStatus",
        "status": sub.status,
        "type": kind,
        "eventsSinceSubscriptionStart": str(total),
        "subscription": {"reference": f"{base}/Subscription/{sub.id}"},
        "topic": sub.topic,
    }
    notes = []
    for e in events:
        note: dict[str, Any] = {"eventNumber": str(e.number), "timestamp": fhir_datetime(e.at)}
        if content != "empty":
            note["focus"] = {"reference": _focus_url(e.focus, base)}
        notes.append(note)
    if notes:
        out["notificationEvent"] = notes
    return out


def _status_r4(
    sub: SubscriptionRow, kind: str, events: Sequence[Event], base: str, total: int, content: str
) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{sub.id}"}},
        {"name": "topic", "valueCanonical": sub.topic},
        {"name": "status", "valueCode": sub.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(total)},
    ]
    for e in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(e.number)},
            {"name": "timestamp", "valueInstant": fhir_datetime(e.at)},
        ]
        if content != "empty":
            parts.append(
                {"name": "focus", "valueReference": {"reference": _focus_url(e.focus, base)}}
            )
        params.append({"name": "notification-event", "part": parts})
    profile = BACKPORT + "backport-subscription-status-r4"
    return {"resourceType": "Parameters", "meta": {"profile": [profile]}, "parameter": params}


# -- event production -------------------------------------------------------------------------


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


async def active_subscriptions(
    session: AsyncSession, topic: str, patient_ids: Iterable[str], now: datetime
) -> list[SubscriptionRow]:
    ids = set(patient_ids)
    if not ids:
        return []
    stmt = select(SubscriptionRow).where(
        SubscriptionRow.topic == topic,
        SubscriptionRow.status == "active",
        SubscriptionRow.patient_id.in_(ids),
    )
    return [s for s in (await session.scalars(stmt)).all() if s.end is None or s.end > now]


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


class SubscriptionEventWorker:
    """Consumer ``consumer`` of group ``subscriptions``: numbers events, then publishes them."""

    def __init__(self, hub: HubContext, consumer: str) -> None:
        self.hub = hub
        self.consumer = consumer
        self.recorded = 0

    async def run(self, stop: asyncio.Event) -> None:
        """One loop per source topic, so a quiet topic never delays the other."""
        await asyncio.gather(*(self._loop(t, stop) for t in (TOPIC_READINGS, TOPIC_FINDINGS)))

    async def _loop(self, topic: str, stop: asyncio.Event) -> None:
        bus = self.hub.bus
        while not stop.is_set():
            try:
                batch = await bus.reclaim(topic, GROUP, self.consumer, min_idle_s=RECLAIM_IDLE_S)
                batch += await bus.consume(topic, GROUP, self.consumer, count=100, block_s=0.5)
                if batch:
                    await self.handle(topic, batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # the batch stays pending and is reclaimed; keep the loop alive
                log.exception("subscription events: batch on %s failed, will be retried", topic)
                await asyncio.sleep(1)

    async def handle(self, topic: str, batch: Sequence[Delivery]) -> None:
        payloads = [d.payload for d in batch]
        field = "readings" if topic == TOPIC_READINGS else "findings"
        patients = {i.get("patient_id") for p in payloads for i in p.get(field, [])}
        now = self.hub.clock()
        async with unit_of_work(self.hub.sessions) as session:
            subs = await active_subscriptions(
                session, topic_for(topic), {str(p) for p in patients}, now
            )
            watched = {s.patient_id for s in subs}
            make = reading_candidates if topic == TOPIC_READINGS else finding_candidates
            candidates = await make(session, payloads, watched) if watched else []
        numbered: list[Numbered] = []
        if candidates:
            async with self.hub.write_lock, unit_of_work(self.hub.sessions) as session:
                subs = await active_subscriptions(session, topic_for(topic), watched, now)
                numbered = await record_events(session, subs, candidates, now)
        if numbered:  # after commit: the log is durable before anyone is told
            await self.hub.bus.publish(
                TOPIC_SUBSCRIPTION_EVENTS, {"events": [n.to_json() for n in numbered]}
            )
        await self.hub.bus.ack(topic, GROUP, [d.id for d in batch])
        self.recorded += len(numbered)
