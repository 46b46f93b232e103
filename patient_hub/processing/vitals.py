"""Per-patient streaming state over scalar readings: SpO2 events, BP crisis, weight gain.

Readings arrive at least once (a bridge may resend, a worker may reprocess); each stream keeps
the time of the last sample it took and ignores anything not newer, so a replay changes
nothing. Findings are keyed by (patient, kind, start) downstream, so re-emitting one is harmless.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from telemed_core.explanations import explained
from telemed_signal.findings import Finding
from telemed_signal.news2 import (
    Consciousness,
    News2Parameter,
    Observation,
    news2_finding,
    news2_input_from_latest,
    news2_score,
)
from telemed_signal.spo2 import DesaturationDetector, SustainedLowDetector
from telemed_signal.trends import (
    BpReading,
    WeightReading,
    hypertensive_crisis_findings,
    weight_gain_findings,
)

_MEASURED_AT = itemgetter("measured_at")
ONE_SECOND = timedelta(seconds=1)
WEIGHT_HISTORY = timedelta(days=10)
BP_HISTORY = 20
#: Device kinds that feed NEWS2 (consciousness and oxygen come from a nurse's entry; for a
#: patient at home with no entry the worker assumes "alert, on air" and says so in the finding).
NEWS2_KINDS = {
    "respiratory_rate": News2Parameter.RESP_RATE,
    "spo2": News2Parameter.SPO2,
    "bp_systolic": News2Parameter.SBP,
    "pulse_rate": News2Parameter.PULSE,
    "heart_rate": News2Parameter.PULSE,
    "body_temperature": News2Parameter.TEMPERATURE,
}
NEWS2_ASSUMED: dict[News2Parameter, bool | Consciousness] = {
    News2Parameter.CONSCIOUSNESS: Consciousness.ALERT,
    News2Parameter.SUPPLEMENTAL_O2: False,
}
#: The parameters a complete set needs measured (the others are assumed when never measured).
NEWS2_MEASURED = frozenset(News2Parameter) - NEWS2_ASSUMED.keys()


@dataclass
class PatientVitals:
    """Streaming detectors of one patient."""

    patient_id: str
    tz: ZoneInfo
    desaturation: DesaturationDetector = field(default_factory=DesaturationDetector)
    low_spo2: SustainedLowDetector = field(default_factory=SustainedLowDetector)
    last_spo2_at: datetime | None = None
    bp: deque[BpReading] = field(default_factory=lambda: deque(maxlen=BP_HISTORY))
    pending_bp: dict[tuple[str, datetime], dict[str, float]] = field(default_factory=dict)
    weights: deque[WeightReading] = field(default_factory=deque)
    news2_latest: dict[News2Parameter, Observation] = field(default_factory=dict)
    news2_band: tuple[int, str] | None = None  # (total, risk) last reported
    weight_day: date | None = None  # the local day of the latest weighing kept

    def take(self, readings: list[dict[str, Any]]) -> list[Finding]:
        """Feed one batch of this patient's readings (wire dicts); return findings."""
        findings: list[Finding] = []
        spo2: list[tuple[datetime, float]] = []
        bp_changed = weight_changed = False
        latest: datetime | None = None  # NEWS2 is judged as of the batch's latest reading
        for r in sorted(readings, key=_MEASURED_AT):
            at = datetime.fromisoformat(r["measured_at"])  # once per reading, not twice
            if latest is None or at > latest:
                latest = at
            if r["value"] is None or "invalid" in r["flags"]:
                continue
            kind = r["kind"]
            if kind == "spo2":
                spo2.append((at, float(r["value"])))
            elif kind in ("bp_systolic", "bp_diastolic"):
                bp_changed |= self._bp_part(r["device_id"], at, kind, float(r["value"]))
            elif kind == "body_weight":
                weight_changed |= self._weight(float(r["value"]), at)
            if kind in NEWS2_KINDS:
                self._news2_take(NEWS2_KINDS[kind], float(r["value"]), at)
        if spo2:
            findings += self._spo2(spo2)
        if bp_changed:
            findings += hypertensive_crisis_findings(self.patient_id, list(self.bp))
        if weight_changed:
            findings += weight_gain_findings(self.patient_id, list(self.weights), self.tz)
        if latest is not None:
            findings += self._news2(latest)
        return findings

    def _news2_take(self, parameter: News2Parameter, value: float, at: datetime) -> None:
        known = self.news2_latest.get(parameter)
        if known is None or at >= known.at:
            self.news2_latest[parameter] = Observation(value, at)

    def _news2(self, now: datetime) -> list[Finding]:
        """NEWS2 (RCP 2017) whenever a complete, fresh set is available; a finding on triggers."""
        if not NEWS2_MEASURED <= self.news2_latest.keys():
            return []  # a parameter never measured: no set can be complete (and nothing changes)
        assembly = news2_input_from_latest(self.news2_latest, now, assumed=NEWS2_ASSUMED)
        if assembly.vitals is None:
            return []
        result = news2_score(assembly.vitals)
        finding = news2_finding(self.patient_id, result, now)
        band = (result.total, str(result.risk))
        if finding is None or band == self.news2_band:
            self.news2_band = band if finding is not None else None
            return []  # below the triggers, or the same score as already reported
        self.news2_band = band
        if assembly.assumed:
            key = f"{finding.explanation_key}_assumed"
            args = {
                **finding.explanation_args,
                "assumed": ", ".join(str(p) for p in assembly.assumed),
            }
            finding = replace(finding, **explained(key, **args))
        return [finding]

    def _spo2(self, samples: list[tuple[datetime, float]]) -> list[Finding]:
        """Put the batch's SpO2 samples on a 1 Hz grid (ODI is defined at 1 Hz) and feed the
        detectors once: seconds without a sample are NaN (a gap, which they bridge or end);
        replays, out-of-order samples and a second oximeter within the same second are skipped.
        """
        accepted: list[tuple[datetime, float]] = []
        for at, value in samples:
            last = accepted[-1][0] if accepted else self.last_spo2_at
            if last is None or at >= last + ONE_SECOND:
                accepted.append((at, value))
        if not accepted:
            return []
        start = accepted[0][0]
        slots = [round((at - start) / ONE_SECOND) for at, _ in accepted]
        grid = np.full(slots[-1] + 1, np.nan)
        grid[slots] = [value for _, value in accepted]
        self.last_spo2_at = start + ONE_SECOND * slots[-1]
        out: list[Finding] = []
        for event in self.desaturation.update(grid, start):
            out.append(event.to_finding(self.patient_id, self.desaturation.method))
        for episode in self.low_spo2.update(grid, start):
            out.append(episode.to_finding(self.patient_id, self.low_spo2.method))
        return out

    def _bp_part(self, device: str, at: datetime, kind: str, value: float) -> bool:
        if self.bp and at <= self.bp[-1].at:
            return False
        parts = self.pending_bp.setdefault((device, at), {})
        parts[kind] = value
        if len(parts) < 2:
            return False
        del self.pending_bp[(device, at)]
        try:
            self.bp.append(BpReading(at, parts["bp_systolic"], parts["bp_diastolic"]))
        except ValueError:
            return False  # implausible pair (e.g. SBP <= DBP): stored, not used for rules
        return True

    def _weight(self, value: float, at: datetime) -> bool:
        """Keep a weighing; True when the days' first weighings (what the weight rules judge,
        ``trends.daily_weights``) may have changed, so the findings are worth recomputing."""
        if self.weights and at <= self.weights[-1].at:
            return False
        try:
            self.weights.append(WeightReading(at, value))
        except ValueError:
            return False
        evicted = False
        while self.weights and self.weights[0].at < at - WEIGHT_HISTORY:
            self.weights.popleft()
            evicted = True
        day, self.weight_day = self.weight_day, at.astimezone(self.tz).date()
        # A later weighing of the same local day is not that day's first: nothing changed
        # unless the history lost a weighing (which can move a day's first).
        return evicted or day != self.weight_day
