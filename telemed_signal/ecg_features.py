"""Streaming QRS feature extraction for the R-peak detector in :mod:`telemed_signal.ecg`.

The chain follows Hamilton & Tompkins (1986) and Hamilton's open-source detector (2002):
band-pass (here a 2nd-order Butterworth, 5-15 Hz), a 10 ms first difference, its absolute
value, and a moving-window integrator (MWI). Peaks are MWI samples that are the largest within
+/- ``PEAK_HALF_WIDTH_S`` (Hamilton's peak detector waits ~100 ms after a maximum); choosing
between nearby peaks is left to :mod:`telemed_signal.ecg_rules`.

Every filter keeps its state between chunks, and every decision about a sample waits until
its whole look-ahead window has arrived, so the output depends only on the samples, never on
how they were chunked. The band-pass is an ``lfilter`` recursion; the difference and the MWI
are computed from the stored history with the very operations, in the very order, of the
``lfilter`` recursions of those FIRs (see :class:`QrsFeatureStream`, :func:`_window_sums`), so
they are bit-exact whatever the chunking.

A single lead fed in chunks (the usual case) takes a hot path whose cost is per call, not per
sample: the slices of its buffers are made once per chunk size (:class:`_LeadPlan`), and when
numba is installed one compiled call (:func:`_steady_chunk`) does the whole chunk, after a
check that it reproduces the numpy path bit for bit; without numba the numpy path is used.

References:
    Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules using the
    MIT/BIH arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165 (1986).
    Hamilton P. Open source ECG analysis. Computers in Cardiology 29:101-104 (2002).
"""

from __future__ import annotations

