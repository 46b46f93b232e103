"""Per-lead ECG streams: R peaks → beat times → derived heart rate and rhythm findings
(pauses, brady/tachycardia, atrial fibrillation), gated by the signal-quality index.

A stream is one (patient, device, lead), analysed a second at a time (``ANALYSE_EVERY_S``)
whatever the size of its chunks: a finding or a derived heart rate comes at most a second later
than the chunk that completes it, and a Polar H10's 73-sample notifications cost no more than
whole seconds. Chunks must follow each other in time; a chunk that
starts more than ``MAX_JUMP_S`` away from where the previous one ended (a gap, a strap whose
clock re-anchored, a replay) restarts the stream: beats are never stitched across a hole.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from telemed_signal.af import AfDetector
from telemed_signal.beats import RateLimits, RhythmMonitor
from telemed_signal.ecg import RPeakDetector
from telemed_signal.ecg_quality import EcgQualityMonitor
from telemed_signal.findings import Finding

MAX_JUMP_S = 0.5
HR_BEATS = 8  # heart rate over the last 8 RR intervals, as bedside monitors average
MIN_SQI = 0.5  # below this a window is unusable (flat, lead-off, clipped, noise)
#: One lead alone reports pauses, never asystole: that takes every lead and the pulse wave
#: (patient_hub.processing.bedside), or a lead-off would call a cardiac arrest.
PER_LEAD_LIMITS = RateLimits(asystole_s=math.inf)
SCORE_EVERY_S = 30.0
ANALYSE_EVERY_S = 1.0
#: Beats go to the AF detector in batches of this much signal: its labels are final about 80
#: beats (a minute) after the beat anyway, and a call costs nearly the same for one beat as for
#: twelve (bench_af: 380 against 470 us), so batching saves most of its share of the worker.
AF_EVERY_S = 10.0


def chunk_values(chunk: dict[str, Any]) -> np.ndarray:
    """A wire chunk's samples as values in its unit (``factor`` x the integers)."""
    return np.asarray(chunk["samples"], dtype=np.float64) * float(chunk.get("factor", 1.0))


@dataclass
class SampleBuffer:
    """Chunks of samples gathered until they are taken together."""

    parts: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(self, samples: np.ndarray) -> None:
        self.parts.append(samples)
        self.size += samples.size

    def take(self) -> np.ndarray:
        """Everything gathered, in order (maybe nothing); the buffer is empty after."""
        out = np.concatenate(self.parts) if self.parts else np.zeros(0)
        self.parts, self.size = [], 0
        return out


