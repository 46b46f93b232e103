"""National Early Warning Score 2 (NEWS2), exactly per the RCP 2017 chart.

References:
    Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
    assessment of acute-illness severity in the NHS. Updated report of a working party.
    London: RCP, 2017. Chart 1 (the scoring system), Chart 3 (clinical response to NEWS
    trigger thresholds) and Chart 4 (clinical response).

Rounding rule (the chart is defined on charted values only): every input is first rounded to
the chart's resolution, half away from zero, as a nurse would chart it -- whole numbers for
respiration rate, SpO2, systolic BP and pulse, 0.1 degC for temperature. So 91.5 % is charted
as 92 % (scale 1 score 2), 36.05 degC as 36.1 degC (score 0) and 36.04 degC as 36.0 (score 1).
Rounding uses the shortest decimal form of the float (``repr``), so 36.05 is 36.05, not the
binary 36.04999...

NEWS2 is not validated for people under 16 or in pregnancy (RCP 2017); callers decide that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum, StrEnum
from numbers import Real
from typing import Any

from telemed_core.explanations import explained
from telemed_signal.findings import Finding, Severity

METHOD = "NEWS2 (Royal College of Physicians, 2017)"


class Consciousness(StrEnum):
    """ACVPU. New confusion scores like V, P and U (RCP 2017, Chart 1)."""

    ALERT = "A"
    NEW_CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


class SpO2Scale(IntEnum):
    """Scale 1 by default; scale 2 only for hypercapnic respiratory failure, set by a clinician."""

    SCALE_1 = 1
    SCALE_2 = 2


class News2Risk(StrEnum):
    """Clinical risk bands (RCP 2017, Chart 3)."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


class News2Parameter(StrEnum):
    """The seven NEWS2 parameters; each value is the matching ``News2Input`` field name."""

    RESP_RATE = "resp_rate_per_min"
    SPO2 = "spo2_pct"
    SUPPLEMENTAL_O2 = "on_supplemental_o2"
    SBP = "sbp_mmhg"
    PULSE = "pulse_bpm"
    CONSCIOUSNESS = "consciousness"
    TEMPERATURE = "temp_c"


#: Limits of plausibility (inclusive), not clinical thresholds: a value outside is a device or
#: entry error and is refused with ValueError rather than scored.
PLAUSIBLE: dict[News2Parameter, tuple[float, float]] = {
    News2Parameter.RESP_RATE: (1.0, 80.0),
    News2Parameter.SPO2: (1.0, 100.0),
    News2Parameter.SBP: (30.0, 300.0),
    News2Parameter.PULSE: (20.0, 300.0),
    News2Parameter.TEMPERATURE: (25.0, 45.0),
}

# Bands as (highest charted value in the band, score), ascending; above the last: ``top``.
_RESP_RATE_BANDS = ((8, 3), (11, 1), (20, 0), (24, 2))
_SPO2_SCALE1_BANDS = ((91, 3), (93, 2), (95, 1))
_SPO2_SCALE2_BANDS = ((83, 3), (85, 2), (87, 1), (92, 0))
_SPO2_SCALE2_ON_O2_BANDS = ((94, 1), (96, 2))
_SBP_BANDS = ((90, 3), (100, 2), (110, 1), (219, 0))
_PULSE_BANDS = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2))
_TEMP_TENTHS_BANDS = ((350, 3), (360, 1), (380, 0), (390, 1))


@dataclass(frozen=True, slots=True)
class News2Input:
    """One set of observations, in chart units. Construction validates every field.

    ``on_supplemental_o2`` is True when the patient breathes supplemental oxygen (any device).
    Raises ValueError for NaN, infinite, negative or physiologically impossible values.
    """

    resp_rate_per_min: float
    spo2_pct: float
    on_supplemental_o2: bool
    sbp_mmhg: float
    pulse_bpm: float
    consciousness: Consciousness
    temp_c: float
    spo2_scale: SpO2Scale = SpO2Scale.SCALE_1

    def __post_init__(self) -> None:
        for parameter in News2Parameter:
            # Frozen dataclass: normalise in place (int to float, "C" to NEW_CONFUSION).
            object.__setattr__(
                self, parameter.value, _coerce(parameter, getattr(self, parameter.value))
            )
        if not isinstance(self.spo2_scale, SpO2Scale):
            raise ValueError(f"spo2_scale must be a SpO2Scale, got {self.spo2_scale!r}")


