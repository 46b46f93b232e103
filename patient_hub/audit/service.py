"""Recording and verifying the audit trail. Never commits: the caller's transaction holds the
entry together with what it audits, so an act and its record stand or fall together.

Use::

    from patient_hub.audit import service as audit
    await audit.record(session, actor=who, action="read", entity_type="Patient",
                       entity_id=patient_id, patient_id=patient_id, detail={"kind": "spo2"})
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.access import Principal
from patient_hub.audit import repository as repo
from patient_hub.audit.models import AuditEntry
from telemed_core.values import utc_now

Action = Literal["read", "search", "create", "update", "delete", "export", "login"]
ACTIONS: frozenset[str] = frozenset(Action.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it when it is not a signed-in user (a CLI command, a bridge, the system)."""

    name: str
    user_id: str | None = None


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: one byte string per value, stable forever."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 (hex) of the canonical encoding of the entry's fields and its predecessor's hash."""
    fields = {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "patient_id": entry.patient_id,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


async def record(
    session: AsyncSession,
    *,
    actor: Principal | Actor,
    action: Action,
    entity_type: str,
    entity_id: str,
    patient_id: str | None = None,
    detail: dict[str, object] | None = None,
) -> AuditEntry:
    """Append one entry to the chain in the caller's transaction; returns it (hash set).

    Concurrent writers are serialised by the chain head's lock until their commit; call this
    late in a request so the lock is held briefly.
    """
    entries = await record_many(
        session,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        patient_ids=[patient_id],
        detail=detail,
    )
    return entries[0]


async def record_many(
    session: AsyncSession,
    *,
    actor: Principal | Actor,
    action: Action,
    entity_type: str,
    entity_id: str,
    patient_ids: Sequence[str | None],
    detail: dict[str, object] | None = None,
) -> list[AuditEntry]:
    """One entry per patient of a group view (so "who looked at this patient" sees it), all
    appended under one lock."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if not patient_ids:
        return []
    name, user_id = (
        (actor.username, actor.user_id)
        if isinstance(actor, Principal)
        else (actor.name, actor.user_id)
    )
    seq, prev_hash = await repo.advance_head(session, len(patient_ids))
    at, encoded = utc_now(), canonical_json(detail) if detail is not None else None
    entries = []
    for i, patient_id in enumerate(patient_ids):
        entry = AuditEntry(
            seq=seq + i, at=at, actor=name[:100], actor_id=user_id, action=action,
            entity_type=entity_type[:40], entity_id=entity_id[:200], patient_id=patient_id,
            detail=encoded, prev_hash=prev_hash,
        )  # fmt: skip
        entry.hash = prev_hash = entry_hash(entry)
        entries.append(entry)
    await repo.append(session, entries)
    return entries


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of checking the chain: ``broken_seq`` is the first bad entry, if any."""

    entries: int
    broken_seq: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def _check(entry: AuditEntry, expected_seq: int, prev_hash: str) -> str:
    """Why ``entry`` breaks the chain, or "" when it holds."""
    if entry.seq != expected_seq:
        return f"entry {expected_seq} is missing (next stored is {entry.seq})"
    if entry.prev_hash != prev_hash:
        return "its previous-hash does not match the entry before it"
    if entry_hash(entry) != entry.hash:
        return "its content does not match its hash (the entry was changed)"
    return ""


async def verify(session: AsyncSession) -> Verdict:
    """Walk the whole chain from the first entry; name the first entry that does not hold."""
    prev_hash, expected, count = repo.GENESIS_HASH, 1, 0
    async for entry in repo.entries_in_order(session):
        reason = _check(entry, expected, prev_hash)
        if reason:
            return Verdict(count, min(expected, entry.seq), reason)
        prev_hash, expected, count = entry.hash, expected + 1, count + 1
    head = await repo.head(session)
    if head is not None and (head.seq != count or head.hash != prev_hash):
        return Verdict(
            count,
            count + 1,
            f"the chain head names entry {head.seq}: entries were removed from the end",
        )
    return Verdict(count)
