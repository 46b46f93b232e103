"""The condition evaluator: readings and findings in, raise/clear triggers out (pure, no I/O).

Time is the data's own (``measured_at`` of readings, ``start`` of findings), so a replay of a
stored period gives the same triggers as the live stream did. The evaluator keeps, per
(patient, rule), only when the current breach began and whether it raised: a restart forgets a
breach in progress (it is raised again after its persistence; the open episode dedupes it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from alerts.policy.rules import (
    FINDING_RULES,
    Category,
    FindingRule,
    Priority,
    ReadingRule,
)
from telemed_core.explanations import why as explain_why


@dataclass(frozen=True, slots=True)
class Trigger:
    """Evidence that a (patient, rule) condition began (``raise``) or ended (``clear``)."""

    patient_id: str
    rule: str
    title: str
    action: Literal["raise", "clear"]
    at: datetime
    priority: Priority
    category: Category
    evidence_key: str
    source_kind: str
    latching: bool = False
    hold_s: float = 0.0
    absorbed_by_arrest: bool = False
    opens_episode: bool = True  # False: only adds to an open episode of its rule
    values: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Breach:
    since: datetime | None = None
    last_at: datetime | None = None
    worst: float | None = None
    samples: int = 0
    raised: bool | None = None  # None: unknown since this process started


def _worse(rule: ReadingRule, a: float | None, b: float) -> float:
    if a is None:
        return b
    return min(a, b) if rule.below else max(a, b)


class ReadingConditions:
    """Persistence, hysteresis and the rapid limit of reading rules, per patient."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, str], _Breach] = {}

    def take(
        self,
        patient_id: str,
        rules: Iterable[ReadingRule],
        readings: list[dict[str, Any]],
        bridge_id: str = "",
    ) -> list[Trigger]:
        """Feed one patient's readings (wire dicts, any order); return the triggers.

        ``bridge_id``: the sender of readings that do not name it (a bus batch names it once);
        with the reading's ``seq`` it keys the evidence, so reprocessing pages nobody."""
        out: list[Trigger] = []
        usable = [r for r in readings if r.get("value") is not None]
        usable.sort(key=lambda r: r["measured_at"])
        for rule in rules:
            mine = [r for r in usable if r["kind"] in rule.kinds]
            if mine:
                out += self._rule(patient_id, rule, mine, bridge_id)
        return out

    def _rule(
        self, patient_id: str, rule: ReadingRule, rows: list[dict[str, Any]], bridge_id: str
    ) -> list[Trigger]:
        st = self._state.setdefault((patient_id, rule.name), _Breach())
        out: list[Trigger] = []
        for r in rows:
            at, value = datetime.fromisoformat(r["measured_at"]), float(r["value"])
            if "invalid" in r.get("flags", ()) or (st.last_at is not None and at <= st.last_at):
                continue
            gap = st.last_at is not None and (at - st.last_at).total_seconds() > rule.max_gap_s
            st.last_at = at
            if rule.breaches(value):
                if st.since is None or (gap and not st.raised):
                    st.since, st.worst, st.samples = at, None, 0
                st.worst, st.samples = _worse(rule, st.worst, value), st.samples + 1
                lasted = (at - st.since).total_seconds()
                rapid = rule.rapid_breach(value)
                if not st.raised and (lasted >= rule.persistence_s or rapid):
                    st.raised = True
                    out.append(
                        self._trigger(patient_id, rule, "raise", at, st, rapid, r, bridge_id)
                    )
            elif st.raised is not False and rule.cleared(value):
                if st.raised:
                    out.append(
                        self._trigger(patient_id, rule, "clear", at, st, False, r, bridge_id)
                    )
                elif st.raised is None:  # unknown after a restart: say it is clear
                    out.append(
                        self._trigger(patient_id, rule, "clear", at, st, False, r, bridge_id)
                    )
                st.since, st.raised = None, False
            elif not st.raised:
                st.since = None  # back inside the limit before persistence: no alert
        return out

    @staticmethod
    def _trigger(
        patient_id: str,
        rule: ReadingRule,
        action: Literal["raise", "clear"],
        at: datetime,
        st: _Breach,
        rapid: bool,
        reading: dict[str, Any],
        bridge_id: str,
    ) -> Trigger:
        since = st.since or at
        op = "<" if rule.below else ">"
        limit = rule.rapid if rapid else rule.trigger
        kind, value = str(reading["kind"]), float(reading["value"])
        why = (
            explain_why("limit_rapid", kind=kind, value=value, unit=rule.unit, op=op, limit=limit)
            if rapid
            else explain_why(
                "limit_breach", kind=kind, op=op, trigger=rule.trigger, unit=rule.unit,
                duration_s=round((at - since).total_seconds()), persistence_s=rule.persistence_s,
            )
        )  # fmt: skip
        if action == "clear":
            back = "≥" if rule.below else "≤"
            why = explain_why(
                "limit_clear", kind=kind, value=value, unit=rule.unit, op=back, clear=rule.clear
            )
        return Trigger(
            patient_id=patient_id,
            rule=rule.name,
            title=rule.title,
            action=action,
            at=at,
            priority=Priority.HIGH if rapid else rule.priority,
            category=Category.CLINICAL,
            evidence_key=reading_key(reading, bridge_id, rule.name),
            source_kind=str(reading["kind"]),
            values={"value": float(reading["value"]), "worst": st.worst, "unit": rule.unit},
            detail={
                **why,
                "rule": rule.name,
                "threshold": {
                    "trigger": rule.trigger,
                    "clear": rule.clear,
                    "rapid": rule.rapid,
                    "direction": "below" if rule.below else "above",
                    "provenance": rule.provenance.as_json(),
                    "parameter_provenance": {
                        p: rule.provenance_of(p).as_json() for p, _ in rule.parameter_provenance
                    },
                },
                "persistence": {
                    "required_s": rule.persistence_s,
                    "breach_since": since.isoformat(),
                    "samples": st.samples,
                    "rapid_bypass": rapid,
                },
            },
        )