@dataclass
class EcgStream:
    """Streaming state of one lead; times are seconds since ``t0``."""

    fs_hz: float
    t0: datetime
    detector: RPeakDetector
    quality: EcgQualityMonitor
    rhythm: RhythmMonitor
    af: AfDetector
    n_samples: int = 0
    beats_s: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    bad_windows: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=256))
    # Samples (uV) not yet given to the quality monitor. Its scores only gate findings, so
    # they are computed when a finding needs them or once ``SCORE_EVERY_S`` have gathered:
    # the same scores as chunk by chunk (windows never depend on chunking), at a fraction
    # of the calls (a Polar H10 sends 73 samples a notification).
    unscored: SampleBuffer = field(default_factory=SampleBuffer)
    # Samples (uV) received but not yet analysed: a stream is analysed a second at a time,
    # whatever its chunks, so that 73-sample notifications cost what whole seconds do.
    held: SampleBuffer = field(default_factory=SampleBuffer)
    # Beats (s) not yet given to the AF detector, and the signal time (s) it was last fed at.
    af_pending: list[float] = field(default_factory=list)
    af_fed_s: float = 0.0

    @classmethod
    def start(cls, patient_id: str, fs_hz: float, t0: datetime) -> EcgStream:
        return cls(
            fs_hz=fs_hz,
            t0=t0,
            detector=RPeakDetector(fs_hz),
            quality=EcgQualityMonitor(fs_hz),
            rhythm=RhythmMonitor(patient_id, t0, PER_LEAD_LIMITS),
            af=AfDetector(patient_id, t0),
        )

    def rhythm_findings(self, beats_s: np.ndarray, samples_uv: np.ndarray) -> list[Finding]:
        """Rhythm findings of these beats, minus those that rest on unusable signal."""
        self.unscored.add(samples_uv)
        now_s = self.n_samples / self.fs_hz
        found: list[Finding] = []
        # Without a new beat the monitors only matter once a pause may have begun.
        if beats_s.size or (self.beats_s and now_s - self.beats_s[-1] >= PER_LEAD_LIMITS.pause_s):
            found += self.rhythm.process(beats_s, now_s=now_s)
        self.af_pending += beats_s.tolist()
        if now_s - self.af_fed_s >= AF_EVERY_S:
            found += self.feed_af(now_s)
        if found or self.unscored.size >= SCORE_EVERY_S * self.fs_hz:
            self._score()
        return [f for f in found if self._usable(f)]

    def feed_af(self, now_s: float) -> list[Finding]:
        """Give the AF detector the beats gathered so far; its findings."""
        beats, self.af_pending, self.af_fed_s = self.af_pending, [], now_s
        return self.af.process(np.asarray(beats)) if beats else []

    def drain_af(self) -> list[Finding]:
        """Before the stream is replaced: AF findings of the beats still gathered."""
        found = self.feed_af(self.n_samples / self.fs_hz)
        if found:
            self._score()
        return [f for f in found if self._usable(f)]

    def _score(self) -> None:
        """Score the windows the unscored samples complete; note the unusable ones."""
        scored = self.quality.process(self.unscored.take() / 1000.0)
        for start, sqi in zip(scored.start_s, scored.sqi, strict=True):
            if sqi < MIN_SQI:
                self.bad_windows.append((float(start), float(start) + scored.window_s))

    def _usable(self, finding: Finding) -> bool:
        start = (finding.start - self.t0).total_seconds()
        end = (
            (finding.end - self.t0).total_seconds() if finding.end else self.n_samples / self.fs_hz
        )
        return not any(s < end and e > start for s, e in self.bad_windows)

    def expected_next(self) -> datetime:
        """Where the next chunk should start: after the samples analysed and held."""
        return self.t0 + timedelta(seconds=(self.n_samples + self.held.size) / self.fs_hz)

    def hold(self, samples: np.ndarray) -> np.ndarray | None:
        """Hold samples until ``ANALYSE_EVERY_S`` have gathered; then return them all."""
        self.held.add(samples)
        return self.held.take() if self.held.size >= ANALYSE_EVERY_S * self.fs_hz else None

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
        #: (patient, device) -> where its newest ECG chunk ended
        self.received_until: dict[tuple[str, str], datetime] = {}

    def take(self, chunk: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Finding]]:
        """Feed one chunk (wire dict); return derived readings and rhythm findings."""
        key = (chunk["patient_id"], chunk["device_id"], chunk.get("lead", "I"))
        start = datetime.fromisoformat(chunk["start"])
        fs = float(chunk["fs_hz"])
        stream = self.streams.get(key)
        if stream is not None and start < stream.expected_next() - timedelta(seconds=MAX_JUMP_S):
            return [], []  # a replay of samples already taken
        derived: list[dict[str, Any]] = []
        findings: list[Finding] = []
        if (
            stream is None
            or stream.fs_hz != fs
            or abs((start - stream.expected_next()).total_seconds()) > MAX_JUMP_S
        ):
            if stream is not None:  # what the old stream still holds is analysed first
                derived, findings = self._analyse(chunk, stream, stream.held.take())
                findings += stream.drain_af()
            stream = self.streams[key] = EcgStream.start(chunk["patient_id"], fs, start)
        ready = stream.hold(chunk_values(chunk))
        self.received_until[key[:2]] = stream.expected_next()
        if ready is None:
            return derived, findings
        more, found = self._analyse(chunk, stream, ready)
        return derived + more, findings + found

    def _analyse(
        self, chunk: dict[str, Any], stream: EcgStream, samples: np.ndarray
    ) -> tuple[list[dict[str, Any]], list[Finding]]:
        """Analyse a stream's next samples; the derived heart rate and rhythm findings."""
        if not samples.size:
            return [], []
        beats = stream.take(samples)
        findings = stream.rhythm_findings(beats, samples)
        hr = stream.heart_rate_bpm()
        if hr is None or not 20 <= hr <= 300:
            return [], findings
        end = stream.t0 + timedelta(seconds=stream.n_samples / stream.fs_hz)
        return [
            {
                "patient_id": chunk["patient_id"],
                "device_id": f"{chunk['device_id']}:ecg",
                "kind": "heart_rate",
                "value": round(hr, 1),
                "unit": "/min",
                "measured_at": end.isoformat(),
                "flags": ["derived"],
                "method": f"R peaks (telemed_signal.ecg), mean of last {HR_BEATS} RR",
            }
        ], findings