@dataclass(frozen=True, slots=True)
class News2SubScores:
    """The score of each chart row."""

    resp_rate: int
    spo2: int
    air_or_oxygen: int
    sbp: int
    pulse: int
    consciousness: int
    temperature: int

    def as_dict(self) -> dict[str, int]:
        """Sub-scores keyed by chart row, for a Finding's ``values``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


@dataclass(frozen=True, slots=True)
class News2Result:
    """Aggregate (0-20), sub-scores, risk band and the RCP clinical response."""

    total: int
    sub_scores: News2SubScores
    risk: News2Risk
    red_score: bool
    response: str
    monitoring: str
    spo2_scale: SpO2Scale


def _check_plausible(parameter: News2Parameter, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{parameter.value} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{parameter.value} must be finite, got {value!r}")
    if not low <= number <= high:
        raise ValueError(
            f"{parameter.value}={value!r} is outside the plausible range [{low}, {high}]"
        )
    return number


def chart_value(value: float, places: int = 0) -> Decimal:
    """``value`` as it would be charted: rounded half away from zero to ``places`` decimals."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _band(charted: Decimal, bands: tuple[tuple[int, int], ...], top: int) -> int:
    for upper, score in bands:
        if charted <= upper:
            return score
    return top


def score_resp_rate(resp_rate_per_min: float) -> int:
    """Respiration rate /min: <=8 -> 3, 9-11 -> 1, 12-20 -> 0, 21-24 -> 2, >=25 -> 3."""
    return _band(chart_value(resp_rate_per_min), _RESP_RATE_BANDS, 3)


def score_spo2(spo2_pct: float, scale: SpO2Scale, on_supplemental_o2: bool) -> int:
    """SpO2 % on scale 1 (<=91 -> 3, 92-93 -> 2, 94-95 -> 1, >=96 -> 0) or scale 2.

    Scale 2: <=83 -> 3, 84-85 -> 2, 86-87 -> 1, 88-92 -> 0; >=93 scores 0 on air and on oxygen
    93-94 -> 1, 95-96 -> 2, >=97 -> 3 (over-oxygenation of a hypercapnic patient).
    """
    charted = chart_value(spo2_pct)
    if scale is SpO2Scale.SCALE_1:
        return _band(charted, _SPO2_SCALE1_BANDS, 0)
    if charted <= 92 or not on_supplemental_o2:
        return _band(charted, _SPO2_SCALE2_BANDS, 0)
    return _band(charted, _SPO2_SCALE2_ON_O2_BANDS, 3)


def score_air_or_oxygen(on_supplemental_o2: bool) -> int:
    """Air -> 0, supplemental oxygen -> 2 (both SpO2 scales)."""
    return 2 if on_supplemental_o2 else 0


def score_sbp(sbp_mmhg: float) -> int:
    """Systolic BP mmHg: <=90 -> 3, 91-100 -> 2, 101-110 -> 1, 111-219 -> 0, >=220 -> 3."""
    return _band(chart_value(sbp_mmhg), _SBP_BANDS, 3)


def score_pulse(pulse_bpm: float) -> int:
    """Pulse /min: <=40 -> 3, 41-50 -> 1, 51-90 -> 0, 91-110 -> 1, 111-130 -> 2, >=131 -> 3."""
    return _band(chart_value(pulse_bpm), _PULSE_BANDS, 3)


def score_consciousness(consciousness: Consciousness) -> int:
    """Alert -> 0; new confusion, voice, pain or unresponsive -> 3."""
    return 0 if Consciousness(consciousness) is Consciousness.ALERT else 3