def reading_key(reading: dict[str, Any], bridge_id: str, rule: str) -> str:
    """The evidence key of a reading for a rule: ``reading|<bridge>|<seq>|<rule>``."""
    return f"reading|{reading.get('bridge_id') or bridge_id}|{reading.get('seq')}|{rule}"


def finding_trigger(finding: dict[str, Any]) -> Trigger | None:
    """The trigger of one finding (bus JSON), or None when no rule pages on its kind."""
    rule: FindingRule | None = FINDING_RULES.get(finding["kind"])
    if rule is None or finding.get("severity") == "info":
        return None
    priority = rule.priority
    if rule.name == "news2":  # NEWS2 ≥ 7 is an emergency (RCP 2017)
        priority = Priority.HIGH if finding.get("severity") == "high" else Priority.MEDIUM
    return Trigger(
        patient_id=finding["patient_id"],
        rule=rule.name,
        title=rule.title,
        action="raise",
        at=datetime.fromisoformat(finding["start"]),
        priority=priority,
        category=rule.category,
        evidence_key=f"finding|{finding['key']}",
        source_kind=finding["kind"],
        latching=rule.latching,
        hold_s=rule.hold_s,
        absorbed_by_arrest=rule.absorbed_by_arrest,
        opens_episode=rule.opens,
        values=dict(finding.get("values") or {}),
        detail={
            "why": finding.get("explanation", ""),
            "why_key": finding.get("explanation_key") or "",
            "why_args": finding.get("explanation_args") or {},
            "rule": rule.name,
            "finding_kind": finding["kind"],
            "method": finding.get("method"),
            "window_s": finding.get("window_s"),
            "finding_start": finding["start"],
            "finding_end": finding.get("end"),
            "suggested_severity": finding.get("severity"),
        },
    )


def arrest_first(triggers: list[Trigger]) -> list[Trigger]:
    """Cardiac-arrest evidence first, so rhythm findings of the same batch fold into it."""

    def key(t: Trigger) -> tuple[int, datetime]:
        return (0 if t.rule == "cardiac_arrest" else 1, t.at)

    return sorted(triggers, key=key)
