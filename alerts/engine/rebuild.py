"""Rebuild the reading rules' state of patient partitions a worker takes over.

The reading rules (persistence, hysteresis) remember per (patient, rule) when the current
breach began and whether it raised. A worker that gains a partition re-feeds that state from
the stored readings of the last minutes, as the signal worker does (``patient_hub/processing/
rebuild.py``), with the same exactness rule: readings still in the partition's unprocessed
messages are not replayed (they are processed from their messages, so what they trigger is not
lost).

The triggers of the replay were the previous owner's to apply and are normally discarded. One
case is not: a reading committed by ingest before the history was read whose message was
published after the backlog was read. The replay saw it, so its message's copy is skipped as
old; the worker therefore keeps the replay's triggers by (bridge, seq) for a while and applies
them if such a message arrives (applying evidence twice is harmless: it is keyed).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.engine.conditions import ReadingConditions, Trigger
from alerts.policy import service as policy
from alerts.policy.rules import PROGRAMMES, ReadingRule
from patient_hub.bus.partitions import partition_of
from patient_hub.processing.rebuild import Key, replay_batches
from patient_hub.readings.repository import all_patient_ids, recent_of_kinds

#: At least this much history is replayed: longer than any default persistence (60 s) and gap
#: limit (10 s) by far, so a breach in progress and whether it raised are known again.
MIN_HISTORY = timedelta(minutes=15)
#: The kinds the reading rules of any programme look at (overrides change numbers, not kinds).
RULE_KINDS = frozenset(k for p in PROGRAMMES.values() for r in p.reading_rules for k in r.kinds)


def history_window(rules: dict[str, tuple[ReadingRule, ...]]) -> timedelta:
    """How far back to replay: ``MIN_HISTORY``, or more when an override asks for a longer
    persistence (the breach must start inside the window to be timed from its real start)."""
    longest = max((r.persistence_s + r.max_gap_s for rs in rules.values() for r in rs), default=0)
    return max(MIN_HISTORY, timedelta(seconds=2 * longest))


async def load_partitions(
    session: AsyncSession, partitions: set[int], now: datetime, modulus: int
) -> tuple[dict[str, tuple[ReadingRule, ...]], list[dict[str, Any]]]:
    """The rules of the partitions' patients and their stored readings to replay (wire dicts
    with ``bridge_id``), read before the partitions' backlog is taken."""
    patients = [p for p in await all_patient_ids(session) if partition_of(p, modulus) in partitions]
    rules = await policy.reading_rules_of(session, patients, now)
    since = now - history_window(rules)
    rows = await recent_of_kinds(session, patients, dict.fromkeys(RULE_KINDS, since))
    return rules, [
        {
            "bridge_id": r.bridge_id,
            "seq": r.seq,
            "patient_id": r.patient_id,
            "kind": r.kind,
            "value": r.value,
            "measured_at": r.measured_at.isoformat(),
            "flags": [f for f in r.flags.split(",") if f],
        }
        for r in rows
    ]


def replay(
    rules: dict[str, tuple[ReadingRule, ...]],
    history: list[dict[str, Any]],
    skip: set[Key],
    modulus: int,
) -> tuple[dict[int, ReadingConditions], dict[int, dict[Key, list[Trigger]]]]:
    """Fresh state per partition fed with ``history`` minus ``skip``; with the triggers the
    replay produced, by partition and by the (bridge, seq) of the reading that made them."""
    state: dict[int, ReadingConditions] = defaultdict(ReadingConditions)
    made: dict[int, dict[Key, list[Trigger]]] = defaultdict(dict)
    for payload in replay_batches(history, skip):
        rows = payload["readings"]
        patient = rows[0]["patient_id"]
        part = partition_of(patient, modulus)
        for t in state[part].take(patient, rules.get(patient, ()), rows):
            bridge, seq, _rule = t.evidence_key.split("|", 1)[1].rsplit("|", 2)
            made[part].setdefault((bridge, int(seq)), []).append(t)
    return state, made
