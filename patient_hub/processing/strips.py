"""Spot ECG recordings (a kiosk's or a handheld ECG's strip, sent as one chunk flagged
``strip``): classified as a whole by :func:`telemed_signal.af.classify_strip` into normal
rhythm, atrial fibrillation, another rhythm, or too noisy to tell, and reported as a Finding
of kind ``ecg_strip`` whatever the class, so the nurse at the kiosk sees the result."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from patient_hub.processing.ecg import chunk_values
from telemed_core.explanations import explained
from telemed_signal.af import classify_strip
from telemed_signal.findings import Finding, Severity

KIND = "ecg_strip"
METHOD = (
    "Short-strip rhythm classifier (telemed_signal.strip: RR irregularity, P-wave, QRS and "
    "quality features, softmax regression on the PhysioNet/CinC 2017 classes)"
)
#: Suggested severity and wording per class.
RESULT = {
    "af": (Severity.MEDIUM, "atrial fibrillation"),
    "other": (Severity.LOW, "a rhythm other than normal sinus rhythm or AF"),
    "noisy": (Severity.LOW, "too noisy to classify: repeat the recording"),
    "normal": (Severity.INFO, "normal sinus rhythm"),
}


def strip_finding(chunk: dict[str, Any]) -> Finding:
    """The classification of one strip chunk (wire dict, ECG in integer uV x factor)."""
    fs = float(chunk["fs_hz"])
    uv = chunk_values(chunk)
    start = datetime.fromisoformat(chunk["start"])
    seconds = uv.size / fs
    rhythm = classify_strip(uv / 1000.0, fs)
    severity, _ = RESULT[rhythm]
    lead = chunk.get("lead", "I")
    return Finding(
        patient_id=chunk["patient_id"],
        kind=KIND,
        start=start,
        end=start + timedelta(seconds=seconds),
        severity=severity,
        method=METHOD,
        values={"rhythm": rhythm, "duration_s": round(seconds, 1), "lead": lead},
        window_s=seconds,
        **explained(f"strip_{rhythm}", seconds=round(seconds), lead=lead),
    )
