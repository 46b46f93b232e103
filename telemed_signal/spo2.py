"""SpO2 analysis: desaturation events and ODI, and sustained low SpO2 (sparse spot checks are in
``spo2_spot.py``).

Dropouts are gaps, never desaturations. ``spo2_clean`` turns NaN, values <= 0 or > 100 %
(oximeters send 0 or 127 when they have no reading), values below ``min_valid_pct`` (50 % by
default: below that a reading is almost always artefact) and samples flagged invalid into NaN,
and every detector here skips NaN samples; a gap longer than ``max_gap_s`` breaks an event.

References:
    Berry RB et al. The AASM Manual for the Scoring of Sleep and Associated Events, v2.6.
    American Academy of Sleep Medicine, 2020 (desaturation >= 3 % from the pre-event baseline,
    events >= 10 s; ODI = desaturations per hour of valid recording).
    Levy J, Alvarez D, Del Campo F, Behar JA. Digital oximetry biomarkers for assessing
    respiratory function: standards of measurement, physiological interpretation, and
    clinical use. npj Digit Med 2021;4:1 (pobm; ODI and time below 90 % as biomarkers).
    Clinical-workflow reference, section 2.3: persistence delays and confirmatory
    re-measurement for spot checks (Philips "reassurance" re-check).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from telemed_core.explanations import explained
from telemed_signal.findings import Finding, Severity

ODI_METHOD = "ODI: drop >= {drop:g} % below a {window:g} s running median baseline for >= {dur:g} s"
LOW_METHOD = "Sustained SpO2 < {thr:g} % for >= {dur:g} s"


#: Chunks up to this many samples take the pure-Python path of ``_Stream.samples``.
_SMALL = 8


def spo2_clean(
    spo2_pct: npt.ArrayLike,
    invalid: npt.ArrayLike | None = None,
    *,
    min_valid_pct: float = 50.0,
) -> npt.NDArray[np.float64]:
    """Return SpO2 in % as float64 with every dropout set to NaN (see the module docstring).

    ``invalid`` is an optional boolean array of the same length (the device's invalid flags).
    """
    x = np.asarray(spo2_pct, dtype=np.float64).copy()
    bad = ~np.isfinite(x) | (x <= 0.0) | (x > 100.0) | (x < min_valid_pct)
    if invalid is not None:
        flags = np.asarray(invalid, dtype=bool)
        if flags.shape != x.shape:
            raise ValueError(f"invalid has shape {flags.shape}, spo2_pct has {x.shape}")
        bad |= flags
    x[bad] = np.nan
    return x


def _epoch_s(at: datetime) -> float:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return at.timestamp()


def _utc(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, tz=UTC)


class _Stream:
    """Time bookkeeping shared by the streaming detectors (fixed ``fs_hz``, ordered chunks)."""

    def __init__(self, fs_hz: float, min_valid_pct: float) -> None:
        if not (math.isfinite(fs_hz) and fs_hz > 0):
            raise ValueError(f"fs_hz must be positive, got {fs_hz!r}")
        self.fs_hz = fs_hz
        self.dt_s = 1.0 / fs_hz
        self.min_valid_pct = min_valid_pct
        self.next_t: float | None = None
        self.last_valid_t: float | None = None
        self.valid_s = 0.0

    def samples(
        self, spo2_pct: npt.ArrayLike, start: datetime, invalid: npt.ArrayLike | None
    ) -> list[tuple[float, float]]:
        """Valid (t_s, spo2_pct) pairs of one chunk; sample i is at start + i / fs_hz."""
        t0 = _epoch_s(start)
        if self.next_t is not None and t0 < self.next_t - 1e-6:
            raise ValueError("chunks must arrive in time order without overlap")
        if invalid is None and isinstance(spo2_pct, np.ndarray) and spo2_pct.size <= _SMALL:
            return self._few(spo2_pct, t0)
        x = spo2_clean(spo2_pct, invalid, min_valid_pct=self.min_valid_pct)
        self.next_t = t0 + len(x) * self.dt_s
        idx = np.flatnonzero(~np.isnan(x))
        self.valid_s += len(idx) * self.dt_s
        return [(t0 + i * self.dt_s, float(x[i])) for i in idx]

    def _few(self, spo2_pct: npt.NDArray[Any], t0: float) -> list[tuple[float, float]]:
        """``samples`` of a chunk of a few samples (a live reading a second): the same
        validity rule as ``spo2_clean``, without numpy's per-call cost, which dominated the
        signal worker's CPU for one-reading batches (5,000 patients at 1 Hz)."""
        if spo2_pct.ndim != 1:
            raise ValueError(f"spo2_pct must be one-dimensional, got shape {spo2_pct.shape}")
        lowest = self.min_valid_pct
        out = [
            (t0 + i * self.dt_s, v)
            for i, v in enumerate(float(x) for x in spo2_pct.tolist())
            if math.isfinite(v) and 0.0 < v <= 100.0 and v >= lowest
        ]
        self.next_t = t0 + spo2_pct.size * self.dt_s
        self.valid_s += len(out) * self.dt_s
        return out

    def gap_before(self, t: float) -> float:
        """Seconds without a valid sample before ``t`` (0 for adjacent samples)."""
        return 0.0 if self.last_valid_t is None else t - self.last_valid_t - self.dt_s

    def state(self) -> dict[str, Any]:
        return {"next_t": self.next_t, "last_valid_t": self.last_valid_t, "valid_s": self.valid_s}

    def restore(self, state: dict[str, Any]) -> None:
        self.next_t, self.last_valid_t = state["next_t"], state["last_valid_t"]
        self.valid_s = float(state["valid_s"])


@dataclass(frozen=True, slots=True)
class DesaturationEvent:
    """One desaturation. ``end`` is the first sample back above threshold + recovery margin.

    ``truncated`` is True when a dropout longer than ``max_gap_s`` cut the event short, so the
    recovery was not seen.
    """

    start: datetime
    end: datetime
    baseline_pct: float
    nadir_pct: float
    nadir_at: datetime
    truncated: bool

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def depth_pct(self) -> float:
        return self.baseline_pct - self.nadir_pct

    def to_finding(self, patient_id: str, method: str = "ODI desaturation") -> Finding:
        """A single desaturation as an informational Finding (ODI is what carries weight)."""
        return Finding(
            patient_id=patient_id,
            kind="spo2_desaturation",
            start=self.start,
            end=self.end,
            severity=Severity.INFO,
            method=method,
            values={
                "baseline_spo2_pct": self.baseline_pct,
                "nadir_spo2_pct": self.nadir_pct,
                "depth_pct": round(self.depth_pct, 1),
                "duration_s": self.duration_s,
            },
            window_s=self.duration_s,
            **explained(
                "spo2_desaturation_lost" if self.truncated else "spo2_desaturation",
                baseline_pct=round(self.baseline_pct, 1),
                nadir_pct=round(self.nadir_pct),
                duration_s=round(self.duration_s),
            ),
        )


@dataclass(frozen=True, slots=True)
class DesaturationParams:
    """Thresholds of ``DesaturationDetector`` (percentage points of SpO2, seconds)."""

    drop_pct: float = 3.0
    min_duration_s: float = 10.0
    baseline_window_s: float = 120.0
    min_baseline_s: float = 60.0
    max_event_s: float = 120.0
    recovery_pct: float = 1.0
    max_gap_s: float = 10.0
    min_valid_pct: float = 50.0


class DesaturationDetector:
    """Streaming ODI-style desaturation detector for one continuous oximeter stream.

    An event starts at the first valid sample <= baseline - ``drop_pct`` and ends at the first
    valid sample > baseline - ``drop_pct`` + ``recovery_pct``; it counts when it lasted at least
    ``min_duration_s``. The baseline is the median of the valid, non-event samples of the last
    ``baseline_window_s``, frozen during an event; nothing is detected until ``min_baseline_s``
    of such samples exist. A fall lasting longer than ``max_event_s`` is a level shift, not an
    intermittent desaturation: it is dropped and the baseline re-learned (prolonged hypoxaemia
    is ``SustainedLowDetector``'s job). See the module references.
    """

    def __init__(self, fs_hz: float = 1.0, params: DesaturationParams | None = None) -> None:
        self.params = params or DesaturationParams()
        self._stream = _Stream(fs_hz, self.params.min_valid_pct)
        self._baseline: deque[tuple[float, float]] = deque()
        #: The baseline's values kept sorted (its median per sample without sorting each time).
        self._sorted: list[float] = []
        self._event: list[float] | None = None  # [start_t, baseline, nadir, nadir_t]
        self.n_events = 0

    @property
    def method(self) -> str:
        p = self.params
        return ODI_METHOD.format(drop=p.drop_pct, window=p.baseline_window_s, dur=p.min_duration_s)

    @property
    def valid_s(self) -> float:
        """Seconds of valid signal seen so far (the ODI denominator)."""
        return self._stream.valid_s

    @property
    def odi_per_h(self) -> float | None:
        """Counted desaturations per hour of valid signal; None before any valid signal."""
        hours = self._stream.valid_s / 3600.0
        return self.n_events / hours if hours > 0 else None

    def baseline_pct(self) -> float | None:
        """The current baseline, or None while it is still being learned."""
        if len(self._baseline) * self._stream.dt_s < self.params.min_baseline_s:
            return None
        values, n = self._sorted, len(self._sorted)
        half = n // 2
        return values[half] if n % 2 else (values[half - 1] + values[half]) / 2

    def update(
        self, spo2_pct: npt.ArrayLike, start: datetime, invalid: npt.ArrayLike | None = None
    ) -> list[DesaturationEvent]:
        """Feed one chunk (sample i at ``start`` + i / fs_hz); return the events it completed."""
        events = (self._step(t, v) for t, v in self._stream.samples(spo2_pct, start, invalid))
        return [e for e in events if e is not None]

    def _step(self, t: float, v: float) -> DesaturationEvent | None:
        p, done = self.params, None
        gap = self._stream.gap_before(t)
        if gap > p.max_gap_s:
            done = self._close(self._stream.last_valid_t, truncated=True)
            if gap > p.baseline_window_s:
                self._clear_baseline()
        self._stream.last_valid_t = t
        while self._baseline and self._baseline[0][0] < t - p.baseline_window_s:
            _, old = self._baseline.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        if self._event is None:
            base = self.baseline_pct()
            if base is not None and v <= base - p.drop_pct:
                self._event = [t, base, v, t]
            else:
                self._keep(t, v)
            return done
        start_t, base, nadir, _ = self._event
        if v > base - p.drop_pct + p.recovery_pct:
            self._keep(t, v)
            return self._close(t, truncated=False)
        if v < nadir:
            self._event[2:] = [v, t]
        if t - start_t > p.max_event_s:
            self._event = None
            self._clear_baseline()
        return done

    def _keep(self, t: float, v: float) -> None:
        self._baseline.append((t, v))
        bisect.insort(self._sorted, v)

    def _clear_baseline(self) -> None:
        self._baseline.clear()
        self._sorted.clear()

    def _close(self, end_t: float | None, *, truncated: bool) -> DesaturationEvent | None:
        event, self._event = self._event, None
        if event is None or end_t is None:
            return None
        start_t, base, nadir, nadir_t = event
        if truncated:
            end_t += self._stream.dt_s
        if end_t - start_t < self.params.min_duration_s:
            return None
        self.n_events += 1
        return DesaturationEvent(_utc(start_t), _utc(end_t), base, nadir, _utc(nadir_t), truncated)

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint of parameters and state."""
        return {
            "fs_hz": self._stream.fs_hz,
            "params": asdict(self.params),
            "stream": self._stream.state(),
            "baseline": [list(p) for p in self._baseline],
            "event": self._event,
            "n_events": self.n_events,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DesaturationDetector:
        """Rebuild a detector from ``to_state()``."""
        detector = cls(state["fs_hz"], DesaturationParams(**state["params"]))
        detector._stream.restore(state["stream"])
        for t, v in state["baseline"]:
            detector._keep(float(t), float(v))
        detector._event = None if state["event"] is None else [float(x) for x in state["event"]]
        detector.n_events = int(state["n_events"])
        return detector


@dataclass(frozen=True, slots=True)
class OdiResult:
    """Desaturation events of a recording and the oxygen desaturation index (events/h)."""

    events: tuple[DesaturationEvent, ...]
    valid_s: float
    odi_per_h: float | None


def spo2_odi(
    spo2_pct: npt.ArrayLike,
    fs_hz: float,
    start: datetime,
    invalid: npt.ArrayLike | None = None,
    params: DesaturationParams | None = None,
) -> OdiResult:
    """Batch ODI of one recording (sample i at ``start`` + i / fs_hz); see DesaturationDetector."""
    detector = DesaturationDetector(fs_hz, params)
    events = detector.update(spo2_pct, start, invalid)
    return OdiResult(tuple(events), detector.valid_s, detector.odi_per_h)


@dataclass(frozen=True, slots=True)
class SustainedLowEpisode:
    """SpO2 below ``threshold_pct`` for at least the minimum duration.

    Reported twice by ``SustainedLowDetector``: at onset (``end`` None, ongoing) and when it ends.
    """

    start: datetime
    end: datetime | None
    threshold_pct: float
    nadir_pct: float
    duration_s: float

    def to_finding(
        self, patient_id: str, method: str = "", *, critical_pct: float = 85.0
    ) -> Finding:
        """Medium severity; high when the nadir is below ``critical_pct``."""
        severity = Severity.HIGH if self.nadir_pct < critical_pct else Severity.MEDIUM
        return Finding(
            patient_id=patient_id,
            kind="spo2_sustained_low",
            start=self.start,
            end=self.end,
            severity=severity,
            method=method or f"Sustained SpO2 < {self.threshold_pct:g} %",
            values={"nadir_spo2_pct": self.nadir_pct, "threshold_spo2_pct": self.threshold_pct},
            window_s=self.duration_s,
            **explained(
                "spo2_low_ongoing" if self.end is None else "spo2_low",
                threshold_pct=self.threshold_pct,
                duration_s=round(self.duration_s),
                nadir_pct=round(self.nadir_pct),
            ),
        )


class SustainedLowDetector:
    """Streaming detector of SpO2 < ``threshold_pct`` lasting >= ``min_duration_s``.

    The run's duration is time-based (first low sample to the end of the last low sample); a
    dropout of at most ``max_gap_s`` inside a run is bridged, a longer one ends it. Time below
    90 % (T90) is a standard oximetry biomarker (Levy et al. 2021, module references).
    """

    def __init__(
        self,
        fs_hz: float = 1.0,
        *,
        threshold_pct: float = 90.0,
        min_duration_s: float = 60.0,
        max_gap_s: float = 10.0,
        min_valid_pct: float = 50.0,
    ) -> None:
        self.threshold_pct = threshold_pct
        self.min_duration_s = min_duration_s
        self.max_gap_s = max_gap_s
        self._stream = _Stream(fs_hz, min_valid_pct)
        self._run: list[float] | None = None  # [start_t, last_low_t, nadir, onset_reported]

    @property
    def method(self) -> str:
        return LOW_METHOD.format(thr=self.threshold_pct, dur=self.min_duration_s)

    def update(
        self, spo2_pct: npt.ArrayLike, start: datetime, invalid: npt.ArrayLike | None = None
    ) -> list[SustainedLowEpisode]:
        """Feed one chunk; return onsets (``end`` None) and ends of episodes, in time order."""
        out: list[SustainedLowEpisode] = []
        for t, v in self._stream.samples(spo2_pct, start, invalid):
            if self._run is not None and self._stream.gap_before(t) > self.max_gap_s:
                out += self._end(self._run[1] + self._stream.dt_s)
            self._stream.last_valid_t = t
            if v >= self.threshold_pct:
                out += self._end(t)
                continue
            run = self._run = self._run or [t, t, v, 0.0]
            run[1], run[2] = t, min(run[2], v)
            duration_s = t + self._stream.dt_s - run[0]
            if not run[3] and duration_s >= self.min_duration_s:
                run[3] = 1.0
                out.append(self._episode(run, None, duration_s))
        return out

    def _end(self, end_t: float) -> list[SustainedLowEpisode]:
        run, self._run = self._run, None
        if run is None or not run[3]:
            return []
        return [self._episode(run, _utc(end_t), end_t - run[0])]

    def _episode(
        self, run: list[float], end: datetime | None, duration_s: float
    ) -> SustainedLowEpisode:
        return SustainedLowEpisode(_utc(run[0]), end, self.threshold_pct, run[2], duration_s)

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint of parameters and state."""
        params = {
            "fs_hz": self._stream.fs_hz,
            "threshold_pct": self.threshold_pct,
            "min_duration_s": self.min_duration_s,
            "max_gap_s": self.max_gap_s,
            "min_valid_pct": self._stream.min_valid_pct,
        }
        return {"params": params, "stream": self._stream.state(), "run": self._run}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SustainedLowDetector:
        """Rebuild a detector from ``to_state()``."""
        detector = cls(**state["params"])
        detector._stream.restore(state["stream"])
        detector._run = None if state["run"] is None else [float(x) for x in state["run"]]
        return detector