def score_temperature(temp_c: float) -> int:
    """Temperature degC: <=35.0 -> 3, 35.1-36.0 -> 1, 36.1-38.0 -> 0, 38.1-39.0 -> 1, >=39.1 -> 2"""
    return _band(chart_value(temp_c, places=1).scaleb(1), _TEMP_TENTHS_BANDS, 2)


def news2_sub_scores(vitals: News2Input) -> News2SubScores:
    """Score each chart row of ``vitals``."""
    return News2SubScores(
        resp_rate=score_resp_rate(vitals.resp_rate_per_min),
        spo2=score_spo2(vitals.spo2_pct, vitals.spo2_scale, vitals.on_supplemental_o2),
        air_or_oxygen=score_air_or_oxygen(vitals.on_supplemental_o2),
        sbp=score_sbp(vitals.sbp_mmhg),
        pulse=score_pulse(vitals.pulse_bpm),
        consciousness=score_consciousness(vitals.consciousness),
        temperature=score_temperature(vitals.temp_c),
    )


# (response, minimum monitoring frequency) per trigger, after RCP 2017 Charts 3 and 4.
_RESPONSES: dict[str, tuple[str, str]] = {
    "zero": ("Routine NEWS monitoring.", "minimum 12-hourly"),
    "low": ("Ward-based response: registered nurse assesses the patient.", "minimum 4-6-hourly"),
    "red": ("Urgent ward-based response: urgent review by the medical team.", "minimum 1-hourly"),
    "medium": (
        "Key threshold for urgent response: urgent assessment within 1 h by a clinician "
        "competent in acute illness.",
        "minimum 1-hourly",
    ),
    "high": (
        "Emergency response: emergency assessment within 30 min by a critical-care team; "
        "consider level 2/3 care.",
        "continuous monitoring",
    ),
}


def _risk(total: int, red_score: bool) -> tuple[News2Risk, str]:
    if total >= 7:
        return News2Risk.HIGH, "high"
    if total >= 5:
        return News2Risk.MEDIUM, "medium"
    if red_score:
        return News2Risk.LOW_MEDIUM, "red"
    return News2Risk.LOW, "zero" if total == 0 else "low"


def news2_score(vitals: News2Input) -> News2Result:
    """Compute NEWS2 for one set of observations (RCP 2017, Charts 1, 3 and 4).

    Returns the aggregate (0-20), every sub-score, the risk band (low 0-4; low-medium when any
    single parameter scores 3; medium 5-6; high >=7), the recommended clinical response and the
    minimum frequency of observations. Values are rounded to the chart resolution first (see the
    module docstring). Invalid input never gets here: ``News2Input`` raises ValueError.
    """
    sub = news2_sub_scores(vitals)
    total = sub.total
    red = max(sub.as_dict().values()) == 3
    risk, trigger = _risk(total, red)
    response, monitoring = _RESPONSES[trigger]
    return News2Result(total, sub, risk, red, response, monitoring, vitals.spo2_scale)


_SEVERITY = {News2Risk.HIGH: Severity.HIGH, News2Risk.MEDIUM: Severity.MEDIUM}


def news2_finding(
    patient_id: str, result: News2Result, at: datetime, window_s: float | None = None
) -> Finding | None:
    """A Finding when NEWS2 reaches a trigger (red score, 5-6 or >=7); None in the low band.

    Severity suggestion: high for >=7, medium for 5-6 and for a single red score (both call for
    an urgent clinical review in RCP Chart 4). ``at`` is when the observation set was complete.
    """
    if result.risk is News2Risk.LOW:
        return None
    values: dict[str, object] = {"news2_total": result.total, "spo2_scale": int(result.spo2_scale)}
    values.update({f"news2_{k}": v for k, v in result.sub_scores.as_dict().items()})
    return Finding(
        patient_id=patient_id,
        kind="news2",
        start=_require_utc(at),
        end=_require_utc(at),
        severity=_SEVERITY.get(result.risk, Severity.MEDIUM),
        method=METHOD,
        values=values,
        window_s=window_s,
        **explained(
            "news2_red" if result.red_score else "news2",
            total=result.total,
            risk_text=result.risk.value,
            response_text=result.response,
        ),
    )