import importlib
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
Kernel = Callable[..., int]

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
# Chunk sizes whose views a single-lead stream keeps (a stream is normally fed one size).
MAX_PLANS = 8


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
        self.plans: dict[int, _LeadPlan] = {}  # by chunk size; views of ``work``, not pickled

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["work"] = self.work[:, :, : self.tail_len].copy()  # without the room
        del state["plans"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.plans = {}

    def push(self, x: FloatArray) -> list[list[Candidate]]:
        """Consume ``x`` (n, m); per lead, the candidates whose look-ahead is now complete."""
        m, t0 = x.shape[1], self.tail_len
        work = self.work
        if work.shape[2] < t0 + m:
            work = np.empty((4, self.n_streams, t0 + m))
            work[:, :, :t0] = self.work[:, :, :t0]
            if m <= MAX_ROOM:
                self.work, self.plans = work, {}
        if m:
            self._filter(x, work)
        self.n_seen += m
        found = self._candidates(work, self.n_seen - t0 - m, self.n_seen - 1 - self.lookahead)
        self.work[:, :, :t0] = work[:, :, m : m + t0]  # the new tail (numpy handles overlap)
        return found

    def push_lead(self, x: FloatArray) -> list[Candidate]:
        """``push`` for a single-lead stream fed ``x`` (1-D): the candidates of that lead.

        The hot path of a stream fed in chunks: once the stream is steady (no gap pending,
        past its first look-ahead), a finite chunk of 2 to ``2 * SUM_BLOCK - 1`` samples that
        fits the room goes through the compiled kernel, or else is filtered in 1-D through the
        views of a :class:`_LeadPlan` and its few peaks described one by one; anything else
        (a gap, the first chunks, a chunk of 1 or of more than ``MAX_ROOM``) goes through
        :meth:`push`. All paths give the same bits.
        """
        m = x.size
        plan = self.plans.get(m)
        if plan is None and self.steady and 2 <= m < 2 * SUM_BLOCK and _REDUCE_ADDS_IN_ORDER:
            if m <= self.work.shape[2] - self.tail_len:
                if len(self.plans) >= MAX_PLANS:
                    self.plans.clear()
                plan = self.plans[m] = _LeadPlan(self, m, _steady_kernel())
        if plan is not None and self.steady and self.next_check == self.n_seen - self.lookahead:
            if plan.kernel is not None:
                found = self._push_compiled(x, plan, plan.kernel)
                if found is not None:
                    return found
            else:
                squares = x.dot(x)  # inf or NaN if a sample is not finite
                if squares < math.inf:
                    return self._push_planned(x, plan, float(squares))
        return self.push(x[None, :])[0]

    def _push_compiled(
        self, x: FloatArray, plan: _LeadPlan, kernel: Kernel
    ) -> list[Candidate] | None:
        """:meth:`_push_planned` in one call of ``kernel`` (:func:`_steady_chunk` compiled);
        None if ``x`` is not all finite, and then nothing has changed."""
        b, a = self.bp_ba
        n = kernel(x, plan.lead, plan.zi, b, a, plan.sizes, self.mwi_tap, plan.found)
        if n < 0:
            return None
        m = x.size
        self.n_seen += m
        self.next_check += m
        origin, delay = self.n_seen - self.tail_len - m, self.group_delay
        return [
            Candidate(int(col) + origin, amp, slope, max(int(r_col) + origin - delay, 0), ok > 0)
            for col, amp, slope, r_col, ok in zip(*plan.found[:, :n].tolist(), strict=True)
        ]

    def _push_planned(self, x: FloatArray, plan: _LeadPlan, squares: float) -> list[Candidate]:
        """:meth:`_filter_rows` and :meth:`_candidates` for a steady lead, on ``plan``'s views.

        ``squares`` is ``x @ x``, whose root bounds ``max|x|`` for the flat-slope shortcut.
        """
        bp, self.zi_bp[0] = _lfilter(*self.bp_ba, x, -1, self.zi_bp[0])
        plan.bp[...] = bp
        der, slope = plan.der, plan.slope
        np.subtract(bp, plan.lag, out=der)
        np.abs(der, out=slope)
        # sqrt(x @ x) >= max|x| unless the squares underflow; the bound only skips the masking.
        bound = math.sqrt(squares) * 1.000001 if squares > 1e-290 else float(np.abs(x).max())
        if not slope.item(slope.argmin()) > FLAT_FLOOR * bound:
            slope[slope <= FLAT_FLOOR * np.abs(x)] = 0.0
        np.multiply(slope, self.mwi_tap, out=slope)
        np.add.reduce(plan.mwi_in, axis=0, out=plan.mwi)
        # _maybe_peaks on the columns examined: the chunk's m samples, lookahead back
        keep, other = plan.keep, plan.other
        np.maximum(plan.near, plan.far, out=plan.sides)
        np.greater(plan.mid, plan.side_lo, out=keep)
        np.greater_equal(plan.mid, plan.side_hi, out=other)
        keep &= other
        (cols,) = keep.nonzero()
        m = x.size
        self.n_seen += m
        self.next_check += m
        origin = self.n_seen - self.tail_len - m
        found: list[Candidate] = []
        if cols.size <= FEW_PEAKS:
            self._describe(self.work[:, 0], cols.tolist(), plan.base, origin, found)
        elif cols.size:
            self._describe_many(self.work, 0 * cols, cols + plan.base, origin, [found])
        plan.tail[...] = plan.next_tail
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
        :meth:`_describe_many` one peak at a time, cheaper for a few (``lead`` is finite)."""
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
            # argmax(|near|) without the |.| array: the first extreme of the larger magnitude
            near = bp[col - r_pre : col + 1]
            i_hi, i_lo = int(near.argmax()), int(near.argmin())
            hi, lo = near.item(i_hi), -near.item(i_lo)
            i_r = i_hi if hi > lo else i_lo if lo > hi else min(i_hi, i_lo)
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


class _LeadPlan:
    """Views of lead 0's ``work`` rows, and scratch arrays, for chunks of ``m`` samples.

    The tail is moved to the front of ``work`` after every chunk, so a steady stream filters
    each chunk of a given size into the same columns and examines the same columns for
    peaks: the slices are made once per chunk size instead of once per call. Column ``t0``
    is the chunk's first sample; the peaks examined are the ``m`` columns from ``base``.
    """

    def __init__(self, s: QrsFeatureStream, m: int, kernel: Kernel | None) -> None:
        t0, k, w, h = s.tail_len, s.k_der, s.w_mwi, s.hold
        bp, der, mwi, mwi_in = s.work[:, 0]
        self.bp, self.lag = bp[t0 : t0 + m], bp[t0 - k : t0 - k + m]
        self.der, self.slope, self.mwi = der[t0 : t0 + m], mwi_in[t0 : t0 + m], mwi[t0 : t0 + m]
        step = mwi_in.strides[0]
        self.mwi_in = as_strided(mwi_in[t0 - w + 1 :], (w, m), (step, step))  # _window_sums
        self.base = base = t0 - s.lookahead
        self.mid = mwi[base : base + m]
        # Rows: the nearest and the farthest neighbours, before and after each examined sample.
        self.near = as_strided(mwi[base - 1 :], (2, m), (2 * step, step))
        self.far = as_strided(mwi[base - h :], (2, m), (2 * h * step, step))
        self.sides = np.empty((2, m))
        self.side_lo, self.side_hi = self.sides
        self.keep, self.other = np.empty(m, dtype=bool), np.empty(m, dtype=bool)
        self.tail, self.next_tail = s.work[:, 0, :t0], s.work[:, 0, m : m + t0]
        # For the compiled kernel (see _steady_chunk), when there is one.
        self.kernel = kernel
        self.lead, self.zi = s.work[:, 0], s.zi_bp[0]
        sizes = (t0, k, w, h, s.bls_pre, s.bls_post, s.refine_pre, s.bls_gap, base)
        self.sizes = np.array(sizes, dtype=np.int64)
        self.found = np.empty((5, m))


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


def _steady_chunk(
    x: FloatArray,
    lead: FloatArray,
    zi: FloatArray,
    b: FloatArray,
    a: FloatArray,
    sizes: npt.NDArray[np.int64],
    tap: float,
    found: FloatArray,
) -> int:
    """:meth:`QrsFeatureStream._push_planned` as one loop nest, for numba to compile.

    ``lead`` is lead 0's ``work`` (4, .), ``zi`` its band-pass state, ``b``/``a`` the 4th-order
    band-pass, ``sizes`` = (tail_len, k_der, w_mwi, hold, bls_pre, bls_post, refine_pre,
    bls_gap, first column examined). Filters ``x`` after the tail, writes the MWI peaks of the
    examined columns to ``found`` (rows: column, amp, max_slope, R column, baseline_ok; one
    peak a column), moves the tail to the front and returns the number of peaks; or -1, with
    nothing changed, if ``x`` is not all finite or the band-pass is not of 4th order (then
    :meth:`QrsFeatureStream.push` takes the chunk). Each value comes from the same operations, in
    the same order, as on the numpy path (scipy's direct form II transposed recursion, the
    in-order window sums, first maxima), so the bits are the same; :func:`_steady_kernel`
    checks that before the kernel is used. One function on purpose: each call costs ~0.3 us.
    """
    t0, k, w, h, pre, post, r_pre, gap, base = sizes
    m = x.size
    if zi.size != 4 or b.size != 5 or a.size != 5:  # indexed below without bounds checks
        return -1
    for i in range(m):
        if not abs(x[i]) < math.inf:
            return -1
    bp, der, mwi, mwi_in = lead[0], lead[1], lead[2], lead[3]
    z0, z1, z2, z3 = zi[0], zi[1], zi[2], zi[3]
    for i in range(m):
        y = z0 + b[0] * x[i]
        z0 = z1 + b[1] * x[i] - a[1] * y
        z1 = z2 + b[2] * x[i] - a[2] * y
        z2 = z3 + b[3] * x[i] - a[3] * y
        z3 = b[4] * x[i] - a[4] * y
        bp[t0 + i] = y
    zi[0], zi[1], zi[2], zi[3] = z0, z1, z2, z3
    for i in range(t0, t0 + m):
        der[i] = bp[i] - bp[i - k]
        slope = abs(der[i])
        mwi_in[i] = 0.0 if slope <= FLAT_FLOOR * abs(x[i - t0]) else slope * tap
    terms = mwi_in[t0 - w + 1 : t0 + m].copy()  # fresh arrays, so the adds vectorise
    sums = terms[:m].copy()
    for j in range(1, w):
        for i in range(m):
            sums[i] += terms[i + j]
    mwi[t0 : t0 + m] = sums
    n = 0
    for c in range(base, base + m):
        v = mwi[c]
        if not (v > 0 and v > mwi[c - 1] and v > mwi[c - h] and v >= mwi[c + 1]):
            continue
        if not (v >= mwi[c + h] and (mwi[c - h : c] < v).all() and (mwi[c : c + h + 1] <= v).all()):
            continue
        i_max = i_min = c - pre
        for j in range(c - pre + 1, c + post + 1):
            if der[j] > der[i_max]:
                i_max = j
            if der[j] < der[i_min]:
                i_min = j
        d_max, d_min = der[i_max], -der[i_min]
        i_r = c - r_pre
        for j in range(c - r_pre + 1, c + 1):
            if abs(bp[j]) > abs(bp[i_r]):
                i_r = j
        found[0, n], found[1, n], found[3, n] = c, v, i_r
        found[2, n] = d_max if d_max >= d_min else d_min
        ok = d_max > d_min / 8 and d_min > d_max / 8 and abs(i_max - i_min) < gap
        found[4, n] = 1.0 if ok else 0.0
        n += 1
    for row in range(4):
        lead[row, :t0] = lead[row, m : m + t0].copy()
    return n


@lru_cache(maxsize=1)
def _steady_kernel() -> Kernel | None:
    """:func:`_steady_chunk` compiled by numba (cached on disk), if numba is installed and the
    kernel reproduces the numpy path bit for bit on a test stream; else None, and the numpy
    path (:meth:`QrsFeatureStream._push_planned`) is used. Made on first use: ~4 s to compile,
    ~0.7 s with numba's cache (importing numba, loading, checking)."""
    try:
        numba: Any = importlib.import_module("numba")
        kernel: Kernel = numba.njit(cache=True, nogil=True)(_steady_chunk)
        return kernel if _same_as_numpy(kernel) else None
    except Exception:  # no numba, or one that cannot compile this: the numpy path serves
        return None


def _same_as_numpy(
    kernel: Kernel, x: FloatArray | None = None, fs: float = 360.0, m: int = 252
) -> bool:
    """Whether ``kernel`` gives the numpy path's candidates, work rows and filter state on
    ``x`` (finite, at ``fs`` Hz) fed in chunks of ``m`` samples; by default on 30 s of a
    synthetic ECG (spikes, noise, a flat stretch) in 0.7 s chunks."""
    if x is None:
        t = np.arange(round(30 * fs)) / fs
        noise = 0.05 * np.random.default_rng(2).normal(size=t.size)
        x = np.exp(-0.5 * ((t % 0.83 - 0.4) / 0.012) ** 2) + noise
        x[3000:4500] = 0.7  # flat: the slopes decay under FLAT_FLOOR and are zeroed
    streams = (QrsFeatureStream(fs), QrsFeatureStream(fs))
    for s in streams:
        s.push(x[None, :m])
    fast, slow = _LeadPlan(streams[0], m, kernel), _LeadPlan(streams[1], m, None)
    for lo in range(m, x.size - m + 1, m):
        chunk = x[lo : lo + m]
        if streams[0]._push_compiled(chunk, fast, kernel) != streams[1]._push_planned(
            chunk, slow, float(chunk @ chunk)
        ):
            return False
    a, b = streams
    return np.array_equal(a.work, b.work) and np.array_equal(a.zi_bp, b.zi_bp)
