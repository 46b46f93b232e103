"""The effective policy of a patient: the programme's defaults, overridden by clinicians.

Overrides carry provenance (who, when, why) and may expire; the evaluator sees only the rules
in force at the time of the data. A cache keeps the per-batch cost at a dictionary lookup; a
change made by another process takes effect within ``CACHE_S``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.policy import repository as repo
from alerts.policy.models import ThresholdOverride
from alerts.policy.rules import PARAMETERS, Provenance, ReadingRule, programme
from telemed_core.errors import BusinessRuleViolation

CACHE_S = 30.0
REFRESH_CHUNK = 1000


def apply_overrides(
    rules: tuple[ReadingRule, ...], overrides: list[ThresholdOverride]
) -> tuple[ReadingRule, ...]:
    """The rules with each override applied in order (newest last, so it wins)."""
    by_name = {r.name: r for r in rules}
    for o in overrides:
        rule = by_name.get(o.rule)
        if rule is None:
            continue
        prov = Provenance("clinician override", o.set_by, o.set_at, o.reason, o.expires_at)
        by_name[o.rule] = rule.with_parameter(o.parameter, o.value, prov)
    return tuple(by_name.values())


async def reading_rules(
    session: AsyncSession, patient_id: str, now: datetime
) -> tuple[ReadingRule, ...]:
    name = await repo.programme_of(session, patient_id)
    defaults = programme(name or "heart_failure").reading_rules
    return apply_overrides(defaults, list(await repo.live_overrides(session, patient_id, now)))


async def reading_rules_of(
    session: AsyncSession, patient_ids: Sequence[str], now: datetime
) -> dict[str, tuple[ReadingRule, ...]]:
    """``reading_rules`` of many patients in two queries (a worker taking over partitions)."""
    programmes = await repo.programmes_of(session, patient_ids)
    overrides: dict[str, list[ThresholdOverride]] = defaultdict(list)
    for o in await repo.live_overrides_of(session, patient_ids, now):
        overrides[o.patient_id].append(o)
    return {
        pid: apply_overrides(
            programme(programmes.get(pid, "heart_failure")).reading_rules, overrides[pid]
        )
        for pid in patient_ids
    }


class PolicyCache:
    """Per-patient rules for the readings path: a patient's are loaded when first seen, and all
    are re-read in bulk every ``ttl_s`` by ``refresh_if_due`` (the worker's timer loop), so a
    clinician's change or an expiry takes effect within ``ttl_s`` and the readings path never
    waits for a re-read."""

    def __init__(self, ttl_s: float = CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._rules: dict[str, tuple[ReadingRule, ...]] = {}
        self._refreshed = time.monotonic()

    def cached(self, patient_id: str) -> bool:
        return patient_id in self._rules

    def peek(self, patient_id: str) -> tuple[ReadingRule, ...]:
        """The cached rules (the caller made sure they are there)."""
        return self._rules[patient_id]

    def put(self, rules: dict[str, tuple[ReadingRule, ...]]) -> None:
        """Cache rules loaded in bulk (``reading_rules_of``)."""
        self._rules.update(rules)

    async def refresh_if_due(self, session: AsyncSession, now: datetime) -> bool:
        """Re-read every cached patient's rules if ``ttl_s`` has passed; True if it did."""
        if time.monotonic() - self._refreshed < self.ttl_s:
            return False
        await self.refresh(session, now)
        return True

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        """Re-read every cached patient's rules (in chunks: bounded IN lists)."""
        self._refreshed = time.monotonic()
        patients = sorted(self._rules)
        for i in range(0, len(patients), REFRESH_CHUNK):
            self.put(await reading_rules_of(session, patients[i : i + REFRESH_CHUNK], now))


#: Levels a limit may be set to, per unit: outside them it is a typing error, not a choice.
PLAUSIBLE_LEVELS = {"%": (50.0, 100.0), "/min": (20.0, 300.0)}
MAX_PERSISTENCE_S = 3600.0


def _check_plausible(rule: ReadingRule, parameter: str, value: float) -> None:
    if parameter == "persistence_s":
        if not 0 <= value <= MAX_PERSISTENCE_S:
            raise BusinessRuleViolation(
                f"persistence_s must be 0-{MAX_PERSISTENCE_S:g} s, not {value:g}"
            )
        return
    low, high = PLAUSIBLE_LEVELS.get(rule.unit, (float("-inf"), float("inf")))
    if not low <= value <= high:
        raise BusinessRuleViolation(
            f"{parameter} of {rule.name} must be {low:g}-{high:g} {rule.unit}, not {value:g}"
        )


async def set_override(
    session: AsyncSession,
    patient_id: str,
    rule: str,
    parameter: str,
    value: float,
    *,
    by: str,
    reason: str,
    now: datetime,
    expires_at: datetime | None,
) -> ThresholdOverride:
    """Record a clinician's threshold change (the caller has checked access)."""
    name = await repo.programme_of(session, patient_id)
    known = {r.name: r for r in programme(name or "heart_failure").reading_rules}
    if rule not in known:
        raise BusinessRuleViolation(f"rule {rule!r} has no thresholds; one of {sorted(known)}")
    if parameter not in PARAMETERS:
        raise BusinessRuleViolation(f"parameter {parameter!r}; one of {PARAMETERS}")
    if not reason.strip():
        raise BusinessRuleViolation("a threshold change needs a reason")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise BusinessRuleViolation("the expiry must be in the future, with a time zone")
    current = {r.name: r for r in await reading_rules(session, patient_id, now)}[rule]
    _check_plausible(current, parameter, value)
    changed = current.with_parameter(parameter, value, current.provenance)
    if (changed.clear < changed.trigger) if changed.below else (changed.clear > changed.trigger):
        raise BusinessRuleViolation(
            f"the clear level ({changed.clear:g}) must be on the normal side of the trigger "
            f"({changed.trigger:g}): hysteresis"
        )
    row = ThresholdOverride(
        patient_id=patient_id, rule=rule, parameter=parameter, value=value,
        set_by=by, set_at=now, reason=reason, expires_at=expires_at,
    )  # fmt: skip
    repo.add(session, row)
    await session.flush()
    return row