def _require_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return at


@dataclass(frozen=True, slots=True)
class Observation:
    """The latest value of one parameter and when it was measured (UTC-aware)."""

    value: float | bool | Consciousness
    at: datetime


@dataclass(frozen=True, slots=True)
class News2Assembly:
    """Outcome of assembling a NEWS2 input from the latest observations.

    ``vitals`` is None unless every parameter is present, fresh and valid. ``missing`` never
    arrived, ``stale`` are older than the freshness window, ``invalid`` maps a parameter to why
    its value was refused, ``assumed`` were filled from the caller's explicit defaults.
    """

    vitals: News2Input | None
    missing: tuple[News2Parameter, ...]
    stale: tuple[News2Parameter, ...]
    invalid: Mapping[News2Parameter, str]
    assumed: tuple[News2Parameter, ...]
    oldest_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.vitals is not None


def news2_input_from_latest(
    latest: Mapping[News2Parameter, Observation],
    now: datetime,
    *,
    max_age_s: float = 1800.0,
    spo2_scale: SpO2Scale = SpO2Scale.SCALE_1,
    assumed: Mapping[News2Parameter, bool | Consciousness] | None = None,
) -> News2Assembly:
    """Build a ``News2Input`` from the latest observation of each parameter, if complete enough.

    NEWS2 is only defined on a full set: a missing parameter could score 3, so a partial set is
    never scored. Each observation must be at most ``max_age_s`` old at ``now`` (default 30 min,
    one round of observations) and not in the future. ``assumed`` holds defaults the caller knows
    (e.g. ``{SUPPLEMENTAL_O2: False}`` for a patient without home oxygen); a default is used only
    for a parameter never observed, never to replace a stale observation, and is reported in
    ``assumed``. Values are validated as in ``News2Input``; refused ones are listed in ``invalid``.
    """
    now = _require_utc(now)
    raw: dict[News2Parameter, object] = {}
    missing: list[News2Parameter] = []
    stale: list[News2Parameter] = []
    invalid: dict[News2Parameter, str] = {}
    used: list[News2Parameter] = []
    fresh_times: list[datetime] = []
    defaults = assumed or {}
    for parameter in News2Parameter:
        obs = latest.get(parameter)
        if obs is None:
            if parameter in defaults:
                raw[parameter] = defaults[parameter]
                used.append(parameter)
            else:
                missing.append(parameter)
            continue
        age_s = (now - _require_utc(obs.at)).total_seconds()
        if age_s < 0:
            invalid[parameter] = f"measured {-age_s:.0f} s after now"
        elif age_s > max_age_s:
            stale.append(parameter)
        else:
            raw[parameter] = obs.value
            fresh_times.append(obs.at)
    kwargs, errors = _coerce_all(raw)
    invalid.update(errors)
    vitals = None
    if not missing and not stale and not invalid:
        vitals = News2Input(spo2_scale=spo2_scale, **kwargs)
    oldest = min(fresh_times) if fresh_times else None
    return News2Assembly(vitals, tuple(missing), tuple(stale), invalid, tuple(used), oldest)


def _coerce(parameter: News2Parameter, value: object) -> object:
    if parameter in PLAUSIBLE:
        return _check_plausible(parameter, value, *PLAUSIBLE[parameter])
    if parameter is News2Parameter.CONSCIOUSNESS:
        if not isinstance(value, str):
            raise ValueError(f"consciousness must be ACVPU (A, C, V, P or U), got {value!r}")
        return Consciousness(value)
    if not isinstance(value, bool):
        raise ValueError(f"on_supplemental_o2 must be a bool, got {value!r}")
    return value


def _coerce_all(
    raw: Mapping[News2Parameter, object],
) -> tuple[dict[str, Any], dict[News2Parameter, str]]:
    kwargs: dict[str, Any] = {}
    errors: dict[News2Parameter, str] = {}
    for parameter, value in raw.items():
        try:
            kwargs[parameter.value] = _coerce(parameter, value)
        except ValueError as exc:
            errors[parameter] = str(exc)
    return kwargs, errors
