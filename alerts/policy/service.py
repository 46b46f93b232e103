"""The effective policy of a patient: the programme's defaults, overridden by clinicians.

Overrides carry provenance (who, when, why) and may expire; the evaluator sees only the rules
in force at the time of the data. A cache keeps the per-batch cost at a dictionary lookup; a
change made by another process takes effect within ``CACHE_S``.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.policy import repository as repo
from alerts.policy.models import ThresholdOverride
from alerts.policy.rules import Provenance, ReadingRule, programme
from telemed_core.errors import BusinessRuleViolation

CACHE_S = 30.0
PARAMETERS = ("trigger", "clear", "persistence_s", "rapid")


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


class PolicyCache:
    """Per-patient rules, re-read from the database at most every ``CACHE_S`` seconds."""

    def __init__(self, ttl_s: float = CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._rules: dict[str, tuple[float, tuple[ReadingRule, ...]]] = {}

    def cached(self, patient_id: str) -> bool:
        hit = self._rules.get(patient_id)
        return hit is not None and time.monotonic() - hit[0] < self.ttl_s

    def peek(self, patient_id: str) -> tuple[ReadingRule, ...]:
        """The cached rules (the caller made sure they are there)."""
        return self._rules[patient_id][1]

    async def reading_rules(
        self, session: AsyncSession, patient_id: str, now: datetime
    ) -> tuple[ReadingRule, ...]:
        hit = self._rules.get(patient_id)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        rules = await reading_rules(session, patient_id, now)
        self._rules[patient_id] = (time.monotonic(), rules)
        return rules


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
