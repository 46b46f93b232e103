"""The example resources checked in under ``fhir/examples/``: one per kind, plus Patient,
Device, gateway Device, ECG, a finding and the derived observations.

They are produced by the mapping from fixed sample rows, so a test can require the files to
equal what the mapping produces today. Regenerate after a deliberate mapping change with::

    .venv/bin/python -m patient_hub.fhir.examples
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from patient_hub.fhir.codes import CODES_PATH
from patient_hub.fhir.common import JsonDict
from patient_hub.fhir.derived_observations import derived_observation
from patient_hub.fhir.finding_observations import finding_to_fhir
from patient_hub.fhir.mapping import bp_panel, reading_to_observation
from patient_hub.fhir.resources import device_to_fhir, gateway_to_fhir, patient_to_fhir
from patient_hub.fhir.waveform import chunk_to_observation
from telemed_signal.findings import Finding, Severity

EXAMPLES_DIR = CODES_PATH.parent / "examples"
AT = datetime(2025, 3, 1, 8, 30, 0, tzinfo=UTC)
BRIDGE, PATIENT = "home-gw-17", "patient-042"


@dataclass(frozen=True, slots=True)
class SampleReading:
    """A stored reading as the mapping sees it (same fields as ``ReadingRow``)."""

    kind: str
    value: float | None
    unit: str
    seq: int
    device_id: str = "dev-omron-1"
    bridge_id: str = BRIDGE
    patient_id: str = PATIENT
    measured_at: datetime = AT
    device_time: datetime | None = None
    flags: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SampleChunk:
    """A stored waveform chunk as the mapping sees it (same fields as ``SampleChunkRow``)."""

    samples: bytes
    seq: int = 900
    device_id: str = "dev-polar-h10"
    bridge_id: str = BRIDGE
    patient_id: str = PATIENT
    kind: str = "ecg"
    lead: str = "I"
    unit: str = "uV"
    factor: float = 1.0
    fs_hz: float = 130.0
    start: datetime = AT
    flags: str = ""
    id: int | None = 7


#: kind -> (value, unit, device); one sample reading per scalar kind.
SCALARS: dict[str, tuple[float, str, str]] = {
    "heart_rate": (72.0, "/min", "dev-polar-h10"),
    "rr_interval": (834.0, "ms", "dev-polar-h10"),
    "spo2": (97.0, "%", "dev-nonin-3230"),
    "pulse_rate": (68.0, "/min", "dev-nonin-3230"),
    "cuff_pressure": (152.0, "mm[Hg]", "dev-omron-1"),
    "body_temperature": (36.8, "Cel", "dev-thermo-1"),
    "body_weight": (82.4, "kg", "dev-scale-1"),
    "glucose": (5.6, "mmol/L", "dev-glucometer-1"),
    "respiratory_rate": (16.0, "/min", "dev-resp-1"),
    "battery_level": (85.0, "%", "dev-polar-h10"),
}

ECG_SAMPLES_UV = [12, 15, 20, 31, 44, 40, 18, -5, -30, 120, 890, 1320, 410, -260, -120, -40]


def scalar_rows() -> list[SampleReading]:
    """One reading per scalar kind (not BP), numbered from seq 101."""
    return [
        SampleReading(kind=k, value=v, unit=u, seq=101 + i, device_id=d, id=1001 + i)
        for i, (k, (v, u, d)) in enumerate(SCALARS.items())
    ]


def bp_rows() -> list[SampleReading]:
    """A home BP measurement: systolic, diastolic and mean taken together."""
    values = {"bp_systolic": 128.0, "bp_diastolic": 82.0, "bp_mean": 97.0}
    return [
        SampleReading(kind=k, value=v, unit="mm[Hg]", seq=201 + i, id=2001 + i,
                      device_time=AT - timedelta(seconds=4))
        for i, (k, v) in enumerate(values.items())
    ]  # fmt: skip


def invalid_row() -> SampleReading:
    """An SpO2 the oximeter reported as NaN: no value, flagged invalid."""
    return SampleReading(kind="spo2", value=None, unit="%", seq=301, device_id="dev-nonin-3230",
                         flags="invalid", id=3001)  # fmt: skip


def ecg_chunk() -> SampleChunk:
    return SampleChunk(samples=struct.pack(f"<{len(ECG_SAMPLES_UV)}i", *ECG_SAMPLES_UV))


#: One pulse of a bedside monitor's pleth (device units) and arterial line (0.01 mmHg steps).
PLETH_SAMPLES = (1510, 1502, 1540, 1688, 1902, 2105, 2210, 2198, 2120, 2011, 1930, 1905, 1861)
ABP_SAMPLES = (7920, 7890, 8350, 10200, 12100, 12350, 11800, 10400, 9800, 9900, 9400, 8800, 8300)


def pulse_chunks() -> dict[str, SampleChunk]:
    """The pulse waveforms of a bedside monitor (PLETH and ABP at 125 Hz), one chunk each."""
    return {
        "pleth": SampleChunk(samples=struct.pack(f"<{len(PLETH_SAMPLES)}i", *PLETH_SAMPLES),
                             kind="pleth", lead="PLETH", unit="1", seq=901, id=8,
                             device_id="dev-bedside-1", fs_hz=125.0),
        "abp": SampleChunk(samples=struct.pack(f"<{len(ABP_SAMPLES)}i", *ABP_SAMPLES),
                           kind="abp", lead="ABP", unit="mm[Hg]", factor=0.01, seq=902, id=9,
                           device_id="dev-bedside-1", fs_hz=125.0),
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SamplePatient:
    id: str = PATIENT
    display_name: str = "Jana Example"
    programme: str = "heart_failure"
    telemedpoint_id: str | None = "tmp-village-3"
    family_name: str | None = "Example"
    given_name: str | None = "Jana"
    birth_date: date | None = date(1956, 3, 14)
    sex: str | None = "female"
    national_id: str | None = "5653141010"  # valid by the birth-number rules, not a real one
    address_line: str | None = "Náves 12"
    city: str | None = "Horní Example"
    postal_code: str | None = "56901"
    country: str | None = "CZ"
    home_latitude: float | None = 49.7589
    home_longitude: float | None = 16.4689
    phone: str | None = "+420601234567"
    treating_doctor: str | None = "MUDr. Petr Example"
    is_test: bool = True


def af_finding() -> Finding:
    return Finding(
        patient_id=PATIENT, kind="atrial_fibrillation", start=AT, end=AT + timedelta(minutes=3),
        severity=Severity.MEDIUM, method="RR irregularity (example method name)",
        values={"hr_bpm": 118.4, "duration_s": 180.0, "n_beats": 355}, window_s=180.0,
        explanation="Irregularly irregular RR intervals for 180 s, mean ventricular rate 118 bpm.",
    )  # fmt: skip


def build_examples() -> dict[str, JsonDict]:
    """File name -> resource, everything the mapping can produce once."""
    out: dict[str, JsonDict] = {}
    for row in scalar_rows():
        out[f"Observation-{row.kind}.json"] = reading_to_observation(row)
    out["Observation-bp-panel.json"] = bp_panel(bp_rows())
    out["Observation-spo2-absent.json"] = reading_to_observation(invalid_row(), special="nan")
    out["Observation-ecg-lead-I.json"] = chunk_to_observation(ecg_chunk())
    for kind, chunk in pulse_chunks().items():
        out[f"Observation-waveform-{kind}.json"] = chunk_to_observation(chunk)
    out["Observation-finding-atrial_fibrillation.json"] = finding_to_fhir(
        af_finding(), derived_from=["Observation/ecg-7"]
    )
    out.update(_derived_examples())
    out["Patient.json"] = patient_to_fhir(SamplePatient())
    out["Device-phd.json"] = device_to_fhir(
        "dev-nonin-3230", BRIDGE, PATIENT, kinds=["spo2", "pulse_rate"],
        bt_address="00:1C:05:FF:E8:74", manufacturer="Nonin", model="3230",
    )  # fmt: skip
    out["Device-gateway.json"] = gateway_to_fhir(BRIDGE, patient_id=PATIENT)
    return out


def _derived_examples() -> dict[str, JsonDict]:
    news2_parts = {"resp_rate": 0, "spo2": 1, "air_or_oxygen": 0, "sbp": 0, "pulse": 1,
                   "consciousness": 0, "temperature": 0}  # fmt: skip
    return {
        "Observation-derived-heart_rate.json": derived_observation(
            "heart_rate", 74.0, "/min", PATIENT, AT, ["Observation/ecg-7"],
            device_id="dev-polar-h10", method="Pan-Tompkins QRS detection",
        ),
        "Observation-derived-news2.json": derived_observation(
            "news2", 2.0, "{score}", PATIENT, AT, ["Observation/r-1001", "Observation/bp-2001"],
            components=news2_parts, method="NEWS2 (Royal College of Physicians, 2017)",
        ),
        "Observation-derived-af_episode.json": derived_observation(
            "af_episode", 118.4, "/min", PATIENT, AT, ["Observation/ecg-7"],
            end=AT + timedelta(minutes=3),
        ),
    }  # fmt: skip


def dump(resource: JsonDict) -> str:
    """The on-disk form: 2-space JSON, keys in mapping order, trailing newline."""
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def write_examples(directory: Path = EXAMPLES_DIR, names: Sequence[str] | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, resource in build_examples().items():
        if names is None or name in names:
            (directory / name).write_text(dump(resource), encoding="utf-8")


if __name__ == "__main__":
    write_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES_DIR)
