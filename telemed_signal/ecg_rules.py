"""QRS decision rules of Hamilton & Tompkins (1986), run as an event-driven state machine.

MWI peaks (see :mod:`telemed_signal.ecg_features`) arrive in time order. Each goes
through:

- peak dominance: a peak is dropped if a larger peak lies within ``R`` on either side (WFDB
  gqrs' "most prominent peak in its neighbourhood"; Hamilton's 200 ms peak hold is the
  forward half of it). On a clean lead ``R`` is the 200 ms refractory period of Pan &
  Tompkins and Hamilton, so beats 200 ms apart (300 bpm) are kept; once the noise-peak level
  exceeds 10 % of the QRS level, ``R`` widens to 320 ms (gqrs uses 280 ms) so that noise
  spikes next to a QRS do not count as beats (rates above ~185 bpm in a noisy lead are then
  undercounted);
- the baseline-shift test (Hamilton 2002): the slope must rise and fall;
- the detection threshold ``DT = N + 0.3125 (Q - N)``, with ``Q`` and ``N`` the medians of
  the last 8 QRS and noise peak heights (Hamilton & Tompkins' best rule set);
- T-wave discrimination: a peak less than 360 ms after a QRS whose steepest slope is under
  half that of the QRS is a T wave (Pan & Tompkins 1985);
- search-back: once 1.5 median RR intervals (at most 2.5 s) have passed without a QRS, the
  largest noise peak at least 360 ms after the last QRS becomes a QRS if it exceeds ``DT / 2``;
  from then on each new peak is judged against ``DT / 2`` as it comes;
- learning: the first ``LEARN_S`` seconds (and again after ``RELEARN_S`` s without a QRS, as in
  Hamilton's detector) are buffered; ``Q`` is then seeded from the largest peak of each second
  and the buffered peaks are classified, so the first beats are not lost.

Every event (a peak's decision, the search-back deadline, re-learning) has a sample time fixed
by the state; events are handled in time order, so chunk boundaries never change the outcome.

References:
    Hamilton PS, Tompkins WJ. IEEE Trans Biomed Eng 33(12):1157-1165 (1986).
    Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
    32(3):230-236 (1985).
    Hamilton P. Open source ECG analysis. Computers in Cardiology 29:101-104 (2002).
    Moody GB. gqrs (WFDB software package), PhysioNet.
"""

from __future__ import annotations

from typing import NamedTuple

from telemed_signal.ecg_features import Candidate

N_HISTORY = 8
THRESHOLD_FRACTION = 0.3125
NOISY_FRACTION = 0.1
DOMINANCE_MIN_S = 0.200
DOMINANCE_MAX_S = 0.320
SEARCHBACK_RR = 1.5
SEARCHBACK_MAX_S = 2.5
T_WAVE_WINDOW_S = 0.360
T_WAVE_SLOPE_RATIO = 0.5
LEARN_S = 2.0
RELEARN_S = 8.0


def _push(history: list[float], value: float) -> float:
    """Append ``value``, drop the oldest, and return the new median."""
    del history[0]
    history.append(value)
    s = sorted(history)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


class _Queued(NamedTuple):
    """A peak waiting for its dominance decision at sample ``due``."""

    due: int
    radius: int
    peak: Candidate


