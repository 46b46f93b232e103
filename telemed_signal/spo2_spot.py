"""SpO2 from sparse spot checks (no continuous stream): a low value counts for more once a
repeat confirms it.

Reference: clinical-workflow reference, section 2.3: persistence delays and confirmatory
re-measurement for spot checks (Philips "reassurance" re-check).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telemed_signal.findings import Finding, Severity

SPOT_METHOD = "Spot SpO2 < {thr:g} %, confirmed by a repeat within {win:g} s"


@dataclass(frozen=True, slots=True)
class SpotReading:
    """One spot-check SpO2 value (no continuous stream), UTC-aware."""

    at: datetime
    spo2_pct: float
    invalid: bool = False


def spo2_spot_findings(
    patient_id: str,
    readings: Sequence[SpotReading],
    *,
    low_pct: float = 92.0,
    critical_pct: float = 85.0,
    repeat_window_s: float = 900.0,
) -> list[Finding]:
    """Findings from sparse spot checks: a low value counts for more once a repeat confirms it.

    A value < ``low_pct`` is low (default 92 %, i.e. a NEWS2 scale-1 score of 3). Low values
    whose next valid reading, within ``repeat_window_s``, is also low form one confirmed episode
    (kind ``spo2_spot_low``: medium severity, high when two or more are < ``critical_pct``). A
    low value with no repeat in the window is ``spo2_spot_low_unconfirmed`` (low severity,
    medium if < ``critical_pct``); one refuted by a normal repeat is informational. Dropouts
    (invalid, NaN, 0, > 100 %) are ignored.
    """
    valid = sorted((r for r in readings if _spot_ok(r)), key=lambda r: r.at)
    method = SPOT_METHOD.format(thr=low_pct, win=repeat_window_s)
    findings: list[Finding] = []
    i = 0
    while i < len(valid):
        if valid[i].spo2_pct >= low_pct:
            i += 1
            continue
        j = i
        while j + 1 < len(valid) and _is_repeat(valid[j], valid[j + 1], repeat_window_s, low_pct):
            j += 1
        nxt = valid[j + 1] if j + 1 < len(valid) else None
        within = nxt is not None and _within(valid[j], nxt, repeat_window_s)
        episode = valid[i : j + 1]
        findings.append(
            _spot_finding(patient_id, episode, nxt if within else None, method, critical_pct)
        )
        i = j + 1
    return findings


def _spot_ok(r: SpotReading) -> bool:
    return not r.invalid and math.isfinite(r.spo2_pct) and 0.0 < r.spo2_pct <= 100.0


def _within(a: SpotReading, b: SpotReading, window_s: float) -> bool:
    return (b.at - a.at).total_seconds() <= window_s


def _is_repeat(a: SpotReading, b: SpotReading, window_s: float, low_pct: float) -> bool:
    return _within(a, b, window_s) and b.spo2_pct < low_pct


def _spot_finding(
    patient_id: str,
    episode: list[SpotReading],
    refuted_by: SpotReading | None,
    method: str,
    critical_pct: float,
) -> Finding:
    nadir = min(r.spo2_pct for r in episode)
    values: dict[str, Any] = {"nadir_spo2_pct": nadir, "n_low_readings": len(episode)}
    values["confirmed"] = confirmed = len(episode) > 1
    kind = "spo2_spot_low" if confirmed else "spo2_spot_low_unconfirmed"
    if confirmed:
        n_critical = sum(r.spo2_pct < critical_pct for r in episode)
        severity = Severity.HIGH if n_critical >= 2 else Severity.MEDIUM
        text = f"{len(episode)} low spot readings in a row, lowest {nadir:g} %."
    elif refuted_by is not None:
        values["repeat_spo2_pct"] = refuted_by.spo2_pct
        severity = Severity.INFO
        text = f"Low spot reading {nadir:g} % not confirmed: repeat {refuted_by.spo2_pct:g} %."
    else:
        severity = Severity.MEDIUM if nadir < critical_pct else Severity.LOW
        text = f"Single low spot reading {nadir:g} %, no repeat yet: lower certainty, repeat it."
    start, end = episode[0].at, episode[-1].at
    window_s = (end - start).total_seconds()
    return Finding(patient_id, kind, start, end, severity, method, values, window_s, text)
