"""Replay: run a policy over stored readings and findings and count the alerts it would raise
(pure, no I/O; the same evaluator as the live engine).

Reading rules are replayed exactly (persistence, hysteresis, rapid limit: an alert is a raise,
which can only repeat after a clear). Findings are counted as the live engine opens episodes:
one per (patient, rule) until a person resolves it, which replay cannot know, so a new episode
is counted when no evidence of that (patient, rule) came in the previous ``REOPEN_S`` (6 h).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.engine.conditions import ReadingConditions, Trigger, finding_trigger
from alerts.policy.rules import ARREST_FOLD_S, CARDIAC_ARREST, ReadingRule, programme
from telemed_core.errors import InvalidInput

REOPEN_S = 6 * 3600.0


@dataclass(frozen=True)
class ReplayPolicy:
    """Reading-rule parameters by rule name, and finding rules switched off."""

    name: str
    reading_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()

    def reading_rules(self, programme_name: str) -> tuple[ReadingRule, ...]:
        out = []
        for rule in programme(programme_name).reading_rules:
            params = self.reading_overrides.get(rule.name, {})
            if rule.name in self.disabled:  # also switches off the findings of that rule
                continue
            out.append(replace(rule, **params) if params else rule)  # type: ignore[arg-type]
        return tuple(out)


CURRENT = ReplayPolicy("current")
_PARAMS = {"trigger", "clear", "persistence_s", "rapid", "max_gap_s"}


def policy_from_json(data: Any, name: str = "proposed") -> ReplayPolicy:
    """``{"reading_rules": {"desaturation": {"trigger": 88, ...}}, "disabled": ["news2"]}``."""
    if not isinstance(data, dict):
        raise InvalidInput("a policy is a JSON object")
    rules = data.get("reading_rules", {})
    known = {r.name for r in programme("heart_failure").reading_rules}
    overrides: dict[str, dict[str, float]] = {}
    for rule, params in rules.items() if isinstance(rules, dict) else ():
        if rule not in known or not isinstance(params, dict):
            raise InvalidInput(f"unknown reading rule {rule!r}; one of {sorted(known)}")
        bad = set(params) - _PARAMS
        if bad or not all(isinstance(v, int | float) for v in params.values()):
            raise InvalidInput(f"rule {rule!r}: numeric parameters among {sorted(_PARAMS)}")
        overrides[rule] = {k: float(v) for k, v in params.items()}
    disabled = data.get("disabled", [])
    if not isinstance(disabled, list) or not all(isinstance(x, str) for x in disabled):
        raise InvalidInput("'disabled' is a list of rule names")
    return ReplayPolicy(name, overrides, frozenset(disabled))


def load_policy(path: Path) -> ReplayPolicy:
    try:
        return policy_from_json(json.loads(path.read_text()), path.stem)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: {exc}") from exc


@dataclass
class ReplayCount:
    policy: str
    alerts: int
    by_rule: dict[str, int]


def replay(
    readings: Iterable[dict[str, Any]],
    findings: Iterable[dict[str, Any]],
    programmes: dict[str, str],
    policy: ReplayPolicy,
) -> ReplayCount:
    """Alerts ``policy`` raises over ``readings`` (wire dicts, per patient in time order) and
    ``findings`` (bus JSON); ``programmes`` maps patient → programme. Evidence of a (patient,
    rule) already open adds to its episode, as in the live engine."""
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in readings:
        by_patient[r["patient_id"]].append(r)
    conditions = ReadingConditions()
    triggers: list[Trigger] = []
    for patient_id, rows in by_patient.items():
        rules = policy.reading_rules(programmes.get(patient_id, "heart_failure"))
        triggers += conditions.take(patient_id, rules, rows)
    triggers += [t for f in findings if (t := finding_trigger(f)) and t.rule not in policy.disabled]
    by_rule = _episodes(triggers)
    return ReplayCount(policy.name, sum(by_rule.values()), dict(by_rule))


def _episodes(triggers: list[Trigger]) -> Counter[str]:
    counts: Counter[str] = Counter()
    open_: dict[tuple[str, str], datetime] = {}  # (patient, rule) -> last evidence
    for t in sorted(triggers, key=lambda t: (t.at, t.rule != CARDIAC_ARREST)):
        key = (t.patient_id, t.rule)
        if t.action == "clear":
            open_.pop(key, None)
            continue
        if t.absorbed_by_arrest:
            arrest = open_.get((t.patient_id, CARDIAC_ARREST))
            if arrest is not None and abs((t.at - arrest).total_seconds()) <= ARREST_FOLD_S:
                continue
        prev = open_.get(key)
        if prev is None or t.at - prev > timedelta(seconds=REOPEN_S):
            if not t.opens_episode:
                continue  # evidence of an episode only the reading rule opens
            counts[t.rule] += 1
        open_[key] = t.at
    return counts