class HamiltonRules:
    """Adaptive-threshold QRS classifier for one lead; times are absolute sample indices.

    The medians of the three histories (and the search-back span that follows from the RR
    median) are kept up to date as the histories change, since every peak consults them.
    """

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = fs_hz
        self.t_wave = round(T_WAVE_WINDOW_S * fs_hz)
        self.sb_max = round(SEARCHBACK_MAX_S * fs_hz)
        self.radius_min = round(DOMINANCE_MIN_S * fs_hz)
        self.radius_max = round(DOMINANCE_MAX_S * fs_hz)
        self.epoch = max(1, round(fs_hz))
        self.learn_len = round(LEARN_S * fs_hz)
        self.relearn_len = round(RELEARN_S * fs_hz)
        self.qrs_amp = [0.0] * N_HISTORY
        self.last: int | None = None  # MWI index of the last QRS
        self.last_slope = 0.0
        self.searchback: Candidate | None = None
        self.relearn_at = 0
        self.learn_start = 0
        self.learning = True
        self.pending: list[_Queued] = []  # dominant peaks buffered while learning
        self.recent: list[Candidate] = []  # peaks that may still dominate a queued one
        self.queue: list[_Queued] = []  # peaks awaiting their dominance decision
        self.beats: list[int] = []  # R-peak indices accepted but not yet taken
        self._reset_histories()

    def _reset_histories(self) -> None:
        """Noise and RR histories back to their initial values; medians recomputed."""
        self.noise_amp = [0.0] * N_HISTORY
        self.rr = [float(self.epoch)] * N_HISTORY
        self.qrs_med = _median(self.qrs_amp)
        self.noise_med = _median(self.noise_amp)
        self.sb_span = min(round(SEARCHBACK_RR * _median(self.rr)), self.sb_max)

    def feed(self, c: Candidate) -> None:
        """Take the next MWI peak (peaks must come in increasing ``index``)."""
        index = c.index
        queue = self.queue
        self.advance(index - 1)
        noisy = self.noise_med > NOISY_FRACTION * self.qrs_med
        radius = self.radius_max if noisy else self.radius_min
        due = index + radius
        if queue and queue[-1].due > due:
            due = queue[-1].due  # decisions stay in index order
        queue.append(_Queued(due, radius, c))
        recent = self.recent
        oldest = index - 2 * self.radius_max
        while recent and recent[0].index < oldest:  # ``recent`` is in index order
            del recent[0]
        recent.append(c)

    def advance(self, horizon: int) -> None:
        """Handle the events due by ``horizon``: every peak up to it has been fed.

        A peak is classified as of its own index (as if the decision took no time); timers
        wait until every peak before them is decided.
        """
        queue = self.queue
        if queue and queue[0].due <= horizon:
            self._decide_queued(horizon)
        self._fire_timers(queue[0].peak.index - 1 if queue else horizon)

    def finish(self, horizon: int) -> None:
        """End of stream at sample ``horizon``: every peak has been fed; decide them all."""
        self._decide_queued(None)
        self._fire_timers(horizon)
        if self.learning:
            self._end_learning(final=True)

    def take(self) -> list[int]:
        """Return and forget the R peaks accepted since the last call."""
        out, self.beats = self.beats, []
        return out

    def _decide_queued(self, t: int | None) -> None:
        """Decide the queued peaks due by ``t`` (all of them if None).

        A peak is dropped if a larger one (or an equal, earlier one) lies within its radius;
        else it is buffered while learning, or classified.
        """
        queue = self.queue
        while queue and (t is None or queue[0].due <= t):
            q = queue.pop(0)
            c = q.peak
            index, amp, radius = c.index, c.amp, q.radius
            self._fire_timers(index - 1)
            if not c.baseline_ok:
                continue
            for p in self.recent:
                near = p.index != index and abs(p.index - index) <= radius
                if near and (p.amp > amp or (p.amp == amp and p.index < index)):
                    break
            else:
                if self.learning:
                    self.pending.append(q)
                else:
                    self._classify(c)
                    self._fire_timers(index)

    def _threshold(self) -> float:
        q, n = self.qrs_med, self.noise_med
        return n + THRESHOLD_FRACTION * (q - n)

    def _classify(self, c: Candidate) -> None:
        since = None if self.last is None else c.index - self.last
        is_t_wave = (
            since is not None
            and since < self.t_wave
            and c.max_slope < T_WAVE_SLOPE_RATIO * self.last_slope
        )
        q, n = self.qrs_med, self.noise_med
        if c.amp > n + THRESHOLD_FRACTION * (q - n) and not is_t_wave:
            self._accept(c)
            return
        self.noise_med = _push(self.noise_amp, c.amp)
        eligible = since is None or since >= self.t_wave
        if eligible and (self.searchback is None or c.amp > self.searchback.amp):
            self.searchback = c

    def _accept(self, c: Candidate) -> None:
        self.qrs_med = _push(self.qrs_amp, c.amp)
        if self.last is not None:
            rr_median = _push(self.rr, float(c.index - self.last))
            self.sb_span = min(round(SEARCHBACK_RR * rr_median), self.sb_max)
        self.last = c.index
        self.last_slope = c.max_slope
        self.searchback = None
        self.relearn_at = c.index + self.relearn_len
        self.beats.append(c.r_index)

    def _fire_timers(self, t: int) -> None:
        """Handle learning end, search-back and re-learning due by ``t``, in time order."""
        while True:
            if self.learning:
                if t < self.learn_start + self.learn_len:
                    return
                self._end_learning()
                continue
            sb = self.searchback
            if sb is not None and self.last is not None and self.last + self.sb_span <= t:
                # Judged once, when due: keeping it for later would unbound the delay.
                self.searchback = None
                if sb.amp > self._threshold() / 2:
                    self._accept(sb)
                continue
            if self.relearn_at > t:
                return
            self._start_learning(self.relearn_at)

    def _start_learning(self, start: int) -> None:
        self.learning = True
        self.learn_start = start
        self.pending = []

    def _end_learning(self, final: bool = False) -> None:
        pending, self.pending = self.pending, []
        maxima: dict[int, float] = {}
        for q in pending:
            e = (q.peak.index - self.learn_start) // self.epoch
            maxima[e] = max(maxima.get(e, 0.0), q.peak.amp)
        if not maxima:
            # Nothing to learn from (flat line, gap): learn over the next window instead.
            if not final:
                self._start_learning(self.learn_start + self.learn_len)
            return
        self.learning = False
        seeds = list(maxima.values())
        self.qrs_amp = [seeds[i % len(seeds)] for i in range(N_HISTORY)]
        self._reset_histories()
        self.last, self.last_slope, self.searchback = None, 0.0, None
        self.relearn_at = self.learn_start + self.relearn_len
        for q in pending:
            self._fire_timers(q.peak.index - 1)
            self._classify(q.peak)
            self._fire_timers(q.peak.index)
