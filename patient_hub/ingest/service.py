"""Ingest logic: authenticate a bridge, check a batch, store it idempotently.

The caller (the websocket endpoint) owns the transaction: it commits, then publishes, then acks.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.ingest import repository
from telemed_core.errors import Conflict, Forbidden, NotAuthenticated
from telemed_core.protocol import Batch, Hello


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a bridge token (tokens are 256-bit random: no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class BridgeSession:
    """What the hub knows about a connected, authenticated bridge."""

    bridge_id: str
    allowed_patients: set[str] = field(default_factory=set)
    telemedpoint_id: str | None = None  # set for a kiosk
    #: A kiosk's own patient ids → the hub's (``kiosk.service.map_local_ids``), and how many
    #: registrations the bridge had when they were read (registrations are only ever added).
    links: dict[str, str] = field(default_factory=dict)
    links_count: int = -1


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int


async def authenticate(session: AsyncSession, hello: Hello, now: datetime) -> BridgeSession:
    """Check the bridge's credential; return what it may send for. Raise NotAuthenticated."""
    bridge = await repository.get_bridge(session, hello.bridge_id)
    if bridge is None or not hmac.compare_digest(bridge.token_hash, hash_token(hello.token)):
        raise NotAuthenticated("unknown bridge or wrong token")
    bridge.last_seen_at = now
    allowed: set[str] = set()
    if bridge.patient_id is not None:
        allowed.add(bridge.patient_id)
    if bridge.telemedpoint_id is not None:
        allowed |= await repository.patients_of_telemedpoint(session, bridge.telemedpoint_id)
    return BridgeSession(
        bridge_id=bridge.id, allowed_patients=allowed, telemedpoint_id=bridge.telemedpoint_id
    )


async def refresh_allowed(session: AsyncSession, bridge: BridgeSession) -> None:
    """Re-read the bridge's patients (a kiosk's telemedpoint may have gained a patient)."""
    row = await repository.get_bridge(session, bridge.bridge_id)
    if row is None:
        raise NotAuthenticated("bridge was removed")
    allowed = {row.patient_id} if row.patient_id else set()
    if row.telemedpoint_id is not None:
        allowed |= await repository.patients_of_telemedpoint(session, row.telemedpoint_id)
    bridge.allowed_patients = allowed


def check_patients(bridge: BridgeSession, batch: Batch) -> None:
    """Raise Forbidden when the batch names a patient this bridge may not send for."""
    named = {r.patient_id for r in batch.readings} | {c.patient_id for c in batch.chunks}
    check_patient_ids(bridge, named)


def check_patient_ids(bridge: BridgeSession, named: set[str]) -> None:
    """Raise Forbidden when ``named`` holds a patient this bridge may not send for."""
    foreign = named - bridge.allowed_patients
    if foreign:
        raise Forbidden(f"bridge {bridge.bridge_id} may not send for patients {sorted(foreign)}")


class SeqConflict(Conflict):
    """A bridge sent a different item under a sequence number the hub already holds."""

    code = "seq-conflict"


async def welcome_numbers(
    session: AsyncSession, bridge: BridgeSession, new_outbox: bool
) -> tuple[int, int | None]:
    """(highest stored seq, the block reserved for a new outbox or None) for the welcome."""
    seq_base = None
    if new_outbox:
        seq_base = await repository.reserve_seq_base(session, bridge.bridge_id)
    return await repository.last_seq(session, bridge.bridge_id), seq_base


async def store_batch(
    session: AsyncSession, bridge: BridgeSession, batch: Batch, now: datetime
) -> StoreResult:
    """Store the batch's new items; items already stored (replays) are counted, not doubled.

    A replay must equal the stored item: a different item under a stored number raises
    SeqConflict, and the caller's rollback leaves the whole batch unstored (the bridge keeps it).

    Items of test patients (simulated) are stored with the ``simulated`` flag (HTEST).
    """
    batch = await _mark_test_data(session, batch)
    readings = await repository.insert_readings(session, bridge.bridge_id, batch.readings, now)
    chunks = await repository.insert_chunks(session, bridge.bridge_id, batch.chunks, now)
    return store_result(bridge, batch, readings, chunks)


def store_result(
    bridge: BridgeSession, batch: Batch, readings: repository.Inserted, chunks: repository.Inserted
) -> StoreResult:
    """What an idempotent insert of ``batch`` did; SeqConflict when a replay differs (the
    store has then left the whole batch unstored)."""
    return result_of(bridge, len(batch.readings) + len(batch.chunks), readings, chunks)


def result_of(
    bridge: BridgeSession, total: int, readings: repository.Inserted, chunks: repository.Inserted
) -> StoreResult:
    """What an idempotent insert of ``total`` items did (see ``store_result``)."""
    differing = readings.differing + chunks.differing
    if differing:
        shown = ", ".join(f"seq {seq} ({field})" for seq, field in differing[:5])
        raise SeqConflict(
            f"bridge {bridge.bridge_id} sent {len(differing)} item(s) that differ from the ones "
            f"stored under the same sequence number: {shown}; the batch is refused and stays on "
            "the bridge (was its outbox replaced without a new sequence block?)"
        )
    stored = len(readings.new) + len(chunks.new)
    return StoreResult(stored=stored, duplicates=total - stored)


async def _mark_test_data(session: AsyncSession, batch: Batch) -> Batch:
    named = {r.patient_id for r in batch.readings} | {c.patient_id for c in batch.chunks}
    test = await repository.test_patients_among(session, named)
    if not test:
        return batch

    def mark(flags: list[str]) -> list[str]:
        return flags if "simulated" in flags else [*flags, "simulated"]

    readings = [
        r.model_copy(update={"flags": mark(r.flags)}) if r.patient_id in test else r
        for r in batch.readings
    ]
    chunks = [
        c.model_copy(update={"flags": mark(c.flags)}) if c.patient_id in test else c
        for c in batch.chunks
    ]
    return batch.model_copy(update={"readings": readings, "chunks": chunks})
