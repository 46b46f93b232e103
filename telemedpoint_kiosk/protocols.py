"""Visit protocols: which measurements, in which order, with which device; what a value may be
(plausible, else refused) and when it needs a confirmatory repeat before it counts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from telemed_core.errors import InvalidInput

Values = Mapping[str, float]


@dataclass(frozen=True)
class FieldSpec:
    """One value of a step, in the kind's unit; outside [low, high] it is impossible."""

    name: str  # a telemed_core Kind value, or "consciousness"
    unit: str
    low: float
    high: float
    decimals: int = 0


@dataclass(frozen=True)
class Step:
    """One measurement of a visit. ``repeats``: how many measurements the protocol asks for;
    ``confirm``: an abnormal value counts only when a repeat confirms it."""

    name: str
    device: str | None  # the device profile (device_bridge.link.profiles.DeviceKind value)
    fields: tuple[FieldSpec, ...]
    abnormal: Callable[[Values], bool]
    repeats: int = 1
    confirm: bool = True


def _bp_abnormal(v: Values) -> bool:
    return v["bp_systolic"] >= 160 or v["bp_diastolic"] >= 100 or v["bp_systolic"] < 90


def _spo2_abnormal(v: Values) -> bool:
    pulse = v.get("pulse_rate")
    return v["spo2"] < 92 or (pulse is not None and not 50 <= pulse <= 120)


PULSE = FieldSpec("pulse_rate", "/min", 20, 250)
STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "bp",
            "bp_cuff",
            (
                FieldSpec("bp_systolic", "mm[Hg]", 50, 300),
                FieldSpec("bp_diastolic", "mm[Hg]", 20, 200),
                PULSE,
            ),
            _bp_abnormal,
            repeats=2,
        ),
        Step("spo2", "pulse_oximeter", (FieldSpec("spo2", "%", 50, 100), PULSE), _spo2_abnormal),
        Step(
            "temperature",
            "thermometer",
            (FieldSpec("body_temperature", "Cel", 30, 43, 1),),
            lambda v: not 35.5 <= v["body_temperature"] < 38.0,
        ),
        Step(
            "resp_rate",
            None,
            (FieldSpec("respiratory_rate", "/min", 3, 70),),
            lambda v: not 9 <= v["respiratory_rate"] <= 24,
        ),
        Step(
            "consciousness",
            None,
            (FieldSpec("consciousness", "ACVPU", 0, 4),),
            lambda v: v["consciousness"] != 0,
            confirm=False,
        ),
        Step("ecg", "polar_h10", (), lambda v: v.get("rhythm", 0) != 0, confirm=False),
        Step(
            "weight", "weight_scale", (FieldSpec("body_weight", "kg", 2, 350, 1),), lambda v: False
        ),
    )
}
#: ACVPU as numbers in a step's values (NEWS2 order), and back.
ACVPU = ("A", "C", "V", "P", "U")
#: Strip classes (telemed_signal.strip) as numbers in the ECG step's values.
RHYTHMS = ("normal", "af", "other", "noisy")

PROTOCOLS: dict[str, tuple[str, ...]] = {
    "hypertension": ("bp", "ecg", "weight"),
    "heart_failure": ("bp", "spo2", "ecg", "weight"),
    "full": ("bp", "spo2", "temperature", "resp_rate", "consciousness", "ecg", "weight"),
}


def check_plausible(step: Step, values: Values) -> None:
    """Raise InvalidInput naming the impossible value (nothing is recorded then)."""
    for spec in step.fields:
        value = values.get(spec.name)
        if value is None:
            if spec is PULSE:
                continue  # the pulse is optional with a manual BP or SpO2
            raise InvalidInput(f"{spec.name}: a value is required")
        if not spec.low <= value <= spec.high:
            raise InvalidInput(
                f"{spec.name}: {value:g} {spec.unit} is impossible "
                f"(possible: {spec.low:g}-{spec.high:g} {spec.unit})"
            )
    if step.name == "bp" and values["bp_systolic"] <= values["bp_diastolic"]:
        raise InvalidInput("systolic pressure must be higher than diastolic")
