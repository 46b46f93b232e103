"""Measurement kinds and their UCUM units: the platform's one vocabulary."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a reading measures. The value is the wire and storage name."""

    HEART_RATE = "heart_rate"
    RR_INTERVAL = "rr_interval"
    SPO2 = "spo2"
    PULSE_RATE = "pulse_rate"
    BP_SYSTOLIC = "bp_systolic"
    BP_DIASTOLIC = "bp_diastolic"
    BP_MEAN = "bp_mean"
    CUFF_PRESSURE = "cuff_pressure"
    BODY_TEMPERATURE = "body_temperature"
    BODY_WEIGHT = "body_weight"
    GLUCOSE = "glucose"
    RESPIRATORY_RATE = "respiratory_rate"
    BATTERY_LEVEL = "battery_level"
    ECG = "ecg"
    PLETH = "pleth"
    ABP = "abp"


#: UCUM unit of each kind; a reading in another unit is converted at the edge.
UNITS: dict[Kind, str] = {
    Kind.HEART_RATE: "/min",
    Kind.RR_INTERVAL: "ms",
    Kind.SPO2: "%",
    Kind.PULSE_RATE: "/min",
    Kind.BP_SYSTOLIC: "mm[Hg]",
    Kind.BP_DIASTOLIC: "mm[Hg]",
    Kind.BP_MEAN: "mm[Hg]",
    Kind.CUFF_PRESSURE: "mm[Hg]",
    Kind.BODY_TEMPERATURE: "Cel",
    Kind.BODY_WEIGHT: "kg",
    Kind.GLUCOSE: "mmol/L",
    Kind.RESPIRATORY_RATE: "/min",
    Kind.BATTERY_LEVEL: "%",
    Kind.ECG: "uV",
    Kind.PLETH: "1",
    Kind.ABP: "mm[Hg]",
}

#: Kinds that arrive as waveform sample chunks rather than single readings: ECG (one lead a
#: chunk), the pulse oximeter's photoplethysmogram (device units) and arterial blood pressure.
WAVEFORM_KINDS: frozenset[Kind] = frozenset({Kind.ECG, Kind.PLETH, Kind.ABP})
#: The one channel name (WFDB signal name) of each pulse waveform kind; ECG chunks name their
#: lead instead.
PULSE_CHANNELS: dict[str, str] = {Kind.PLETH: "PLETH", Kind.ABP: "ABP"}


def unit_of(kind: Kind | str) -> str:
    """Return the UCUM unit of ``kind``; raise ValueError for an unknown kind."""
    return UNITS[Kind(kind)]
