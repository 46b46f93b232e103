"""Spot ECG strips (a kiosk's 30 s recording) sent as one chunk are classified as a whole."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from patient_hub.processing.worker import SignalProcessor
from telemed_signal.af import classify_strip
from telemed_signal.findings import Severity
from tests import physionet

# The shipped strips keep the development set's order and its first four N and A strips.
STRIPS = physionet.subset("challenge2017")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LABELS = {"N": "normal", "A": "af"}


def strips(label: str, n: int) -> list[np.ndarray]:
    """The first ``n`` development strips of a class, in mV."""
    import wfdb

    with open(STRIPS / "REFERENCE.csv", newline="") as fh:
        names = [name for name, lab in csv.reader(fh) if lab == label][:n]
    return [wfdb.rdrecord(str(STRIPS / name)).p_signal[:, 0] for name in names]


def strip_chunk(mv: np.ndarray, seq: int = 1) -> dict[str, Any]:
    return {
        "seq": seq, "patient_id": "p1", "device_id": "kiosk-ecg", "kind": "ecg", "lead": "I",
        "unit": "uV", "factor": 1.0, "fs_hz": 300.0, "start": T0.isoformat(),
        "samples": np.round(mv * 1000).astype(int).tolist(), "flags": ["strip"],
    }  # fmt: skip


@pytest.mark.parametrize("label", ["N", "A"])
def test_a_strip_becomes_one_finding_with_its_rhythm(label: str) -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    right = 0
    for i, mv in enumerate(strips(label, 4)):
        derived, found = processor.samples({"chunks": [strip_chunk(mv, seq=i + 1)]})
        (finding,) = found
        assert derived == [] and finding.kind == "ecg_strip" and finding.start == T0
        quantised = np.round(mv * 1000) / 1000
        assert finding.values["rhythm"] == classify_strip(quantised, 300.0)
        assert abs(finding.values["duration_s"] - mv.size / 300.0) < 0.1
        assert finding.explanation.startswith(f"{mv.size / 300:.0f} s ECG strip")
        right += finding.values["rhythm"] == LABELS[label]
    assert right >= 3  # the classifier is right on most (F1 ~0.9 for N and A)
    # A strip is judged as a whole: it starts no continuous stream.
    assert processor.ecg.streams == {} and processor.bedside.streams == {}


def test_an_af_strip_is_flagged_for_attention_and_a_normal_one_is_information() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    for label, severity in (("A", Severity.MEDIUM), ("N", Severity.INFO)):
        found = [
            f
            for mv in strips(label, 4)
            for f in processor.samples({"chunks": [strip_chunk(mv)]})[1]
            if f.values["rhythm"] == LABELS[label]
        ]
        assert found and all(f.severity == severity for f in found)
