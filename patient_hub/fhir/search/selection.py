"""What an Observation search selects: our kinds, BP panels, waveform channels, findings."""

from __future__ import annotations

from dataclasses import dataclass

from patient_hub.fhir.codes import Code, load_code_map
from patient_hub.fhir.common import WAVEFORMS
from patient_hub.fhir.search.tokens import Token
from telemed_core.kinds import PULSE_CHANNELS

BP_KINDS = frozenset({"bp_systolic", "bp_diastolic", "bp_mean"})


@dataclass(frozen=True, slots=True)
class Subset:
    """Some or all members of an open set (waveform channels, finding kinds): ``values``, or,
    when ``every``, everything but ``excluded``."""

    values: frozenset[str] = frozenset()
    every: bool = False
    excluded: frozenset[str] = frozenset()

    def __and__(self, other: Subset) -> Subset:
        if self.every and other.every:
            return Subset(every=True, excluded=self.excluded | other.excluded)
        if self.every or other.every:
            whole, part = (self, other) if self.every else (other, self)
            return Subset(part.values - whole.excluded)
        return Subset(self.values & other.values)

    def __or__(self, other: Subset) -> Subset:
        if self.every and other.every:
            return Subset(every=True, excluded=self.excluded & other.excluded)
        if self.every or other.every:
            whole, part = (self, other) if self.every else (other, self)
            return Subset(every=True, excluded=whole.excluded - part.values)
        return Subset(self.values | other.values)

    def __bool__(self) -> bool:
        return self.every or bool(self.values)


EVERY = Subset(every=True)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which stored things an Observation search may return.

    ``kinds``: readings mapped one by one (a BP component only when it is not in a panel);
    ``panel_kinds``: BP panels having a component of one of these kinds (systolic and diastolic
    are in every panel, so either means all panels); ``ecg_leads``: waveform chunks of these
    channels (ECG leads by name, ``PLETH``, ``ABP``: see :data:`PULSE_CHANNELS`);
    ``finding_kinds``: findings of these kinds.
    """

    kinds: frozenset[str] = frozenset()
    panel_kinds: frozenset[str] = frozenset()
    ecg_leads: Subset = Subset()
    finding_kinds: Subset = Subset()

    def __and__(self, other: Selection) -> Selection:
        return Selection(
            self.kinds & other.kinds,
            self.panel_kinds & other.panel_kinds,
            self.ecg_leads & other.ecg_leads,
            self.finding_kinds & other.finding_kinds,
        )

    def __or__(self, other: Selection) -> Selection:
        return Selection(
            self.kinds | other.kinds,
            self.panel_kinds | other.panel_kinds,
            self.ecg_leads | other.ecg_leads,
            self.finding_kinds | other.finding_kinds,
        )

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.panel_kinds or self.ecg_leads or self.finding_kinds)


#: Every ECG lead: all channels but the pulse waveforms.
ALL_ECG_LEADS = Subset(every=True, excluded=frozenset(PULSE_CHANNELS.values()))


def reading_kinds() -> frozenset[str]:
    """Kinds stored as scalar readings (everything in codes.json but the waveforms)."""
    return frozenset(k for k in load_code_map().kinds if k not in WAVEFORMS)


def everything() -> Selection:
    return Selection(reading_kinds(), BP_KINDS, EVERY, EVERY)


def _kind_codes(kind: str) -> list[Code]:
    kc = load_code_map().kind(kind)
    return [*([kc.loinc] if kc.loinc else []), *kc.loinc_extra, kc.mdc, *kc.mdc_aliases]


def select_code(token: Token) -> Selection:
    """The Observations whose ``code`` carries a coding matching ``token``."""
    cm = load_code_map()
    mdc = cm.systems["mdc"]
    kinds = frozenset(
        k for k in reading_kinds() if any(token.matches(c.system, c.code) for c in _kind_codes(k))
    )
    panel = cm.raw["bp_panel"]
    panel_codes = [(cm.systems["loinc"], panel["loinc"]["code"]), (mdc, panel["mdc"]["code"])]
    panel_kinds = kinds & BP_KINDS
    if any(token.matches(system, code) for system, code in panel_codes):
        panel_kinds |= {"bp_systolic", "bp_diastolic"}  # every panel has both
    if token.matches(mdc, cm.kind("ecg").mdc.code):
        leads = ALL_ECG_LEADS  # the generic MDC_ECG_ELEC_POTL stands for any lead
    else:
        by_lead = cm.raw["ecg_leads"].items()
        leads = Subset(frozenset(n for n, e in by_lead if token.matches(mdc, e["code"])))
    for kind, channel in PULSE_CHANNELS.items():
        if token.matches(mdc, cm.kind(kind).mdc.code):
            leads |= Subset(frozenset({channel}))
    finding = token.system in (None, cm.local["finding_kind"]) and token.code
    findings = Subset(frozenset({token.code}) if finding else frozenset())
    return Selection(kinds, panel_kinds, leads, findings)


def select_category(token: Token) -> Selection:
    """The Observations whose ``category`` carries a coding matching ``token``."""
    cm = load_code_map()
    hl7 = cm.systems["observation_category"]
    by_category = {
        k: kc.category for k, kc in cm.kinds.items() if k not in WAVEFORMS and kc.category
    }
    kinds = frozenset(k for k, cat in by_category.items() if token.matches(hl7, cat))
    sel = Selection(kinds, BP_KINDS if token.matches(hl7, "vital-signs") else frozenset())
    if any(token.matches(cm.systems["phd_category"], c) for c in cm.raw["phd_category"]["accept"]):
        sel |= Selection(reading_kinds(), BP_KINDS, EVERY)
    if token.matches(cm.local["finding_category"], "finding"):
        sel |= Selection(finding_kinds=EVERY)
    return sel
