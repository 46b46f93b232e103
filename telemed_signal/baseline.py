"""Per-patient robust baselines: median and MAD over a sliding window of days.

One ``RobustBaseline`` per (patient, kind) learns what is normal for that patient and scores a
new value as a robust z-score, ``(value - median) / (1.4826 * MAD)``. It says "not ready" (None)
until it has seen ``min_values`` values spanning ``min_span_days``, and its state is a small
dict (``to_state``/``from_state``) so a consumer can checkpoint it.

Feed it values at the granularity you will query: single readings for spot measurements
(weight, BP, kiosk SpO2); for continuous streams, reduce first (e.g. hourly medians), because
the window holds at most ``max_values`` values.

References:
    Rousseeuw PJ, Croux C. Alternatives to the median absolute deviation. J Am Stat Assoc
    1993;88:1273-1283 (MAD and its consistency constant 1.4826 for normal data).
    Iglewicz B, Hoaglin DC. How to Detect and Handle Outliers. ASQC Quality Press, 1993
    (modified z-score; |z| > 3.5 as the outlier cut-off).
    Leys C et al. Detecting outliers: do not use standard deviation around the mean, use
    absolute deviation around the median. J Exp Soc Psychol 2013;49:764-766.
    Clinical-workflow reference, section 2.3: per-patient baselines with a 14-30 day learning
    window, bounded by absolute safety limits (which stay the job of the absolute rules).
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telemed_core.explanations import explained
from telemed_signal.findings import Finding, Severity

#: MAD * 1.4826 estimates the standard deviation of normally distributed data.
MAD_TO_SD = 1.4826
METHOD = "Robust z-score against the patient's median/MAD baseline (Iglewicz & Hoaglin 1993)"


@dataclass(frozen=True, slots=True)
class BaselineSnapshot:
    """The baseline a deviation was measured against (units of the value)."""

    median: float
    mad: float
    scale: float
    n: int
    since: datetime
    until: datetime


class RobustBaseline:
    """Streaming median/MAD baseline of one kind of value for one patient.

    ``min_scale`` is the smallest spread that means anything, in the value's unit (e.g. the
    scale's 0.1 kg or the oximeter's 1 %): it floors ``1.4826 * MAD`` so a patient whose
    readings never vary does not turn every tiny change into an infinite z-score.
    ``value_key`` names the value in Finding values, with its unit (e.g. ``weight_kg``).
    """

    def __init__(
        self,
        patient_id: str,
        kind: str,
        *,
        value_key: str,
        min_scale: float,
        window_days: float = 14.0,
        min_values: int = 7,
        min_span_days: float = 3.0,
        max_values: int = 500,
    ) -> None:
        if not (math.isfinite(min_scale) and min_scale > 0):
            raise ValueError(f"min_scale must be positive, got {min_scale!r}")
        if window_days <= 0 or min_values < 2 or max_values < min_values:
            raise ValueError("need window_days > 0 and 2 <= min_values <= max_values")
        self.patient_id, self.kind, self.value_key = patient_id, kind, value_key
        self.min_scale = min_scale
        self.window_days = window_days
        self.min_values = min_values
        self.min_span_days = min_span_days
        self.max_values = max_values
        self._points: list[tuple[float, float]] = []  # (epoch_s, value), sorted by time

    def update(self, value: float, at: datetime) -> None:
        """Learn ``value`` measured at ``at`` (UTC-aware; late arrivals are placed in order).

        Score a new value with ``deviation`` *before* learning it, or it is compared with itself.
        Values older than ``window_days`` before the newest one are forgotten.
        """
        if not math.isfinite(value):
            raise ValueError(f"baseline value must be finite, got {value!r}")
        bisect.insort(self._points, (_epoch_s(at), float(value)))
        horizon = self._points[-1][0] - self.window_days * 86400.0
        drop = bisect.bisect_left(self._points, (horizon, -math.inf))
        drop = max(drop, len(self._points) - self.max_values)
        del self._points[:drop]

    @property
    def ready(self) -> bool:
        """True once ``min_values`` values spanning ``min_span_days`` have been learned."""
        if len(self._points) < self.min_values:
            return False
        return self._points[-1][0] - self._points[0][0] >= self.min_span_days * 86400.0

    def snapshot(self) -> BaselineSnapshot | None:
        """Median, MAD and the scale used, or None while not ready."""
        if not self.ready:
            return None
        values = [v for _, v in self._points]
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        scale = max(MAD_TO_SD * mad, self.min_scale)
        since, until = _utc(self._points[0][0]), _utc(self._points[-1][0])
        return BaselineSnapshot(median, mad, scale, len(values), since, until)

    def deviation(self, value: float) -> float | None:
        """Robust z-score of ``value`` against this baseline; None while not ready."""
        if not math.isfinite(value):
            raise ValueError(f"value must be finite, got {value!r}")
        snap = self.snapshot()
        return None if snap is None else (value - snap.median) / snap.scale

    def finding(self, value: float, at: datetime, *, z_threshold: float = 3.5) -> Finding | None:
        """A low-severity ``baseline_deviation`` Finding when |z| >= ``z_threshold``, else None.

        It carries the baseline used (median, MAD, n and its time span) so the alert can say
        "far from this patient's normal" and why. Does not learn ``value``.
        """
        z = self.deviation(value)
        snap = self.snapshot()
        if z is None or snap is None or abs(z) < z_threshold:
            return None
        at = _utc(_epoch_s(at))
        key = self.value_key
        return Finding(
            patient_id=self.patient_id,
            kind="baseline_deviation",
            start=at,
            end=at,
            severity=Severity.LOW,
            method=METHOD,
            values={
                key: value,
                f"baseline_median_{key}": snap.median,
                f"baseline_mad_{key}": snap.mad,
                "robust_z": round(z, 2),
                "baseline_n": snap.n,
                "baseline_since": snap.since.isoformat(),
                "baseline_kind": self.kind,
            },
            window_s=(snap.until - snap.since).total_seconds(),
            **explained(
                "baseline_above" if z > 0 else "baseline_below",
                kind=self.kind,
                value=value,
                z=round(abs(z), 1),
                median=snap.median,
                n=snap.n,
                since_date=f"{snap.since:%Y-%m-%d}",
            ),
        )

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint: configuration and the learned window."""
        return {
            "v": 1,
            "patient_id": self.patient_id,
            "kind": self.kind,
            "value_key": self.value_key,
            "min_scale": self.min_scale,
            "window_days": self.window_days,
            "min_values": self.min_values,
            "min_span_days": self.min_span_days,
            "max_values": self.max_values,
            "points": [[t, v] for t, v in self._points],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RobustBaseline:
        """Rebuild a baseline from ``to_state()``; raises ValueError on an unknown version."""
        if state.get("v") != 1:
            raise ValueError(f"unsupported baseline state version {state.get('v')!r}")
        config = {k: v for k, v in state.items() if k not in ("v", "points")}
        baseline = cls(config.pop("patient_id"), config.pop("kind"), **config)
        baseline._points = sorted((float(t), float(v)) for t, v in state["points"])
        return baseline


def _epoch_s(at: datetime) -> float:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return at.timestamp()


def _utc(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, tz=UTC)
