"""Streaming AF findings and episode summaries over the per-beat labels of the AF classifier.

:class:`AfDetector` turns the labels of
:class:`~telemed_signal.af_classifier.AfBeatClassifier` into
onset/offset Findings; :func:`af_episodes` and :func:`af_burden` summarise labelled beat times.
All are re-exported by :mod:`telemed_signal.af`; the method and its references are in
:mod:`telemed_signal.af_classifier`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from telemed_core.explanations import explained
from telemed_signal.af_classifier import AfBeatClassifier, AfParams, BoolArray, FloatArray
from telemed_signal.beats import EPOCH, check_beat_times, check_t0, utc_at
from telemed_signal.findings import Finding, Severity

__all__ = ["AfDetector", "af_burden", "af_episodes"]


def af_episodes(
    beat_times_s: npt.ArrayLike, is_af: npt.ArrayLike, min_duration_s: float = 0.0
) -> list[tuple[float, float]]:
    """Runs of AF beats as ``(onset_s, offset_s)``: the times of their first and last beat.

    Runs shorter than ``min_duration_s`` are left out.
    """
    t = check_beat_times(beat_times_s)
    af = np.asarray(is_af, dtype=bool)
    if af.shape != t.shape:
        raise ValueError(f"is_af has shape {af.shape}, beat_times_s has {t.shape}")
    edges = np.flatnonzero(np.diff(np.concatenate(([0], af.astype(np.int8), [0]))))
    runs = [
        (float(t[lo]), float(t[hi - 1])) for lo, hi in zip(edges[::2], edges[1::2], strict=True)
    ]
    return [(on, off) for on, off in runs if off - on >= min_duration_s]


def af_burden(beat_times_s: npt.ArrayLike, is_af: npt.ArrayLike) -> float:
    """Share of the recorded time (first to last beat) spent in AF, by RR interval (0-1)."""
    t = check_beat_times(beat_times_s)
    af = np.asarray(is_af, dtype=bool)
    if af.shape != t.shape:
        raise ValueError(f"is_af has shape {af.shape}, beat_times_s has {t.shape}")
    if t.size < 2:
        return 0.0
    rr = np.diff(t)
    return float(rr[af[1:]].sum() / rr.sum())


@dataclass(slots=True)
class _Run:
    """The current run of AF beats (times on the beat clock)."""

    start_s: float
    last_s: float
    n_beats: int
    reported: bool = False


class AfDetector:
    """Streaming AF detector for one patient: beat times in, onset/offset Findings out.

    ``process(beat_times_s)`` takes the next beat times (s on the clock whose 0 is ``t0``) and
    returns Findings of kind ``"atrial_fibrillation"``: an onset (``end`` None) once a run of
    AF beats has lasted ``min_episode_s``, and the same episode with its ``end`` when it stops.
    Start and end are the first and last AF beat. Labels come ``lag_beats + 1`` beats late
    (see the module docstring). ``flush()`` ends the stream. Checkpoint with ``to_state``.
    """

    kind = "atrial_fibrillation"

    def __init__(
        self, patient_id: str, t0: datetime = EPOCH, params: AfParams | None = None
    ) -> None:
        self.patient_id = patient_id
        self.t0 = check_t0(t0)
        self.classifier = AfBeatClassifier(params)
        self._run: _Run | None = None

    @property
    def params(self) -> AfParams:
        return self.classifier.params

    def process(self, beat_times_s: npt.ArrayLike) -> list[Finding]:
        """Consume the next beat times (s); return onset/offset Findings."""
        return self._track(*self.classifier.push(beat_times_s))

    def flush(self) -> list[Finding]:
        """End the stream: label the pending beats and close an open episode."""
        out = self._track(*self.classifier.finish())
        return out + self._close()

    def _track(self, times: FloatArray, labels: BoolArray) -> list[Finding]:
        out = self._close() if labels.size and not labels[0] else []
        edges = np.flatnonzero(np.diff(np.concatenate(([0], labels.astype(np.int8), [0]))))
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            run = self._run or _Run(float(times[lo]), float(times[lo]), 0)
            run.last_s, run.n_beats = float(times[hi - 1]), run.n_beats + int(hi - lo)
            self._run = run
            if not run.reported and run.last_s - run.start_s >= self.params.min_episode_s:
                run.reported = True
                out.append(self._finding(run, ended=False))
            if hi < labels.size:
                out += self._close()
        return out

    def _close(self) -> list[Finding]:
        run, self._run = self._run, None
        return [self._finding(run, ended=True)] if run is not None and run.reported else []

    def _finding(self, run: _Run, ended: bool) -> Finding:
        duration = run.last_s - run.start_s
        hr = 60.0 * (run.n_beats - 1) / duration if duration > 0 else float("nan")
        return Finding(
            patient_id=self.patient_id,
            kind=self.kind,
            start=utc_at(self.t0, run.start_s),
            end=utc_at(self.t0, run.last_s) if ended else None,
            severity=Severity.MEDIUM,
            method=self.params.method,
            values={
                "hr_bpm": round(hr, 1),
                "duration_s": round(duration, 1),
                "n_beats": run.n_beats,
            },
            window_s=duration,
            **explained(
                "af" if ended else "af_ongoing", duration_s=round(duration), hr_bpm=round(hr)
            ),
        )

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint."""
        return {
            "v": 1,
            "patient_id": self.patient_id,
            "t0": self.t0.isoformat(),
            "classifier": self.classifier.to_state(),
            "run": None if self._run is None else asdict(self._run),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AfDetector:
        """Rebuild a detector from ``to_state()``; raises ValueError on an unknown version."""
        if state.get("v") != 1:
            raise ValueError(f"unsupported AfDetector state version {state.get('v')!r}")
        det = cls(state["patient_id"], datetime.fromisoformat(state["t0"]))
        det.classifier = AfBeatClassifier.from_state(state["classifier"])
        det._run = None if state["run"] is None else _Run(**state["run"])
        return det
