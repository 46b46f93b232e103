"""Alert rules and the programmes' default policies (pure data, no I/O).

A rule turns evidence into an episode of one (patient, rule) condition. Evidence is either a raw
reading (``ReadingRule``: a limit with persistence, a separate clear level and an absolute rapid
limit) or a finding of the signal library (``FINDING_RULES``: the library already applied its own
method, persistence and confirmation). Thresholds are proposals to validate with clinicians
(reference/clinical-workflow.md §5.6); each carries its provenance so an alert can say where its
limit came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Priority(StrEnum):
    """IEC 60601-1-8 priorities."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Category(StrEnum):
    """Clinical alarms go to clinicians; technical and adherence alarms to operators/nurses."""

    CLINICAL = "clinical"
    TECHNICAL = "technical"
    ADHERENCE = "adherence"


class Outcome(StrEnum):
    """What the person who resolved an alert did about it."""

    NO_ACTION = "no_action"
    PHONED_PATIENT = "phoned_patient"
    MEDICATION_CHANGE = "medication_change"
    REFERRED = "referred"
    AMBULANCE = "ambulance"
    FALSE_ALARM = "false_alarm"


#: Outcomes only the system records (never chosen by a person).
SYSTEM_OUTCOMES = ("condition_cleared", "merged")


#: The parameters of a reading rule that a clinician may override.
PARAMETERS = ("trigger", "clear", "persistence_s", "rapid")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who set a threshold, when, why, and until when (None: no expiry)."""

    source: str  # "programme default" or "clinician override"
    set_by: str
    set_at: datetime | None
    reason: str
    expires_at: datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "source": self.source,
            "set_by": self.set_by,
            "set_at": self.set_at.isoformat() if self.set_at else None,
            "reason": self.reason,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


DEFAULT_PROVENANCE = Provenance(
    "programme default", "policy", None, "platform default, reference/clinical-workflow.md §5.6"
)


@dataclass(frozen=True, slots=True)
class ReadingRule:
    """A limit on one reading kind.

    ``below``: the condition is value < ``trigger`` (else value > ``trigger``). It is raised once
    the breach has lasted ``persistence_s`` (a gap of more than ``max_gap_s`` between samples
    restarts the count), at once when a sample passes ``rapid`` (the absolute limit that bypasses
    the delay), and cleared only when a value is back beyond ``clear`` (hysteresis).
    """

    name: str
    title: str
    kinds: tuple[str, ...]
    below: bool
    trigger: float
    clear: float
    persistence_s: float
    rapid: float | None
    priority: Priority
    unit: str
    max_gap_s: float = 10.0
    #: The rule's latest change (kept for the alerts' ``threshold.provenance``)...
    provenance: Provenance = DEFAULT_PROVENANCE
    #: ...and each overridden parameter's own (a parameter not named here is the default).
    parameter_provenance: tuple[tuple[str, Provenance], ...] = ()

    def provenance_of(self, parameter: str) -> Provenance:
        """Who set ``parameter`` (trigger, clear, persistence_s, rapid), when, why, until."""
        return dict(self.parameter_provenance).get(parameter, DEFAULT_PROVENANCE)

    def breaches(self, value: float) -> bool:
        return value < self.trigger if self.below else value > self.trigger

    def rapid_breach(self, value: float) -> bool:
        if self.rapid is None:
            return False
        return value < self.rapid if self.below else value > self.rapid

    def cleared(self, value: float) -> bool:
        return value >= self.clear if self.below else value <= self.clear

    def with_parameter(self, parameter: str, value: float, provenance: Provenance) -> ReadingRule:
        """The rule with ``parameter`` set to ``value`` by ``provenance``; the other parameters
        keep theirs."""
        if parameter not in PARAMETERS:
            raise ValueError(f"unknown rule parameter {parameter!r}")
        own = dict(self.parameter_provenance)
        own[parameter] = provenance
        changed = replace(
            self, provenance=provenance, parameter_provenance=tuple(sorted(own.items()))
        )
        if parameter == "trigger":
            return replace(changed, trigger=value)
        if parameter == "clear":
            return replace(changed, clear=value)
        if parameter == "rapid":
            return replace(changed, rapid=value)
        return replace(changed, persistence_s=value)


@dataclass(frozen=True, slots=True)
class FindingRule:
    """How findings of the signal library become episodes.

    ``hold_s``: the episode waits this long before it pages (an alarm condition delay), so that a
    finding the cardiac-arrest hierarchy absorbs moments later never pages on its own.
    ``opens``: False when a reading rule of the same name owns the episode (it carries the
    patient's threshold with its provenance): the finding then only adds to an open episode.
    """

    name: str
    title: str
    priority: Priority
    category: Category = Category.CLINICAL
    latching: bool = False
    hold_s: float = 0.0
    absorbed_by_arrest: bool = False
    opens: bool = True


CARDIAC_ARREST = "cardiac_arrest"
#: Findings that are a cardiac arrest by themselves.
ARREST_FINDINGS = frozenset({"asystole", "ventricular_flutter_fib"})
#: How close in time a rhythm finding must be to an arrest to be one clinical event with it.
ARREST_FOLD_S = 60.0

_ARREST = FindingRule(CARDIAC_ARREST, "Cardiac arrest", Priority.HIGH, latching=True)
_HOLD_S = 10.0

#: Finding kind → rule. Kinds not listed (e.g. unconfirmed crises, stable strips) raise nothing.
FINDING_RULES: dict[str, FindingRule] = {
    "asystole": _ARREST,
    "ventricular_flutter_fib": _ARREST,
    "ventricular_tachycardia": FindingRule(
        "ventricular_tachycardia", "Ventricular tachycardia", Priority.HIGH, latching=True,
        hold_s=_HOLD_S, absorbed_by_arrest=True,
    ),
    "extreme_bradycardia": FindingRule(
        "extreme_bradycardia", "Extreme bradycardia", Priority.HIGH, latching=True,
        hold_s=_HOLD_S, absorbed_by_arrest=True,
    ),
    "extreme_tachycardia": FindingRule(
        "extreme_tachycardia", "Extreme tachycardia", Priority.HIGH, latching=True,
        hold_s=_HOLD_S, absorbed_by_arrest=True,
    ),
    "pause": FindingRule(
        "pause", "Pause", Priority.MEDIUM, hold_s=_HOLD_S, absorbed_by_arrest=True
    ),
    "bradycardia": FindingRule(
        "bradycardia", "Bradycardia", Priority.MEDIUM, hold_s=_HOLD_S, absorbed_by_arrest=True
    ),
    "tachycardia": FindingRule(
        "tachycardia", "Tachycardia", Priority.MEDIUM, hold_s=_HOLD_S, absorbed_by_arrest=True
    ),
    "atrial_fibrillation": FindingRule("atrial_fibrillation", "Atrial fibrillation", Priority.MEDIUM),
    # The reading rule "desaturation" (the patient's limit, persistence and provenance) opens
    # the episode; the library's sustained-low finding is contributing evidence of it.
    "spo2_desaturation": FindingRule("desaturation", "SpO2 desaturation", Priority.MEDIUM, opens=False),
    "spo2_sustained_low": FindingRule("desaturation", "SpO2 desaturation", Priority.MEDIUM, opens=False),
    "hypertensive_crisis": FindingRule(
        "hypertensive_crisis", "Hypertensive crisis (confirmed)", Priority.MEDIUM
    ),
    "weight_gain": FindingRule("weight_gain", "Weight gain", Priority.MEDIUM),
    "weight_gain_day_to_day": FindingRule("weight_gain", "Weight gain", Priority.LOW),
    "home_bp_elevated": FindingRule("home_bp_elevated", "Home BP above target", Priority.LOW),
    "baseline_deviation": FindingRule("baseline_deviation", "Off the patient's baseline", Priority.LOW),
    "news2": FindingRule("news2", "NEWS2 trigger", Priority.MEDIUM),
}  # fmt: skip

#: Raw-reading rules shared by every programme (SpO2 per Masimo/GE practice: 90 % with a 60 s
#: delay, clear at 92 %, rapid limit 85 %; HR above 125 bpm for 60 s, clear at 115 bpm, below
#: the lethal-arrhythmia monitor's extreme tachycardia, 140 bpm).
READING_RULES: tuple[ReadingRule, ...] = (
    ReadingRule(
        "desaturation", "SpO2 below limit", ("spo2",), below=True, trigger=90.0, clear=92.0,
        persistence_s=60.0, rapid=85.0, priority=Priority.MEDIUM, unit="%",
    ),
    ReadingRule(
        "tachycardia", "Heart rate above limit", ("heart_rate", "pulse_rate"), below=False,
        trigger=125.0, clear=115.0, persistence_s=60.0, rapid=None, priority=Priority.MEDIUM,
        unit="/min",
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Chain:
    """Who is paged, in order, and how long each tier has to accept before the next is."""

    name: str
    roles: tuple[str, ...]
    ack_timeout_s: tuple[float, ...]
    max_pause_s: float

    def timeout(self, tier: int) -> float:
        return self.ack_timeout_s[min(tier, len(self.ack_timeout_s) - 1)]

    def targets(self, tier: int) -> tuple[str, ...]:
        """Roles paged at ``tier``: everyone up to it (an escalation adds, never removes)."""
        return self.roles[: tier + 1]


#: Escalation chains (§5.6): high re-pages after 2 min and reaches the supervisor after 5;
#: technical and adherence alarms go to nurses and operators, never to cardiologists.
CHAINS: dict[str, Chain] = {
    "clinical-high": Chain("clinical-high", ("nurse", "cardiologist", "admin"), (120.0, 180.0, 300.0), 600.0),
    "clinical-medium": Chain("clinical-medium", ("nurse", "cardiologist", "admin"), (1800.0, 3600.0, 3600.0), 3600.0),
    "clinical-low": Chain("clinical-low", ("nurse", "cardiologist"), (86400.0, 86400.0), 86400.0),
    "operations": Chain("operations", ("nurse", "admin"), (900.0, 1800.0), 86400.0),
}  # fmt: skip


def chain_for(category: Category, priority: Priority) -> Chain:
    if category is not Category.CLINICAL:
        return CHAINS["operations"]
    return CHAINS[f"clinical-{priority.value}"]


@dataclass(frozen=True, slots=True)
class Programme:
    """A programme's default policy: which reading rules it runs."""

    name: str
    reading_rules: tuple[ReadingRule, ...] = field(default_factory=tuple)


PROGRAMMES: dict[str, Programme] = {
    "hypertension": Programme("hypertension", ()),
    "heart_failure": Programme("heart_failure", READING_RULES),
    "telemedpoint": Programme("telemedpoint", READING_RULES),
    "continuous_ecg": Programme("continuous_ecg", READING_RULES),
}


def programme(name: str) -> Programme:
    """The programme's defaults; an unknown programme gets the heart-failure set (the widest)."""
    return PROGRAMMES.get(name, PROGRAMMES["heart_failure"])
