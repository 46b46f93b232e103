"""Life-threatening arrhythmias from all ECG leads plus the pulse waveforms, causal and streaming.

:class:`LethalArrhythmiaMonitor` watches one patient's bedside waveforms (keys are WFDB signal
names: ``I``, ``II``, ``III``, ``V``, ``aVF``, ``MCL`` ... for ECG leads, ``PLETH`` and
``ABP`` for pulse waveforms; others such as ``RESP`` are ignored) and raises a
:class:`~telemed_signal.findings.Finding` for each of the five alarms of the
PhysioNet/CinC Challenge 2015: ``asystole``, ``extreme_bradycardia``, ``extreme_tachycardia``,
``ventricular_tachycardia`` and ``ventricular_flutter_fib``.

Pipeline, per channel, all causal:

* ECG: R peaks from :class:`~telemed_signal.ecg.RPeakDetectorBank` (Hamilton & Tompkins
  1986, one bank for the patient's leads), beat morphology and fibrillation windows from
  :class:`~telemed_signal.lethal_ecg.EcgLeadTracker`, and signal quality from
  :func:`~telemed_signal.ecg_quality.ecg_sqi` (Li, Mark & Clifford 2008; Behar et al.
  2013), computed only for the spans a rule asks about, so that quiet streams cost little.
* Pulse: pulses from :class:`~telemed_signal.lethal_pulse.PulseDetector` (Zong et al.
  2003 slope sum function).
* Every second each lead's last 4 s are scored for fibrillation, and every ``eval_s`` (2 s;
  the alarm criteria span 4 s and more) the rules of :mod:`telemed_signal.lethal_rules`
  and :mod:`telemed_signal.lethal_ventricular` look at the last 20-24 s. A condition
  found opens an episode (a Finding with ``end`` None), one no longer found closes it (a
  Finding with its end). Each Finding's ``values`` name the channels, the beats (their times)
  and the measures that crossed which limit, and ``explanation`` says it in words, e.g. "No
  QRS for 4.0 s in II, V (ongoing); no pulse wave in ABP either."

:func:`confirm_alarm` runs the monitor over a recording up to an alarm time and says whether
it holds an episode of the alarm's type in the 16 s before it: the PhysioNet/CinC Challenge
2015 task, scored as 100 (TP + TN) / (TP + TN + FP + 5 FN).

References:
    Clifford GD, Silva I, Moody B, et al. The PhysioNet/Computing in Cardiology Challenge 2015:
    reducing false arrhythmia alarms in the ICU. Computing in Cardiology 42:273-276 (2015).
    Clifford GD, Silva I, Moody B, et al. False alarm reduction in critical care. Physiol
    Meas 37(8):E5-E23 (2016).
    Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules using the
    MIT/BIH arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165 (1986).
    Zong W, Heldt T, Moody GB, Mark RG. An open-source algorithm to detect onset of arterial
    blood pressure pulses. Computers in Cardiology 30:259-262 (2003).
    Behar J, Oster J, Li Q, Clifford GD. ECG signal quality during arrhythmia and its
    application to false alarm reduction. IEEE Trans Biomed Eng 60(6):1660-1666 (2013).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from telemed_signal.beats import EPOCH, check_t0, utc_at
from telemed_signal.ecg import RPeakDetectorBank
from telemed_signal.ecg_quality import ecg_sqi
from telemed_signal.findings import Finding, Severity
from telemed_signal.lethal_ecg import EcgLeadTracker
from telemed_signal.lethal_pulse import PulseDetector
from telemed_signal.lethal_rate import tachycardia
from telemed_signal.lethal_rules import (
    ALARMS,
    AMP,
    FOUND,
    LOOKBACK_S,
    Event,
    Evidence,
    LeadView,
    LethalParams,
    PulseView,
)
from telemed_signal.lethal_slow import asystole, bradycardia
from telemed_signal.lethal_ventricular import fibrillation, ventricular_tachycardia

__all__ = [
    "ALARMS",
    "ECG_LEADS",
    "PULSE_CHANNELS",
    "LethalArrhythmiaMonitor",
    "LethalParams",
    "confirm_alarm",
]

FloatArray = npt.NDArray[np.float64]
Rule = Callable[[Evidence], Event | None]
RULES: dict[str, Rule] = {
    "asystole": asystole,
    "extreme_bradycardia": bradycardia,
    "extreme_tachycardia": tachycardia,
    "ventricular_tachycardia": ventricular_tachycardia,
    "ventricular_flutter_fib": fibrillation,
}

#: WFDB signal names taken as ECG leads.
ECG_LEADS = frozenset(
    {"I", "II", "III", "aVR", "aVL", "aVF", "V", "V1", "V2", "V3", "V4", "V5", "V6"}
    | {"MCL", "MCL1", "MCL6", "ECG", "MLII", "ML", "CM5", "CC5"}
)
#: WFDB signal names taken as pulse waveforms (arterial pressure, photoplethysmogram).
PULSE_CHANNELS = frozenset({"ABP", "ART", "AOBP", "PLETH", "PPG"})
#: An episode whose last evidence is older than this is over (the rules' reporting delay).
LATENCY_S = 3.0
#: Raw ECG kept for on-demand quality checks (the rules look back at most this far).
RAW_S = LOOKBACK_S + 2.0
ALARM_WINDOW_S = 16.0
WINDOW_HOP_S = 1.0
SQI_WINDOW_S = 2.0
MIN_SQI = 0.5
METHOD = (
    "PhysioNet/CinC 2015 alarm criteria on quality-gated multi-lead ECG (Hamilton-Tompkins "
    "R peaks, template/width beat morphology, VF-filter leakage and TCSC) with pulse-wave "
    "agreement (Zong SSF); see telemed_signal.lethal_rules"
)


@dataclass(slots=True)
class _Episode:
    kind: str
    start_s: float
    end_s: float
    event: Event
    open: bool = True


def _overlaps(ep: _Episode, event: Event) -> bool:
    return event.start_s <= ep.end_s + LATENCY_S and event.end_s >= ep.start_s - LATENCY_S


class _Lead:
    """One ECG lead: tracker, raw samples for on-demand SQI, windows history."""

    def __init__(self, name: str, fs_hz: float) -> None:
        self.name = name
        self.fs_hz = fs_hz
        self.tracker = EcgLeadTracker(fs_hz)
        self.raw = np.zeros(0, dtype=np.float32)
        self.n_raw = round(RAW_S * fs_hz)
        self._windows: list[tuple[float, ...]] = []  # rows of ``windows``, oldest first
        self._windows_array: FloatArray | None = None
        self._sqi: dict[int, float] = {}

    def feed(self, x: FloatArray, beats: npt.NDArray[np.int64], step_end: int | None) -> None:
        self.tracker.feed(x, beats)
        self.raw = np.concatenate((self.raw, x.astype(np.float32)))[-self.n_raw :]
        if step_end is None:
            return
        w = self.tracker.window(step_end)
        if w is not None:
            t_s = step_end / self.fs_hz
            while self._windows and not self._windows[0][0] > t_s - RAW_S:
                del self._windows[0]
            self._windows.append((t_s, w.leakage, w.tcsc, w.fdom_hz, w.ptp_mv))
            self._windows_array = None

    @property
    def windows(self) -> FloatArray:
        """Fibrillation measures of the last ``RAW_S`` s, one row per 1 s hop (LeadView)."""
        if self._windows_array is None:
            self._windows_array = np.array(self._windows, dtype=np.float64).reshape(-1, 5)
        return self._windows_array

    def usable(self, a_s: float, b_s: float) -> bool:
        """Every 2 s SQI window overlapping ``[a_s, b_s]`` scores >= 0.5 (computed lazily)."""
        n = round(SQI_WINDOW_S * self.fs_hz)
        seen = self.tracker.n_seen
        first = max(0, math.floor(a_s / SQI_WINDOW_S))
        last = min(math.floor(b_s / SQI_WINDOW_S), seen // n - 1)
        start = seen - self.raw.size
        if last < first:
            return False
        for k in range(first, last + 1):
            if k not in self._sqi:
                lo = k * n - start
                if lo < 0:
                    continue  # older than the raw buffer: trust the beats already judged
                q = ecg_sqi(self.raw[lo : lo + n].astype(np.float64), self.fs_hz)
                self._sqi[k] = float(q.sqi[0]) if len(q) else 0.0
            if self._sqi[k] < MIN_SQI:
                return False
        if len(self._sqi) > 64:
            self._sqi = {k: v for k, v in self._sqi.items() if k >= first - 16}
        return True

    def deflection_after(self, t_s: float, now_s: float, level_mv: float) -> float | None:
        """Time of the first 0.15 s stretch reaching ``level_mv`` peak to peak that starts
        0.5 s after ``t_s`` (past the last beat's T wave) within the last 3 s."""
        a = max(t_s + 0.5, now_s - 3.0)
        now = round(now_s * self.fs_hz)
        y = self.tracker.recent(now, now_s - a)
        if y.size < 4:
            return None
        k = max(2, round(0.15 * self.fs_hz))
        ptp = maximum_filter1d(y, k) - minimum_filter1d(y, k)
        hit = np.flatnonzero(ptp >= level_mv)
        return None if not hit.size else now_s - (y.size - int(hit[0])) / self.fs_hz

    def view(self, valid_fraction: float) -> LeadView:
        """The rules' view of this lead (see :class:`LeadView`)."""
        beats = self.tracker.beats
        mine = beats[beats[:, FOUND] == 0, AMP]
        k = (3 * (mine.size - 1)) // 4  # the 75th percentile, lower value
        ref = float(np.partition(mine, k)[k]) if mine.size else 0.0
        level = valid_fraction * ref if ref > 0 else math.inf
        return LeadView(
            self.name,
            beats,
            self.windows,
            self.usable,
            lambda t, now: self.deflection_after(t, now, level),
            ref,
        )


class LethalArrhythmiaMonitor:
    """Streaming detector of the five Challenge 2015 alarms for one patient.

    ``channels`` are the WFDB signal names the stream carries (all at ``fs_hz``); ECG leads
    and pulse waveforms are recognised by name (:data:`ECG_LEADS`, :data:`PULSE_CHANNELS`),
    anything else is ignored. ``process(chunk)`` takes a mapping from channel name to the
    next samples (equal lengths; ECG in mV, ABP in mmHg, PLETH in any unit; NaN = missing; a
    channel left out counts as missing) and returns the Findings opened or closed. Stream time
    0 is the first sample, ``t0`` its UTC instant. The rules run every ``eval_s`` seconds of
    signal (:meth:`evaluate` runs them at once). Results never depend on chunking: samples are
    analysed a whole 1 s hop at a time, so a chunk that ends inside a hop is held until the
    hop completes (no Finding waits for it: windows and rules only run at hop ends), and one
    detector call per hop costs the same for a Polar H10's 73-sample packets as for 1 s
    blocks. The state is the detectors' registers and a few seconds of signal per channel
    (picklable).
    """

    def __init__(
        self,
        channels: Sequence[str],
        fs_hz: float,
        patient_id: str = "",
        t0: datetime = EPOCH,
        params: LethalParams | None = None,
        eval_s: float = 2.0,
    ) -> None:
        self.fs_hz = float(fs_hz)
        self.patient_id = patient_id
        self.t0 = check_t0(t0)
        self.params = params or LethalParams()
        self.step = max(1, round(WINDOW_HOP_S * self.fs_hz))
        self.eval_every = max(1, round(eval_s / WINDOW_HOP_S))
        self.leads = [_Lead(c, self.fs_hz) for c in channels if c in ECG_LEADS]
        self.pulse_names = [c for c in channels if c in PULSE_CHANNELS]
        self._bank = RPeakDetectorBank(self.fs_hz, len(self.leads)) if self.leads else None
        self._pulse = [PulseDetector(self.fs_hz) for _ in self.pulse_names]
        self._pulses = [np.zeros((0, 4)) for _ in self.pulse_names]
        self._episodes: dict[str, _Episode] = {}
        self.history: list[_Episode] = []
        self._names = [lead.name for lead in self.leads] + self.pulse_names
        self._held: list[FloatArray] = []
        self._n_done = 0  # samples analysed; ``n_seen`` counts those received
        self.n_seen = 0

    @property
    def now_s(self) -> float:
        """Stream time reached (s)."""
        return self.n_seen / self.fs_hz

    def process(self, chunk: Mapping[str, npt.ArrayLike]) -> list[Finding]:
        """Consume the next samples of every channel; return the Findings opened or closed."""
        data = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in chunk.items()}
        sizes = {v.size for v in data.values()}
        if len(sizes) > 1:
            raise ValueError(f"channels must have equal lengths, got {sorted(sizes)}")
        n = sizes.pop() if sizes else 0
        if not n:
            return []
        x = np.empty((len(self._names), n))
        for row, c in zip(x, self._names, strict=True):
            row[:] = data[c] if c in data else np.nan
        out: list[Finding] = []
        i = 0
        while i < n:
            j = min(n, i + self.step - self.n_seen % self.step)
            self.n_seen += j - i
            if self.n_seen % self.step:
                self._held.append(x[:, i:j])
            else:
                out += self._advance(x[:, i:j])
            i = j
        return out

    def evaluate(self) -> list[Finding]:
        """Run the rules now (they also run by themselves every ``eval_s`` of signal)."""
        if self._held:
            self._advance(np.zeros((len(self._names), 0)))
        return self._evaluate()

    def _advance(self, piece: FloatArray) -> list[Finding]:
        """Analyse the held samples followed by ``piece`` (rows in ``_names`` order)."""
        if self._held:
            piece = np.concatenate((*self._held, piece), axis=1)
            self._held = []
        end = self._n_done + piece.shape[1]
        step_end = end if end % self.step == 0 else None
        n_leads = len(self.leads)
        if self._bank is not None:
            x = np.ascontiguousarray(piece[:n_leads])
            for k, beats in enumerate(self._bank.process(x)):
                self.leads[k].feed(x[k], beats, step_end)
        for k, det in enumerate(self._pulse):
            p = det.process(piece[n_leads + k])
            if len(p):
                rows = np.column_stack((p.t_s, p.height, p.foot, p.peak))
                old = self._pulses[k]
                self._pulses[k] = np.vstack((old[old[:, 0] > p.t_s[-1] - 60.0], rows))
        self._n_done = end
        due = step_end is not None and (step_end // self.step) % self.eval_every == 0
        return self._evaluate() if due else []

    def _evaluate(self) -> list[Finding]:
        now = self._n_done / self.fs_hz
        pulses = [PulseView(n, x) for n, x in zip(self.pulse_names, self._pulses, strict=True)]
        views = [lead.view(self.params.valid_amp_fraction) for lead in self.leads]
        ev = Evidence(views, pulses, now, self.params)
        events = {kind: RULES[kind](ev) if self.leads else None for kind in ALARMS}
        fib = events["ventricular_flutter_fib"]
        for lead in self.leads:
            if fib is not None and lead.name in fib.channels:
                lead.tracker.hold_template()  # its complexes are no QRS to learn
        out: list[Finding] = []
        for kind in ALARMS:
            out += self._update(kind, events[kind], now)
        return out

    def _update(self, kind: str, event: Event | None, now: float) -> list[Finding]:
        """Fold one evaluation's event into the episodes of ``kind``; return the Findings.

        An event overlapping the open episode extends it; one overlapping a closed episode
        that it outlasts reopens it (the rules' look-back sees the same episode again); any
        other opens a new episode. An episode closes once its evidence is ``LATENCY_S`` old.
        """
        ep = self._episodes.get(kind)
        out: list[Finding] = []
        if event is not None:
            if ep is not None and _overlaps(ep, event):
                ep.end_s, ep.event = max(ep.end_s, event.end_s), event
            else:
                done = [e for e in self.history if e.kind == kind and _overlaps(e, event)]
                if done and event.end_s <= done[-1].end_s:
                    pass  # already reported
                else:
                    if ep is not None:
                        out.append(self._close(ep))
                    if done:
                        self.history.remove(done[-1])
                        start = min(done[-1].start_s, event.start_s)
                    else:
                        start = event.start_s
                    ep = self._episodes[kind] = _Episode(kind, start, event.end_s, event)
                    out.append(self._finding(ep))
        if ep is not None and ep.end_s < now - LATENCY_S:
            out.append(self._close(ep))
        return out

    def _close(self, ep: _Episode) -> Finding:
        ep.open = False
        self._episodes.pop(ep.kind, None)
        now = self._n_done / self.fs_hz
        self.history = [e for e in self.history if e.end_s > now - 600.0] + [ep]
        return self._finding(ep)

    def _finding(self, ep: _Episode) -> Finding:
        ev = ep.event
        return Finding(
            patient_id=self.patient_id,
            kind=ep.kind,
            start=utc_at(self.t0, ep.start_s),
            end=None if ep.open else utc_at(self.t0, ep.end_s),
            severity=Severity.HIGH,
            method=METHOD,
            values={**ev.values, "channels": list(ev.channels)},
            window_s=ep.end_s - ep.start_s,
            explanation=ev.explanation,
            explanation_key=ev.explanation_key,
            explanation_args=ev.explanation_args,
        )

    def episodes(self) -> list[tuple[str, float, float, bool]]:
        """``(kind, start_s, end_s, ongoing)`` of the recent and open episodes (stream time)."""
        done = [(e.kind, e.start_s, e.end_s, False) for e in self.history]
        return done + [(e.kind, e.start_s, e.end_s, True) for e in self._episodes.values()]


def confirm_alarm(
    signals: Mapping[str, npt.ArrayLike],
    fs_hz: float,
    alarm: str,
    at_s: float,
    params: LethalParams | None = None,
) -> bool:
    """Would the platform hold a Finding of type ``alarm`` in the 16 s before ``at_s``?

    ``signals`` maps WFDB signal names to whole recordings sampled at ``fs_hz`` (ECG in mV,
    ABP in mmHg; NaN = missing). Only samples before ``at_s`` (s from the first sample) are
    used: they are streamed in 1 s chunks through :class:`LethalArrhythmiaMonitor`, and the
    answer is True when an episode of ``alarm`` (one of :data:`ALARMS`) overlaps
    ``[at_s - 16, at_s]``.
    """
    if alarm not in ALARMS:
        raise ValueError(f"alarm must be one of {ALARMS}, got {alarm!r}")
    n = max(0, math.floor(at_s * float(fs_hz)))
    monitor = LethalArrhythmiaMonitor(list(signals), fs_hz, params=params)
    step = max(1, round(float(fs_hz)))
    cols = {k: np.asarray(v, dtype=np.float64)[:n] for k, v in signals.items()}
    for i in range(0, n, step):
        monitor.process({k: v[i : i + step] for k, v in cols.items()})
    monitor.evaluate()  # at ``at_s`` itself, whatever the rules' cadence
    lo = at_s - ALARM_WINDOW_S
    return any(k == alarm and e >= lo and s <= at_s for k, s, e, _ in monitor.episodes())
