"""Ectopy-robust RR features for the AF detector (``telemed_signal.af``): streaming pieces.

Premature beats and their compensatory pauses make RR intervals irregular without AF
(bigeminy, trigeminy, couplets: MIT-BIH 106 and 233). Two features tell that irregularity
from AF's, both causal and computed per RR interval:

* **Mid-band irregularity.** Intervals within ``band`` (15 %) of the RR trend before them are
  the ones that are neither premature nor a pause. In sinus rhythm with ectopy they are the
  sinus (N-N) intervals and vary little; in AF they are a slice of a random distribution and
  still differ from one another. The feature is Petrėnas' pair measure (share of the pairs of
  the last N such intervals differing by >= gamma) on that subsequence, held between mid-band
  intervals (like the heart-rate-variability practice of scoring NN intervals only; Task
  Force of the ESC/NASPE 1996).
* **Pair-sum change** |(r(n) + r(n-1)) - (r(n-2) + r(n-3))|: a premature beat followed by a
  full compensatory pause keeps the two-interval sum near two sinus intervals, so in ectopy
  the sums change far less than single intervals do (negative lag-1 correlation of RR); for
  AF's nearly independent intervals the sum changes about sqrt(2) times as much as one
  interval (Moody & Mark 1983 note this negative correlation of ectopic RR sequences).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def pair_sum_change(r_all: FloatArray, start: int, count: int) -> FloatArray:
    """|r(k) + r(k-1) - r(k-2) - r(k-3)| (s) for k = start .. start + count - 1 (start >= 3)."""
    k = start + np.arange(count)
    return np.asarray(
        np.abs(r_all[k] + r_all[k - 1] - r_all[k - 2] - r_all[k - 3]), dtype=np.float64
    )


class MidBandIrregularity:
    """Streaming mid-band irregularity: ``update(rr, trend_before)`` returns, per interval, the
    share of pairs of the last ``window`` mid-band intervals that differ by >= ``gamma_s``
    (0 until ``window`` mid-band intervals have been seen); state: that window and the value."""

    def __init__(self, window: int, gamma_s: float, band: float) -> None:
        self.window, self.gamma_s, self.band = window, gamma_s, band
        self.mid: list[float] = []
        self.value = 0.0

    def update(self, rr: FloatArray, trend_before: FloatArray) -> FloatArray:
        """``rr`` (s) and the RR trend just before each interval (s); returns one value each."""
        is_mid = np.abs(rr - trend_before) <= self.band * trend_before
        new = rr[is_mid]
        n = self.window
        if not new.size:
            return np.full(rr.size, self.value)
        seq = np.concatenate((self.mid, new))
        ends = np.arange(len(self.mid), seq.size)  # index in seq of each new mid interval
        vals = np.zeros(ends.size)
        full = ends >= n - 1
        if full.any():
            win = seq[ends[full, None] - np.arange(n - 1, -1, -1)[None, :]]
            ii, jj = np.triu_indices(n, 1)
            vals[full] = np.count_nonzero(np.abs(win[:, ii] - win[:, jj]) >= self.gamma_s, 1)
            vals[full] /= ii.size
        # Each interval takes the value at the latest mid-band interval up to it.
        pos = np.cumsum(is_mid) - 1
        out = np.where(pos >= 0, vals[np.maximum(pos, 0)], self.value)
        self.mid = seq[-(n - 1) :].tolist() if n > 1 else []
        self.value = float(vals[-1])
        return np.asarray(out, dtype=np.float64)
