"""Time-domain HRV over 5-min windows of NN intervals, with the minimum-data rules."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from telemed_signal.af import detect_af
from telemed_signal.hrv import HrvRules, HrvStream, HrvWindow, hrv_time_domain
from tests import physionet

FloatArray = npt.NDArray[np.float64]


def _times(rr_s: FloatArray) -> FloatArray:
    return np.concatenate(([0.0], np.cumsum(rr_s)))


def _sinus_rr(n: int, seed: int = 0) -> FloatArray:
    """NN intervals around 0.8 s whose neighbours never differ by 20 % (all normal)."""
    rng = np.random.default_rng(seed)
    return np.asarray(0.8 + 0.04 * np.sin(np.arange(n) / 3.0) + rng.normal(0, 0.02, n))


def _expected(rr: FloatArray) -> tuple[float, float, float]:
    """Task Force definitions, straight from the formulas: SDNN, RMSSD (ms), pNN50 (%)."""
    d = np.diff(rr)
    return (
        1000 * float(np.std(rr, ddof=1)),
        1000 * float(np.sqrt(np.mean(d**2))),
        100 * float(np.sum(np.abs(d) > 0.05)) / rr.size,
    )


def _first(windows: list[HrvWindow]) -> HrvWindow:
    assert windows, "no window"
    return windows[0]


def test_time_domain_measures_match_the_task_force_formulas() -> None:
    rr = _sinus_rr(800)
    t = _times(rr)
    w = _first(hrv_time_domain(t))
    in_first = t[1:] < 300.0
    sdnn, rmssd, pnn50 = _expected(rr[in_first])
    assert w.valid and w.start_s == 0.0 and w.end_s == 300.0
    assert w.n_nn == in_first.sum()
    assert w.sdnn_ms == pytest.approx(sdnn, rel=1e-9)
    assert w.rmssd_ms == pytest.approx(rmssd, rel=1e-9)
    assert w.pnn50_pct == pytest.approx(pnn50, rel=1e-9)
    assert w.mean_nn_ms == pytest.approx(1000 * rr[in_first].mean(), rel=1e-9)


def test_ectopic_beat_and_its_pause_are_left_out() -> None:
    rr = _sinus_rr(360)
    with_pvc = rr.copy()
    with_pvc[100], with_pvc[101] = 0.5, 1.12  # premature beat and compensatory pause
    w = _first(hrv_time_domain(_times(with_pvc), origin_s=0.0))
    keep = np.ones(rr.size, bool)
    keep[[100, 101]] = False
    in_window = _times(with_pvc)[1:] < 300.0
    nn = with_pvc[keep & in_window]
    assert w.n_nn == nn.size and w.n_intervals == in_window.sum()
    assert w.sdnn_ms == pytest.approx(1000 * np.std(nn, ddof=1), rel=1e-9)
    # Differences only between adjacent NN intervals: the two around the PVC are dropped.
    first = with_pvc[: in_window.sum()]
    d = np.diff(first)
    ok = np.ones(d.size, bool)
    ok[[99, 100, 101]] = False  # 99-100, 100-101, 101-102 touch an excluded interval
    assert w.rmssd_ms == pytest.approx(1000 * np.sqrt(np.mean(d[ok] ** 2)), rel=1e-9)


def test_window_with_a_gap_is_invalid_with_its_reason() -> None:
    rr = _sinus_rr(600)
    rr[50] = 120.0  # two minutes without beats (a long interval, not NN)
    w = _first(hrv_time_domain(_times(rr)))
    assert not w.valid and np.isnan(w.sdnn_ms) and "cover" in w.reason


def test_irregular_rhythm_gives_no_hrv() -> None:
    rng = np.random.default_rng(1)
    rr = np.clip(rng.normal(0.65, 0.15, 1000), 0.3, 1.5)
    windows = hrv_time_domain(_times(rr))
    assert windows and not any(w.valid for w in windows)


def test_excluded_beats_are_not_nn() -> None:
    rr = _sinus_rr(800)
    t = _times(rr)
    skip = np.zeros(t.size, bool)
    skip[10:200] = True
    w = _first(hrv_time_domain(t, excluded=skip))
    assert not w.valid and w.n_nn == (t[1:] < 300).sum() - 190


def test_empty_short_and_bad_input() -> None:
    assert hrv_time_domain(np.array([3.0])) == []
    assert hrv_time_domain(np.empty(0)) == []
    with pytest.raises(ValueError):
        hrv_time_domain(np.array([0.0, np.nan, 2.0]))
    with pytest.raises(ValueError):
        hrv_time_domain(np.array([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError):
        HrvRules(window_s=-1.0)
    with pytest.raises(ValueError):
        hrv_time_domain(np.array([0.0, 1.0]), excluded=[True])
    stream = HrvStream()
    stream.process(np.array([0.0, 1.0]))
    assert len(stream.flush()) == 1
    with pytest.raises(ValueError):  # flush ends the stream
        stream.process(np.array([2.0]))


def test_stream_matches_batch_and_survives_checkpoints() -> None:
    rr = _sinus_rr(2000, seed=3)
    rr[[300, 301, 900]] = [0.5, 1.1, 0.3]
    t = _times(rr)
    expected = hrv_time_domain(t)
    stream, got = HrvStream(), []
    for chunk in np.array_split(t, 53):
        got += stream.process(chunk)
        stream = HrvStream.from_state(json.loads(json.dumps(stream.to_state())))
    got += stream.flush()
    assert len(got) == len(expected) >= 5
    for a, b in zip(got, expected, strict=True):
        assert a.valid == b.valid and a.n_nn == b.n_nn
        assert a.sdnn_ms == pytest.approx(b.sdnn_ms, rel=1e-9, nan_ok=True)
        assert a.rmssd_ms == pytest.approx(b.rmssd_ms, rel=1e-9, nan_ok=True)


def test_afdb_sinus_windows_are_valid_and_af_windows_are_not() -> None:
    """Record 08378 (.qrs beats): 5-min windows entirely in sinus rhythm vs entirely in AF."""
    import wfdb

    path = str(physionet.record("afdb", "08378", ext="qrs"))
    qrs, atr = wfdb.rdann(path, "qrs"), wfdb.rdann(path, "atr")
    t = np.asarray(qrs.sample, dtype=np.float64) / 250.0
    notes = np.array([a.rstrip("\x00") for a in atr.aux_note])
    idx = np.searchsorted(atr.sample, qrs.sample, side="right") - 1
    in_af = notes[np.maximum(idx, 0)] == "(AFIB"
    windows = hrv_time_domain(t, excluded=detect_af(t))
    share = [in_af[(t >= w.start_s) & (t < w.end_s)].mean() for w in windows]
    sinus = [w for w, s in zip(windows, share, strict=True) if s == 0.0]
    af = [w for w, s in zip(windows, share, strict=True) if s == 1.0]
    assert len(sinus) > 50 and len(af) > 10
    assert np.mean([w.valid for w in sinus]) >= 0.95
    assert not any(w.valid for w in af)
    assert 5.0 < float(np.nanmedian([w.rmssd_ms for w in sinus])) < 60.0
