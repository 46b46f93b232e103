"""Local alerting: the hub's rules, run at the kiosk so a village with no uplink still tells the
nurse what to do. Uses the signal library (telemed_signal) the hub's worker uses: hypertensive
crisis confirmed by a repeat, NEWS2 (RCP 2017), the strip classifier's rhythm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telemed_signal.news2 import News2Input, News2Result, News2Risk, news2_score
from telemed_signal.trends import BpReading, hypertensive_crisis_findings
from telemedpoint_kiosk.protocols import ACVPU, RHYTHMS
from telemedpoint_kiosk.store import Measurement, Visit

#: Symptoms that make a crisis-range BP an emergency (ESH 2023: acute organ damage).
RED_FLAG_SYMPTOMS = ("chest_pain", "dyspnoea", "neuro", "headache_vision")


@dataclass(frozen=True)
class LocalAlert:
    rule: str
    level: str  # critical: act now (call 155) | warning: ask the doctor today
    message: str  # a key of the screen texts (web/i18n.py), with the values after "|"


def counted(measurements: Sequence[Measurement], step: str) -> list[Measurement]:
    return [m for m in measurements if m.step == step and m.usable]


def evaluate(visit: Visit, measurements: Sequence[Measurement]) -> list[LocalAlert]:
    """Every alert the visit's measurements call for now (the store records each once)."""
    alerts = _bp(visit, counted(measurements, "bp"))
    alerts += _spo2(counted(measurements, "spo2"))
    alerts += _ecg(counted(measurements, "ecg"))
    news2 = news2_of(measurements)
    if news2 is not None and news2.risk is News2Risk.HIGH:
        alerts.append(LocalAlert("news2_high", "critical", f"alert_news2_high|{news2.total}"))
    elif news2 is not None and news2.risk in (News2Risk.MEDIUM, News2Risk.LOW_MEDIUM):
        alerts.append(LocalAlert("news2_medium", "warning", f"alert_news2_medium|{news2.total}"))
    return alerts


def _bp(visit: Visit, bps: Sequence[Measurement]) -> list[LocalAlert]:
    readings = [
        BpReading(m.measured_at, m.values["bp_systolic"], m.values["bp_diastolic"]) for m in bps
    ]
    confirmed = [
        f
        for f in hypertensive_crisis_findings(visit.patient_id, readings)
        if f.kind == "hypertensive_crisis"
    ]
    if not confirmed:
        return []
    last = bps[-1].values
    shown = f"{last['bp_systolic']:.0f}/{last['bp_diastolic']:.0f}"
    if set(visit.symptoms) & set(RED_FLAG_SYMPTOMS):
        return [LocalAlert("bp_crisis_symptoms", "critical", f"alert_bp_crisis_symptoms|{shown}")]
    return [LocalAlert("bp_crisis", "warning", f"alert_bp_crisis|{shown}")]


def _spo2(spo2s: Sequence[Measurement]) -> list[LocalAlert]:
    if len(spo2s) < 2:
        return []  # a low value counts only once a repeat confirms it
    best_of_last_two = max(m.values["spo2"] for m in spo2s[-2:])
    if best_of_last_two < 88:
        return [
            LocalAlert("spo2_critical", "critical", f"alert_spo2_critical|{best_of_last_two:.0f}")
        ]
    if best_of_last_two < 92:
        return [LocalAlert("spo2_low", "warning", f"alert_spo2_low|{best_of_last_two:.0f}")]
    return []


def _ecg(strips: Sequence[Measurement]) -> list[LocalAlert]:
    if not strips:
        return []
    rhythm = RHYTHMS[int(strips[-1].values["rhythm"])]
    if rhythm == "af":
        return [LocalAlert("ecg_af", "warning", "alert_ecg_af|")]
    if rhythm == "other":
        return [LocalAlert("ecg_other", "warning", "alert_ecg_other|")]
    return []


def latest(measurements: Sequence[Measurement], step: str) -> dict[str, float] | None:
    found = counted(measurements, step)
    return found[-1].values if found else None


def news2_of(measurements: Sequence[Measurement]) -> News2Result | None:
    """NEWS2 once its inputs are complete (respiration, SpO2, BP, pulse, ACVPU, temperature).
    The kiosk gives no supplemental oxygen; scale 1."""
    bp, spo2 = latest(measurements, "bp"), latest(measurements, "spo2")
    temp, resp = latest(measurements, "temperature"), latest(measurements, "resp_rate")
    acvpu = latest(measurements, "consciousness")
    if bp is None or spo2 is None or temp is None or resp is None or acvpu is None:
        return None
    pulse = spo2.get("pulse_rate") or bp.get("pulse_rate")
    if pulse is None:
        return None
    return news2_score(
        News2Input(
            resp_rate_per_min=resp["respiratory_rate"],
            spo2_pct=spo2["spo2"],
            on_supplemental_o2=False,
            sbp_mmhg=bp["bp_systolic"],
            pulse_bpm=pulse,
            consciousness=ACVPU[int(acvpu["consciousness"])],  # type: ignore[arg-type]
            temp_c=temp["body_temperature"],
        )
    )
