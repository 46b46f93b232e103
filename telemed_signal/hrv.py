"""Time-domain heart rate variability (SDNN, RMSSD, pNN50) over fixed windows of NN intervals.

Definitions follow the Task Force of the ESC and NASPE (1996), Table 1, on 5-minute windows
(the standard short-term recording) by default:

* SDNN: standard deviation of the NN intervals (sample SD, n - 1), ms;
* RMSSD: root mean square of the differences between adjacent NN intervals, ms;
* pNN50: NN50 (adjacent NN intervals differing by more than 50 ms) divided by the number of NN
  intervals, % (the Task Force denominator; some tools divide by the number of differences).

NN intervals are RR intervals between normal beats: intervals labelled premature,
compensatory, long or artefact by the 20 % rule of :mod:`telemed_signal.beats` are
excluded, and a successive difference counts only when both intervals are NN. Windows start
at ``origin_s`` (default: the first beat) and hold the intervals that end inside them.

Minimum-data rules (ours; the Task Force asks for stationary, artefact-free 5-min segments):
a window is valid only if its NN intervals cover >= 80 % of it, no more than 20 % of its
intervals are non-NN (so AF, bigeminy and noisy stretches give no HRV rather than a wrong
one) and it has at least 2 NN intervals and 1 NN difference. Invalid windows carry NaN and
the reason. The 20 % rule alone does not catch all AF (slow, moderately irregular AF passes
it), so callers should also pass ``excluded`` beats: those in AF episodes
(:func:`telemed_signal.af.detect_af`) or on unusable ECG; their intervals are not NN.

References:
    Task Force of the European Society of Cardiology and the North American Society of Pacing
    and Electrophysiology. Heart rate variability: standards of measurement, physiological
    interpretation and clinical use. Circulation 93(5):1043-1065 (1996).
    Shaffer F, Ginsberg JP. An overview of heart rate variability metrics and norms.
    Front Public Health 5:258 (2017).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from telemed_signal.beats import EctopicFilter, RrClass, check_beat_times

FloatArray = npt.NDArray[np.float64]

#: Sums kept per window: NN count, sum and sum of squares of (NN - 1 s), all-interval count,
#: NN-difference count, sum of squared differences, NN50 count, and the NN time covered.
_FIELDS = ("n_nn", "s1", "s2", "n_all", "n_diff", "ssd", "nn50", "nn_s")


@dataclass(frozen=True, slots=True)
class HrvRules:
    """Window length and minimum-data rules (see the module docstring)."""

    window_s: float = 300.0
    min_coverage: float = 0.8
    max_non_nn_fraction: float = 0.2
    ectopic_threshold: float = 0.2

    def __post_init__(self) -> None:
        ok = (
            math.isfinite(self.window_s)
            and self.window_s > 0
            and 0 <= self.min_coverage <= 1
            and 0 <= self.max_non_nn_fraction <= 1
            and 0 < self.ectopic_threshold < 1
        )
        if not ok:
            raise ValueError(f"invalid HRV rules: {self}")


@dataclass(frozen=True, slots=True)
class HrvWindow:
    """Time-domain HRV of one window (times in s on the beat clock; NaN when not valid)."""

    start_s: float
    end_s: float
    n_nn: int
    n_intervals: int
    nn_coverage: float
    mean_nn_ms: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float
    valid: bool
    reason: str = ""


class HrvStream:
    """Streaming windowed HRV: beat times in, one :class:`HrvWindow` per completed window.

    A window is complete when a beat arrives at or after its end; ``flush()`` ends the stream
    and returns the last, partial one. Windows without any interval are reported (invalid, "no data"), so gaps stay
    visible. The state is the ectopic filter's, the previous NN interval and eight sums.
    """

    def __init__(self, rules: HrvRules | None = None, origin_s: float | None = None) -> None:
        self.rules = rules or HrvRules()
        self.origin_s = origin_s
        self._filter = EctopicFilter(self.rules.ectopic_threshold)
        self._last_t: float | None = None
        self._prev_nn: float | None = None  # the previous interval if NN, for differences
        self._window = 0  # index of the open window
        self._sums = np.zeros(len(_FIELDS))
        self._finished = False

    def process(
        self, beat_times_s: npt.ArrayLike, excluded: npt.ArrayLike | None = None
    ) -> list[HrvWindow]:
        """Consume the next beat times (s, increasing); return the windows they complete.

        ``excluded`` (bool per beat) marks beats whose interval (the one ending at the beat)
        must not count as NN, e.g. beats inside AF episodes.
        """
        if self._finished:
            raise ValueError("the stream has been flushed")
        t = check_beat_times(beat_times_s)
        skip = np.zeros(t.size, bool) if excluded is None else np.asarray(excluded, dtype=bool)
        if skip.shape != t.shape:
            raise ValueError(f"excluded has shape {skip.shape}, beat_times_s has {t.shape}")
        if self._last_t is not None and t.size and t[0] <= self._last_t:
            raise ValueError(f"beat {t[0]} s does not follow the previous beat {self._last_t} s")
        if not t.size:
            return []
        if self._last_t is None:
            self.origin_s = float(t[0]) if self.origin_s is None else self.origin_s
            if t[0] < self.origin_s:
                raise ValueError("beats must not precede origin_s")
            self._window = int((t[0] - self.origin_s) // self.rules.window_s)
            self._last_t, t, skip = float(t[0]), t[1:], skip[1:]
            if not t.size:
                return []
        return self._add(t, skip)

    def flush(self) -> list[HrvWindow]:
        """End the stream: return the open (partial) window. Later beats raise ValueError."""
        if self._last_t is None or self._finished:
            self._finished = True
            return []
        self._finished = True
        return [self._result(self._window, self._sums)]

    def _add(self, t: FloatArray, skip: npt.NDArray[np.bool_]) -> list[HrvWindow]:
        assert self._last_t is not None and self.origin_s is not None
        rr = np.diff(np.concatenate(([self._last_t], t)))
        nn_mask = (self._filter.process(rr).label == RrClass.NORMAL) & ~skip
        win = ((t - self.origin_s) // self.rules.window_s).astype(np.int64) - self._window
        prev_ok = np.concatenate(([self._prev_nn is not None], nn_mask[:-1]))
        prev_rr = np.concatenate(([self._prev_nn or 0.0], rr[:-1]))
        diff = np.where(nn_mask & prev_ok, rr - prev_rr, np.nan)
        n_win = int(win[-1]) + 1
        nn = np.where(nn_mask, rr, 0.0)
        has_diff = ~np.isnan(diff)
        d2 = np.where(has_diff, diff, 0.0)
        parts = (
            nn_mask.astype(float),
            np.where(nn_mask, rr - 1.0, 0.0),
            np.where(nn_mask, (rr - 1.0) ** 2, 0.0),
            np.ones(rr.size),
            has_diff.astype(float),
            d2**2,
            (np.abs(d2) > 0.05).astype(float),
            nn,
        )
        sums = np.stack([np.bincount(win, weights=p, minlength=n_win) for p in parts], axis=1)
        sums[0] += self._sums
        out = [self._result(self._window + i, sums[i]) for i in range(n_win - 1)]
        self._window += n_win - 1
        self._sums = sums[-1]
        self._last_t = float(t[-1])
        self._prev_nn = float(rr[-1]) if nn_mask[-1] else None
        return out

    def _result(self, window: int, sums: FloatArray) -> HrvWindow:
        assert self.origin_s is not None
        r = self.rules
        n_nn, s1, s2, n_all, n_diff, ssd, nn50, nn_s = sums.tolist()
        start = self.origin_s + window * r.window_s
        coverage = nn_s / r.window_s
        reason = _invalid_reason(r, n_nn, n_all, n_diff, coverage)
        nan = float("nan")
        mean = s1 / n_nn + 1.0 if n_nn else nan
        var = (s2 - s1 * s1 / n_nn) / (n_nn - 1) if n_nn > 1 else nan
        ok = not reason
        return HrvWindow(
            start_s=start,
            end_s=start + r.window_s,
            n_nn=int(n_nn),
            n_intervals=int(n_all),
            nn_coverage=coverage,
            mean_nn_ms=1000.0 * mean if ok else nan,
            sdnn_ms=1000.0 * math.sqrt(max(var, 0.0)) if ok else nan,
            rmssd_ms=1000.0 * math.sqrt(ssd / n_diff) if ok else nan,
            pnn50_pct=100.0 * nn50 / n_nn if ok else nan,
            valid=ok,
            reason=reason,
        )

    def to_state(self) -> dict[str, Any]:
        """A small JSON-able checkpoint."""
        return {
            "v": 1,
            "rules": asdict(self.rules),
            "origin_s": self.origin_s,
            "filter": self._filter.to_state(),
            "last_t": self._last_t,
            "prev_nn": self._prev_nn,
            "window": self._window,
            "sums": self._sums.tolist(),
            "finished": self._finished,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HrvStream:
        """Rebuild a stream from ``to_state()``; raises ValueError on an unknown version."""
        if state.get("v") != 1:
            raise ValueError(f"unsupported HrvStream state version {state.get('v')!r}")
        s = cls(HrvRules(**state["rules"]), state["origin_s"])
        s._filter = EctopicFilter.from_state(state["filter"])
        s._last_t, s._prev_nn = state["last_t"], state["prev_nn"]
        s._window = int(state["window"])
        s._sums = np.asarray(state["sums"], dtype=np.float64)
        s._finished = bool(state["finished"])
        return s


def _invalid_reason(r: HrvRules, n_nn: float, n_all: float, n_diff: float, cover: float) -> str:
    if n_all == 0:
        return "no data"
    if cover < r.min_coverage:
        return (
            f"NN intervals cover {100 * cover:.0f} % of the window (< {100 * r.min_coverage:g} %)"
        )
    if (n_all - n_nn) / n_all > r.max_non_nn_fraction:
        share = 100 * (n_all - n_nn) / n_all
        return f"{share:.0f} % of intervals are not NN (> {100 * r.max_non_nn_fraction:g} %)"
    if n_nn < 2 or n_diff < 1:
        return "too few NN intervals"
    return ""


def hrv_time_domain(
    beat_times_s: npt.ArrayLike,
    rules: HrvRules | None = None,
    origin_s: float | None = None,
    excluded: npt.ArrayLike | None = None,
) -> list[HrvWindow]:
    """SDNN, RMSSD and pNN50 per window (default 5 min) of a whole series of beat times (s).

    Windows run from ``origin_s`` (default: the first beat) to the last beat; the last one is
    usually partial and then invalid. ``excluded`` marks beats whose interval is not NN (see
    :meth:`HrvStream.process`). Fewer than two beats give an empty list. See the module
    docstring for the definitions and the minimum-data rules.
    """
    t = check_beat_times(beat_times_s)
    if t.size < 2:
        return []
    stream = HrvStream(rules, origin_s)
    return stream.process(t, excluded) + stream.flush()
