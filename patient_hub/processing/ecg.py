"""Per-lead ECG streams: R peaks → beat times → derived heart rate (and rhythm findings).

A stream is one (patient, device, lead). Chunks must follow each other in time; a chunk that
starts more than ``MAX_JUMP_S`` away from where the previous one ended (a gap, a strap whose
clock re-anchored, a replay) restarts the stream: beats are never stitched across a hole.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from patient_hub.signal.ecg import RPeakDetector

MAX_JUMP_S = 0.5
HR_BEATS = 8  # heart rate over the last 8 RR intervals, as bedside monitors average


@dataclass
class EcgStream:
    """Streaming state of one lead."""

    fs_hz: float
    t0: datetime
    detector: RPeakDetector
    n_samples: int = 0
    beats_s: deque[float] = field(default_factory=lambda: deque(maxlen=64))

    @classmethod
    def start(cls, fs_hz: float, t0: datetime) -> EcgStream:
        return cls(fs_hz=fs_hz, t0=t0, detector=RPeakDetector(fs_hz))

    def expected_next(self) -> datetime:
        return self.t0 + timedelta(seconds=self.n_samples / self.fs_hz)

    def take(self, samples: np.ndarray) -> np.ndarray:
        """Feed samples; return the times (s since t0) of the beats found in them."""
        peaks = self.detector.process(samples.astype(np.float64))
        self.n_samples += samples.size
        times = peaks / self.fs_hz
        self.beats_s.extend(times.tolist())
        return times

    def heart_rate_bpm(self) -> float | None:
        if len(self.beats_s) < 3:
            return None
        recent = np.diff(np.asarray(self.beats_s)[-(HR_BEATS + 1) :])
        return float(60.0 / recent.mean())


class EcgProcessor:
    """All ECG streams of the hub worker; ``take(chunk)`` returns derived readings (wire dicts)."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str, str], EcgStream] = {}

    def take(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        key = (chunk["patient_id"], chunk["device_id"], chunk.get("lead", "I"))
        start = datetime.fromisoformat(chunk["start"])
        fs = float(chunk["fs_hz"])
        stream = self.streams.get(key)
        if stream is not None and start < stream.expected_next() - timedelta(seconds=MAX_JUMP_S):
            return []  # a replay of samples already taken
        if (
            stream is None
            or stream.fs_hz != fs
            or abs((start - stream.expected_next()).total_seconds()) > MAX_JUMP_S
        ):
            stream = self.streams[key] = EcgStream.start(fs, start)
        stream.take(np.asarray(chunk["samples"], dtype=np.float64))
        hr = stream.heart_rate_bpm()
        if hr is None or not 20 <= hr <= 300:
            return []
        end = stream.expected_next()
        return [
            {
                "patient_id": chunk["patient_id"],
                "device_id": f"{chunk['device_id']}:ecg",
                "kind": "heart_rate",
                "value": round(hr, 1),
                "unit": "/min",
                "measured_at": end.isoformat(),
                "flags": ["derived"],
                "method": f"R peaks (patient_hub.signal.ecg), mean of last {HR_BEATS} RR",
            }
        ]
