"""Streaming QRS feature extraction for the R-peak detector in :mod:`patient_hub.signal.ecg`.

The chain follows Hamilton & Tompkins (1986) and Hamilton's open-source detector (2002):
band-pass (here a 2nd-order Butterworth, 5-15 Hz), a 10 ms first difference, its absolute
value, and a moving-window integrator (MWI). Peaks are MWI samples that are the largest within
+/- ``PEAK_HALF_WIDTH_S`` (Hamilton's peak detector waits ~100 ms after a maximum); choosing
between nearby peaks is left to :mod:`patient_hub.signal.ecg_rules`.

Every filter keeps its state between chunks, and every decision about a sample waits until
its whole look-ahead window has arrived, so the output depends only on the samples, never on
how they were chunked. The band-pass is an ``lfilter`` recursion; the difference and the MWI
are computed from the stored history with the very operations, in the very order, of the
``lfilter`` recursions of those FIRs (see :class:`QrsFeatureStream`, :func:`_window_sums`), so
they are bit-exact whatever the chunking.

References:
    Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules using the
    MIT/BIH arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165 (1986).
    Hamilton P. Open source ECG analysis. Computers in Cardiology 29:101-104 (2002).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided
from scipy import signal

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

BAND_HZ = (5.0, 15.0)
DERIVATIVE_S = 0.010
MWI_S = 0.120
PEAK_HALF_WIDTH_S = 0.100
BLS_PRE_S = 0.150
BLS_POST_S = 0.070
BLS_MAX_GAP_S = 0.150
REFINE_PRE_S = 0.050
# Slopes below this fraction of |x| are rounding noise of a flat (or clipped) input.
FLAT_FLOOR = 1e-9
# After a NaN gap the chain restarts mid-waveform; its first samples are not trusted.
GAP_SETTLE_S = 0.200
# Up to this many possible peaks per call (one lead), a Python loop beats small numpy calls.
FEW_PEAKS = 12
# Columns of moving-window sums per np.add.reduce call (stays in the CPU cache).
SUM_BLOCK = 4096
# Chunks up to this many samples are filtered in place in a kept work buffer.
MAX_ROOM = 8192


@dataclass(slots=True)
class Candidate:
    """One MWI peak.

    ``index`` is the MWI peak (absolute sample), ``amp`` its height (input units per sample),
    ``max_slope`` the largest |first difference| around it, ``r_index`` the R-peak estimate
    (absolute sample): the largest |band-passed| sample before the MWI peak, shifted back by
    the band-pass group delay; ``baseline_ok`` is Hamilton's baseline-shift test (the slope
    rises and falls by comparable amounts within 150 ms), False for a step or drift.
    Never modified once made (not frozen: a frozen dataclass takes 3x longer to build).
    """

    index: int
    amp: float
    max_slope: float
    r_index: int
    baseline_ok: bool


@lru_cache(maxsize=64)
def _span(lo: int, hi: int) -> IntArray:
    """``arange(lo, hi)``, cached and read-only (window offsets depend only on the rate)."""
    out = np.arange(lo, hi, dtype=np.intp)
    out.flags.writeable = False
    return out


class QrsFeatureStream:
    """Causal band-pass -> |difference| -> MWI chain with peak search, for ``n`` leads.

    All leads advance together (``push`` takes an ``(n, m)`` array) so that one call filters
    many streams at once; a single lead runs on 1-D views, where numpy calls cost less.
    ``work`` holds, per lead, the band-passed signal, its 10 ms difference, the MWI and the
    MWI's input (|difference| * 1/w): ``tail_len`` samples (about 0.4 s) ending at sample
    ``n_seen - 1``, then room that the next chunk is filtered into (kept for chunks up to
    ``MAX_ROOM`` samples, not pickled).

    The difference is ``bp[t] - bp[t - k]``, which is what the ``lfilter`` recursion of the FIR
    ``[1, 0, ..., -1]`` computes, with the band-passed samples before the last filter restart
    (``restart_at``) read as zero, as a reset recursion would.
    """

    def __init__(self, fs_hz: float, n_streams: int = 1) -> None:
        self.fs_hz = fs_hz
        self.n_streams = n_streams
        # One 4th-order recursion (one cheap lfilter call); vs second-order sections the
        # relative error is < 1e-9 up to 2000 Hz.
        self.bp_ba = signal.butter(2, BAND_HZ, btype="bandpass", fs=fs_hz, output="ba")
        self.k_der = max(1, round(DERIVATIVE_S * fs_hz))
        self.w_mwi = max(2, round(MWI_S * fs_hz))
        self.hold = max(1, round(PEAK_HALF_WIDTH_S * fs_hz))
        self.bls_pre = round(BLS_PRE_S * fs_hz)
        self.bls_post = round(BLS_POST_S * fs_hz)
        self.bls_gap = round(BLS_MAX_GAP_S * fs_hz)
        self.refine_pre = self.w_mwi + round(REFINE_PRE_S * fs_hz)
        self.group_delay = _group_delay(self.bp_ba, fs_hz)
        self.lookahead = max(self.hold, self.bls_post)
        self.tail_len = self.hold + self.lookahead + max(self.refine_pre, self.bls_pre) + 2
        self.mwi_tap = 1.0 / self.w_mwi
        self.zi_bp = np.zeros((n_streams, len(self.bp_ba[1]) - 1))
        self.work = np.zeros((4, n_streams, self.tail_len))
        self.n_seen = 0
        self.next_check = 0  # first sample not yet examined for a candidate peak
        self.in_gap = np.ones(n_streams, dtype=bool)  # no finite sample yet, or in a NaN run
        self.settle = round(GAP_SETTLE_S * fs_hz)
        self.settle_left = np.zeros(n_streams, dtype=np.int64)  # samples still blanked
        self.started = np.zeros(n_streams, dtype=bool)
        self.restart_at = np.zeros(n_streams, dtype=np.int64)  # sample of the last restart
        self.steady = False  # no lead in a gap or settling: a finite chunk needs no splitting

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["work"] = self.work[:, :, : self.tail_len].copy()  # without the room
        return state

    def push(self, x: FloatArray) -> list[list[Candidate]]:
        """Consume ``x`` (n, m); per lead, the candidates whose look-ahead is now complete."""
        m, t0 = x.shape[1], self.tail_len
        work = self.work
        if work.shape[2] < t0 + m:
            work = np.empty((4, self.n_streams, t0 + m))
            work[:, :, :t0] = self.work[:, :, :t0]
            if m <= MAX_ROOM:
                self.work = work
        if m:
            self._filter(x, work)
        self.n_seen += m
        found = self._candidates(work, self.n_seen - t0 - m, self.n_seen - 1 - self.lookahead)
        self.work[:, :, :t0] = work[:, :, m : m + t0]  # the new tail (numpy handles overlap)
        return found

    def push_lead(self, x: FloatArray) -> list[Candidate]:
        """``push`` for a single-lead stream fed ``x`` (1-D): the candidates of that lead.

        The hot path of a stream fed in chunks: a finite chunk that fits the room, with no gap
        pending, is filtered in 1-D and its few peaks are described one by one.
        """
        m, t0, h, peak = x.size, self.tail_len, self.hold, math.nan
        if self.steady and 2 <= m <= self.work.shape[2] - t0:
            peak = float(np.abs(x).max())  # NaN or inf if a sample is not finite
        if not peak < math.inf:
            return self.push(x[None, :])[0]
        lead = self.work[:, 0]
        self._filter_rows(x, lead, 0, t0, peak=peak)
        self.n_seen += m
        origin, first = self.n_seen - t0 - m, self.next_check
        last = self.n_seen - 1 - self.lookahead
        found: list[Candidate] = []
        if last >= first:
            self.next_check = last + 1
            lo = first - origin - h
            (cols,) = _maybe_peaks(lead[2, lo : last - origin + h + 1], h)
            if cols.size <= FEW_PEAKS:
                self._describe(lead, cols.tolist(), lo + h, origin, found)
            else:
                self._describe_many(self.work, 0 * cols, cols + (lo + h), origin, [found])
        lead[:, :t0] = lead[:, m : m + t0]
        return found

    def finish(self) -> list[list[Candidate]]:
        """Per lead, the remaining candidates, taking the signal after its end as zero."""
        pad = np.zeros((4, self.n_streams, self.lookahead))
        seg = np.concatenate((self.work[:, :, : self.tail_len], pad), axis=2)
        return self._candidates(seg, self.n_seen - self.tail_len, self.n_seen - 1)

    @property
    def horizon(self) -> int:
        """Last absolute sample whose candidate status is final."""
        return self.next_check - 1

    def _filter(self, x: FloatArray, work: FloatArray) -> None:
        """Filter ``x`` (n, m) into ``work[:, :, tail_len : tail_len + m]``."""
        t0, m = self.tail_len, x.shape[1]
        if self.steady:
            # NaN or inf if any sample is not finite; else the bound the flat-slope test needs
            peak = float(_max(np.abs(x), axis=None))
            if peak < math.inf:
                self._filter_rows(x, work, slice(None), t0, peak=peak)
                return
        finite = np.isfinite(x)
        slow = self.in_gap | (self.settle_left > 0) | ~finite.all(axis=1)
        fast = np.flatnonzero(~slow)
        if fast.size:
            sub = work[:, fast, : t0 + m]
            self._filter_rows(x[fast], sub, fast, t0)
            work[:, fast, : t0 + m] = sub
        for row in np.flatnonzero(slow).tolist():
            self._filter_gappy(x[row], finite[row], work[:, row, : t0 + m], row)
        self.steady = not (self.in_gap.any() or self.settle_left.any())

    def _filter_gappy(
        self, x: FloatArray, finite: npt.NDArray[np.bool_], work: FloatArray, row: int
    ) -> None:
        """Filter lead ``row`` (``x`` 1-D, may hold NaN runs) into its ``work`` rows (4, .).

        In a NaN run every row is zero: the MWI sees zero input, the other filters wait.
        """
        t0, k = self.tail_len, self.k_der
        work[:, t0:] = 0.0
        edges = np.flatnonzero(np.diff(finite.astype(np.int8))) + 1
        for start, stop in zip(
            np.r_[0, edges].tolist(), np.r_[edges, x.size].tolist(), strict=True
        ):
            if not finite[start]:
                self.in_gap[row] = True
                continue
            if self.in_gap[row]:
                # Restart as if the signal had always been at its first value: no step transient.
                self.zi_bp[row] = signal.lfilter_zi(*self.bp_ba) * x[start]
                self.restart_at[row] = self.n_seen + start
                self.in_gap[row] = False
                self.settle_left[row] = self.settle if self.started[row] else 0
                self.started[row] = True
            blank = int(min(self.settle_left[row], stop - start))
            self.settle_left[row] -= blank
            before_restart = int(self.restart_at[row]) - (self.n_seen + start - k)
            self._filter_rows(x[start:stop], work, row, t0 + start, blank, before_restart)

    def _filter_rows(
        self,
        x: FloatArray,
        work: FloatArray,
        rows: int | slice | IntArray,
        at: int,
        blank: int = 0,
        before_restart: int = 0,
        peak: float | None = None,
    ) -> None:
        """Filter ``x`` (m,) or (k, m), the next samples of lead(s) ``rows``, updating state.

        ``work`` (4, .) or (4, k, .) holds those leads only: results go to its columns
        ``at : at + m``, after the history they continue. The first ``before_restart``
        band-passed samples the difference looks back at read as zero; the first ``blank``
        slopes do not feed the integrator. ``peak`` is ``max(|x|)`` if known.
        """
        k, m, w = self.k_der, x.shape[-1], self.w_mwi
        bp, self.zi_bp[rows] = _lfilter(*self.bp_ba, x, -1, self.zi_bp[rows])
        work[0, ..., at : at + m] = bp
        lag = work[0, ..., at - k : at - k + m]
        if before_restart > 0:
            lag = lag.copy()
            lag[..., :before_restart] = 0.0
        der = work[1, ..., at : at + m]
        np.subtract(bp, lag, out=der)
        slope = np.abs(der, out=work[3, ..., at : at + m])
        if peak is None:
            peak = float(_max(np.abs(x), axis=None))
        # Rounding is monotone: no slope is under FLAT_FLOOR * |x| if none is under that of max|x|.
        if not _min(slope, axis=None) > FLAT_FLOOR * peak:
            slope[slope <= FLAT_FLOOR * np.abs(x)] = 0.0
        if blank:
            slope[..., :blank] = 0.0
        slope *= self.mwi_tap  # the products b * x of the MWI's FIR recursion
        _window_sums(work[3, ..., at - w + 1 : at + m], w, work[2, ..., at : at + m])

    def _candidates(self, seg: FloatArray, origin: int, last: int) -> list[list[Candidate]]:
        """Examine absolute samples ``next_check..last``; ``seg[..., 0]`` is sample ``origin``."""
        found: list[list[Candidate]] = [[] for _ in range(self.n_streams)]
        first = self.next_check
        if last >= first:
            self.next_check = last + 1
            lo, h = first - origin - self.hold, self.hold
            rows, cols = _maybe_peaks(seg[2, :, lo : last - origin + h + 1], h)
            self._describe_many(seg, rows, cols + (lo + h), origin, found)
        return found

    def _describe(
        self, lead: FloatArray, cols: list[int], base: int, origin: int, out: list[Candidate]
    ) -> None:
        """Append the MWI peaks among columns ``base + cols`` of one lead's ``lead`` to ``out``:
        :meth:`_describe_many` one peak at a time, cheaper for a few."""
        h, pre, post, r_pre = self.hold, self.bls_pre, self.bls_post, self.refine_pre
        bp, der, mwi = lead[0], lead[1], lead[2]
        for col in cols:
            col += base
            if mwi[col - h : col + h + 1].argmax() != h:
                continue
            amp = mwi.item(col)
            if not amp > 0:
                continue
            slopes = der[col - pre : col + post + 1]
            i_max, i_min = int(slopes.argmax()), int(slopes.argmin())
            d_max, d_min = slopes.item(i_max), -slopes.item(i_min)
            ok = d_max > d_min / 8 and d_min > d_max / 8 and abs(i_max - i_min) < self.bls_gap
            i_r = int(np.abs(bp[col - r_pre : col + 1]).argmax())
            r_idx = max(col - r_pre + i_r + origin - self.group_delay, 0)
            slope = d_max if d_max >= d_min else d_min
            out.append(Candidate(col + origin, amp, slope, r_idx, ok))

    def _describe_many(
        self,
        seg: FloatArray,
        rows: IntArray,
        cols: IntArray,
        origin: int,
        found: list[list[Candidate]],
    ) -> None:
        """Append the MWI peaks among ``(rows, cols)`` of ``seg`` to ``found``, all at once."""
        h = self.hold
        window = seg[2][rows[:, None], cols[:, None] + _span(-h, h + 1)]
        # A peak is the first maximum of its window: larger than every earlier sample.
        keep = (np.argmax(window, axis=1) == h) & (window[:, h] > 0)
        rows, cols = rows[keep], cols[keep]
        der = seg[1][rows[:, None], cols[:, None] + _span(-self.bls_pre, self.bls_post + 1)]
        i_max, i_min = np.argmax(der, axis=1), np.argmin(der, axis=1)
        pick = np.arange(rows.size)
        d_max, d_min = der[pick, i_max], -der[pick, i_min]
        ok = (d_max > d_min / 8) & (d_min > d_max / 8) & (np.abs(i_max - i_min) < self.bls_gap)
        window = np.abs(seg[0][rows[:, None], cols[:, None] + _span(-self.refine_pre, 1)])
        r_idx = cols - self.refine_pre + np.argmax(window, axis=1)
        r_idx = np.maximum(r_idx + origin - self.group_delay, 0)
        fields = (cols + origin, seg[2, rows, cols], np.maximum(d_max, d_min), r_idx, ok)
        for row, *values in zip(rows.tolist(), *(f.tolist() for f in fields), strict=True):
            found[row].append(Candidate(*values))


def _maybe_peaks(y: FloatArray, h: int) -> tuple[IntArray, ...]:
    """The samples of ``y`` (1-D, or 2-D with one lead per row) that may be MWI peaks, as
    ``np.nonzero`` gives them, columns counted from ``h``.

    An MWI peak is a sample ``> 0`` that is the first maximum of ``y[..., c-h : c+h+1]``: the
    largest, and strictly above the earlier samples (ties go to the earliest); only columns
    ``h <= c < y.shape[-1] - h`` (with a whole window) are examined. This keeps the samples
    that pass that test against their nearest and farthest neighbours on each side (about 4
    per second of ECG out of 15 local maxima); the caller checks the rest of the window.
    """
    n = y.shape[-1] - 2 * h
    if n <= 0:
        return tuple(np.zeros(0, dtype=np.intp) for _ in range(y.ndim))
    mid = y[..., h : h + n]
    keep = mid > np.maximum(y[..., h - 1 : h - 1 + n], y[..., :n])
    keep &= mid >= np.maximum(y[..., h + 1 : h + 1 + n], y[..., 2 * h : 2 * h + n])
    return keep.nonzero()


def _window_sums_by_adds(p: FloatArray, w: int, out: FloatArray) -> None:
    """``out[..., i] = (((p[..., i] + p[..., i+1]) + ...) + p[..., i+w-1])``, one add a term."""
    m = out.shape[-1]
    np.copyto(out, p[..., :m])
    for j in range(1, w):
        out += p[..., j : j + m]


def _window_sums(p: FloatArray, w: int, out: FloatArray) -> None:
    """Sums of ``w`` consecutive values of ``p`` (along the last axis), added left to right.

    This is the moving-window integrator: ``lfilter``'s recursion for a FIR of ``w`` equal taps
    ``b`` computes exactly ``((b*x[i] + b*x[i+1]) + ...) + b*x[i+w-1]``. One ``np.add.reduce``
    over the ``(w, m)`` window view adds row after row, i.e. in that order (numpy sums
    pairwise only along the innermost axis, which here is the ``m`` outputs), at a third of
    the recursion's cost. A single output column would make the window axis innermost, hence
    the blocks of at least two columns, and the explicit adds if numpy ever sums differently.
    """
    m, step, lo = out.shape[-1], p.strides[-1], 0
    if m < 2 or not _REDUCE_ADDS_IN_ORDER:
        _window_sums_by_adds(p, w, out)
        return
    while lo < m:
        hi = m if m - lo < 2 * SUM_BLOCK else lo + SUM_BLOCK  # cache-sized, never 1 column
        view = as_strided(p[..., lo:], (*p.shape[:-1], w, hi - lo), (*p.strides[:-1], step, step))
        np.add.reduce(view, axis=-2, out=out[..., lo:hi])
        lo = hi


def _group_delay(ba: tuple[FloatArray, FloatArray], fs_hz: float) -> int:
    """Band-pass group delay (samples) at the geometric centre of the pass band."""
    f0 = float(np.sqrt(BAND_HZ[0] * BAND_HZ[1]))
    _, gd = signal.group_delay(ba, w=[f0], fs=fs_hz)
    return round(float(gd[0]))


def _lfilter_public(
    b: FloatArray, a: FloatArray, x: FloatArray, axis: int, zi: FloatArray
) -> tuple[FloatArray, FloatArray]:
    y, zf = signal.lfilter(b, a, x, axis=axis, zi=zi)
    return y, zf


def _checked_kernels() -> tuple[Callable[..., tuple[FloatArray, FloatArray]], bool]:
    """``(lfilter, reduce_adds_in_order)``, checked once on test inputs.

    ``lfilter(b, a, x, axis, zi)`` is scipy's compiled ``_sigtools._linear_filter``, to which
    ``signal.lfilter`` hands its arrays unchanged when ``a`` has two or more taps (same bits,
    without ~15 us of argument handling), if it exists and agrees with ``signal.lfilter``.
    The flag says whether ``np.add.reduce`` over a window axis adds in order (``_window_sums``).
    """
    rng = np.random.default_rng(0)
    core: Any = getattr(getattr(signal, "_sigtools", None), "_linear_filter", None)
    b, a = rng.normal(size=5), np.r_[1.0, 0.1 * rng.normal(size=4)]
    x, zi = rng.normal(size=(2, 50)), rng.normal(size=(2, 4))
    try:
        for xs, zs in ((x, zi), (x[0], zi[0])):
            got, want = core(b, a, xs, -1, zs), _lfilter_public(b, a, xs, -1, zs)
            core = core if all(map(np.array_equal, got, want)) else None
    except Exception:  # absent, or a changed signature: not the function we know
        core = None
    in_order = True
    for shape in ((2,), (3,), (9,), (100,), (3, 2), (3, 50)):
        p = rng.random((*shape[:-1], shape[-1] + 42)) * 10.0 ** rng.integers(-8, 8)
        sums, by_adds = np.empty(shape), np.empty(shape)
        _window_sums_by_adds(p, 43, by_adds)
        view = as_strided(p, (*shape[:-1], 43, shape[-1]), (*p.strides[:-1], 8, 8))
        in_order &= bool(np.array_equal(np.add.reduce(view, axis=-2, out=sums), by_adds))
    return (core or _lfilter_public), in_order


_lfilter, _REDUCE_ADDS_IN_ORDER = _checked_kernels()
_max, _min = np.maximum.reduce, np.minimum.reduce
