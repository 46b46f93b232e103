"""R-peak detector: accuracy on real MIT-BIH records, streaming invariance, robustness."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal
from scipy.signal import resample_poly

from telemed_signal import ecg_features
from telemed_signal.ecg import (
    BEAT_SYMBOLS,
    MAX_DELAY_S,
    RPeakDetector,
    RPeakDetectorBank,
    detect_r_peaks,
    match_beats,
)
from telemed_signal.ecg_features import (
    QrsFeatureStream,
    _LeadPlan,
    _lfilter,
    _same_as_numpy,
    _steady_kernel,
    _window_sums,
)
from tests import physionet

MITDB_RECORDS = ("100", "102", "103", "104", "105", "106", "107")
#: The records the project carries (channel 0, whole length): clean, paced, noisy, PVCs.
SHIPPED_RECORDS = ("100", "104", "105", "106")

# F1 floors (%) at 150 ms over whole records (no learning period left out), set ~0.05 points
# under what the detector reaches (see bench/bench_qrs.py); 99.3 is the contract's minimum.
F1_FLOOR_PCT = {
    "100": 99.95,
    "102": 99.95,
    "103": 99.95,
    "104": 99.77,
    "105": 99.30,
    "106": 99.92,
    "107": 99.90,
}
AGGREGATE_F1_FLOOR_PCT = 99.80
#: Aggregate F1 over the shipped records (100, 104, 105, 106): measured 99.76 (TP 9088, FP 30,
#: FN 13), floor set 0.06 points under it.
SHIPPED_AGGREGATE_F1_FLOOR_PCT = 99.70
# Count and SHA-256 (little-endian int64) of the R peaks found in channel 0, pinned before the
# detector was made faster: speed work must not move a single beat.
PINNED_BEATS = {
    "100": (2273, "39daefd55162a3b1e16dddb5e60eb46eabb320fb76e3e411ab226acec074fbbe"),
    "105": (2582, "32e1f2bb6bb7004ebde362efa7cbcc36f47c2229021fe63453288fb1aef69b50"),
}


@dataclass(frozen=True)
class BeatRecord:
    """Channel 0 of a MIT-BIH record (mV) with its reference beat sample indices."""

    name: str
    fs_hz: float
    ecg_mv: npt.NDArray[np.float64]
    beats: npt.NDArray[np.int64]


@cache
def _load_mitdb(name: str) -> BeatRecord:
    import wfdb

    path = str(physionet.record("mitdb", name))
    record = wfdb.rdrecord(path, channels=[0])
    ann = wfdb.rdann(path, "atr")
    keep = np.array([s in BEAT_SYMBOLS for s in ann.symbol], dtype=bool)
    return BeatRecord(
        name=name,
        fs_hz=float(record.fs),
        ecg_mv=np.asarray(record.p_signal[:, 0], dtype=np.float64),
        beats=np.asarray(ann.sample, dtype=np.int64)[keep],
    )


@pytest.fixture(scope="module")
def mitdb() -> dict[str, BeatRecord]:
    """The MIT-BIH Arrhythmia records the project carries, read once."""
    return {name: _load_mitdb(name) for name in SHIPPED_RECORDS}


@pytest.fixture(params=["compiled", "numpy"])
def hot_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Streams fed in chunks run on the compiled kernel, then on its pure-numpy fallback."""
    if request.param == "compiled":
        assert _steady_kernel() is not None, "numba missing, or its kernel is not bit-exact"
    else:
        monkeypatch.setattr(ecg_features, "_steady_kernel", lambda: None)
    return str(request.param)


def _f1_pct(tp: int, fp: int, fn: int) -> float:
    return 200.0 * tp / (2 * tp + fp + fn)


def _stream(detector: RPeakDetector, x: npt.NDArray[np.float64], sizes: list[int]) -> list[int]:
    out: list[int] = []
    start = 0
    for n in sizes:
        out += detector.process(x[start : start + n]).tolist()
        start += n
    out += detector.process(x[start:]).tolist()
    return out + detector.flush().tolist()


# --- matcher -----------------------------------------------------------------------------


def test_match_beats_counts_exact_hits_as_true_positives() -> None:
    assert match_beats([100, 400, 700], [100, 400, 700], fs_hz=100) == (3, 0, 0)


def test_match_beats_rejects_detections_beyond_tolerance() -> None:
    # 150 ms at 100 Hz is 15 samples: 415 matches 400, 716 does not match 700.
    assert match_beats([415, 716], [400, 700], fs_hz=100) == (1, 1, 1)


def test_match_beats_is_one_to_one() -> None:
    # Two detections near one beat: one true positive, one false positive.
    assert match_beats([98, 103], [100], fs_hz=100) == (1, 1, 0)
    # One detection between two beats serves only one of them.
    assert match_beats([105], [100, 110], fs_hz=100) == (1, 0, 1)


def test_match_beats_takes_the_nearest_free_detection() -> None:
    # Beat 100 takes 104 (nearer than 92); beat 110 is then left with 120.
    assert match_beats([92, 104, 120], [100, 110], fs_hz=100) == (2, 1, 0)


def test_match_beats_handles_empty_inputs() -> None:
    assert match_beats([], [1, 2], fs_hz=100) == (0, 0, 2)
    assert match_beats([1, 2], [], fs_hz=100) == (0, 2, 0)


def test_match_beats_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        match_beats([1], [1], fs_hz=0)


# --- accuracy on real records ------------------------------------------------------------


@cache
def _counts(name: str) -> tuple[int, int, int]:
    rec = _load_mitdb(name)
    return match_beats(detect_r_peaks(rec.ecg_mv, rec.fs_hz), rec.beats, rec.fs_hz)


@pytest.mark.parametrize("name", MITDB_RECORDS)
def test_accuracy_on_a_mitdb_record_meets_its_floor(name: str) -> None:
    assert _f1_pct(*_counts(name)) >= F1_FLOOR_PCT[name], (name, _counts(name))


def test_accuracy_over_the_shipped_records_meets_its_floor() -> None:
    totals = np.sum([_counts(name) for name in SHIPPED_RECORDS], axis=0)
    assert _f1_pct(*totals) >= SHIPPED_AGGREGATE_F1_FLOOR_PCT, tuple(totals)


def test_accuracy_over_all_development_records_meets_its_floor() -> None:
    totals = np.sum([_counts(name) for name in MITDB_RECORDS], axis=0)
    assert _f1_pct(*totals) >= AGGREGATE_F1_FLOOR_PCT, tuple(totals)


@pytest.mark.parametrize("name", sorted(PINNED_BEATS))
def test_beats_are_the_pinned_ones_offline_and_in_one_second_chunks(
    mitdb: dict[str, BeatRecord], name: str, hot_path: str
) -> None:
    rec, (count, digest) = mitdb[name], PINNED_BEATS[name]
    n = round(rec.fs_hz)
    streamed = _stream(RPeakDetector(rec.fs_hz), rec.ecg_mv, [n] * (rec.ecg_mv.size // n))
    for beats in (detect_r_peaks(rec.ecg_mv, rec.fs_hz), np.array(streamed, dtype=np.int64)):
        assert beats.size == count
        assert hashlib.sha256(beats.astype("<i8").tobytes()).hexdigest() == digest


@pytest.mark.parametrize("fs_hz", [130, 250, 1000])
@pytest.mark.parametrize("name", ["104", "106"])
def test_accuracy_holds_after_resampling(
    mitdb: dict[str, BeatRecord], name: str, fs_hz: int
) -> None:
    rec = mitdb[name]
    x = resample_poly(rec.ecg_mv, fs_hz, int(rec.fs_hz))
    beats = np.round(rec.beats * fs_hz / rec.fs_hz).astype(np.int64)
    counts = match_beats(detect_r_peaks(x, fs_hz), beats, fs_hz)
    assert _f1_pct(*counts) >= F1_FLOOR_PCT[name] - 0.05, counts


def test_peaks_land_on_the_r_wave(mitdb: dict[str, BeatRecord]) -> None:
    rec = mitdb["100"]
    det = detect_r_peaks(rec.ecg_mv, rec.fs_hz)
    nearest = np.searchsorted(det, rec.beats).clip(0, det.size - 1)
    error_ms = np.abs(det[nearest] - rec.beats) * 1000 / rec.fs_hz
    assert np.median(error_ms) <= 15


def test_same_beats_in_microvolts_as_in_millivolts(mitdb: dict[str, BeatRecord]) -> None:
    x = mitdb["105"].ecg_mv[: 360 * 120]
    np.testing.assert_array_equal(detect_r_peaks(x * 1000, 360), detect_r_peaks(x, 360))


# --- streaming ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def excerpt(mitdb: dict[str, BeatRecord]) -> npt.NDArray[np.float64]:
    """Two noisy minutes of record 105 followed by a paced minute of record 104."""
    return np.concatenate(
        (mitdb["105"].ecg_mv[360 * 1190 : 360 * 1310], mitdb["104"].ecg_mv[: 360 * 60])
    )


@pytest.mark.parametrize("chunk_s", [1.0, 0.37])
def test_fixed_chunks_give_the_same_beats_as_the_whole(
    excerpt: npt.NDArray[np.float64], chunk_s: float, hot_path: str
) -> None:
    whole = detect_r_peaks(excerpt, 360).tolist()
    n = round(chunk_s * 360)
    assert _stream(RPeakDetector(360), excerpt, [n] * (excerpt.size // n)) == whole
    assert len(whole) > 250


def test_ragged_chunks_with_single_samples_and_empties_give_the_same_beats(
    excerpt: npt.NDArray[np.float64], hot_path: str
) -> None:
    rng = np.random.default_rng(7)
    sizes = rng.choice([0, 1, 1, 2, 3, 17, 90, 361, 1500], size=2000).tolist()
    x = excerpt[: 360 * 60].copy()
    x[360 * 20 : 360 * 23] = np.nan
    x[360 * 40 + 7] = np.nan
    assert _stream(RPeakDetector(360), x, sizes) == detect_r_peaks(x, 360).tolist()


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(0, 360 * 25), max_size=40))
def test_any_chunking_gives_the_same_beats(cuts: list[int]) -> None:
    x = _synthetic_ecg(25.0, 360)
    bounds = np.diff(np.r_[0, np.sort(cuts)]).tolist()
    assert _stream(RPeakDetector(360), x, bounds) == detect_r_peaks(x, 360).tolist()


def test_peaks_are_reported_within_the_stated_delay(excerpt: npt.NDArray[np.float64]) -> None:
    detector = RPeakDetector(360)
    worst = 0
    for start in range(0, excerpt.size, 9):
        for peak in detector.process(excerpt[start : start + 9]).tolist():
            worst = max(worst, detector.n_samples - peak)
    assert 0 < worst <= MAX_DELAY_S * 360


def test_checkpoint_restores_the_stream(excerpt: npt.NDArray[np.float64], hot_path: str) -> None:
    first, second = excerpt[: 360 * 100 + 123], excerpt[360 * 100 + 123 :]
    detector = RPeakDetector(360)
    before = detector.process(first).tolist()
    restored: RPeakDetector = pickle.loads(pickle.dumps(detector))
    after = restored.process(second).tolist() + restored.flush().tolist()
    assert before + after == detect_r_peaks(excerpt, 360).tolist()


def test_state_does_not_grow_with_stream_length(excerpt: npt.NDArray[np.float64]) -> None:
    detector = RPeakDetector(360)
    detector.process(excerpt[: 360 * 10])
    early = len(pickle.dumps(detector))
    detector.process(excerpt[360 * 10 :])
    assert len(pickle.dumps(detector)) < early * 1.2


def test_checkpoint_does_not_hold_the_room_for_the_next_chunk(
    excerpt: npt.NDArray[np.float64],
) -> None:
    sizes = []
    for chunk in (360, 360 * 20):
        detector = RPeakDetector(360)
        _stream(detector, excerpt[: 360 * 60], [chunk] * (360 * 60 // chunk))
        sizes.append(len(pickle.dumps(detector)))
    assert sizes[1] <= sizes[0] * 1.05


def test_filter_kernels_give_lfilter_bits_in_any_chunking() -> None:
    # The integrator is the FIR of w taps 1/w (a zero-padded denominator makes lfilter run
    # its recursion); its sums, and the band-pass call, must be lfilter's exact bits.
    rng = np.random.default_rng(5)
    features = QrsFeatureStream(360.0)
    w = features.w_mwi
    taps, den = np.full(w, 1.0 / w), np.r_[1.0, np.zeros(w - 1)]
    slopes = np.abs(rng.normal(size=(3, 2000))) * 10.0 ** rng.uniform(-6, 3, size=(3, 1))
    want = signal.lfilter(taps, den, slopes, axis=1)
    inputs = np.concatenate((np.zeros((3, w - 1)), slopes * (1.0 / w)), axis=1)
    for size in (1, 2, 3, 97, 2000):
        got = np.empty_like(want)
        for start in range(0, slopes.shape[1], size):
            stop = min(start + size, slopes.shape[1])
            _window_sums(inputs[0, start : stop + w - 1], w, got[0, start:stop])
            _window_sums(inputs[1:, start : stop + w - 1], w, got[1:, start:stop])
        np.testing.assert_array_equal(got, want)
    b, a = features.bp_ba
    zi = rng.normal(size=(3, len(a) - 1))
    for x, z in ((slopes, zi), (slopes[0], zi[0])):
        (y, zf), (want_y, want_zf) = _lfilter(b, a, x, -1, z), signal.lfilter(b, a, x, zi=z)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(zf, want_zf)


@pytest.mark.parametrize(("name", "chunk_s"), [("105", 1.0), ("104", 0.37)])
def test_compiled_kernel_gives_the_numpy_candidates_on_real_ecg(
    mitdb: dict[str, BeatRecord], name: str, chunk_s: float
) -> None:
    # Every candidate (index, height, slope, R index, baseline test), not only the beats.
    kernel = _steady_kernel()
    assert kernel is not None
    assert _same_as_numpy(kernel, mitdb[name].ecg_mv, 360.0, round(chunk_s * 360))


def test_compiled_kernel_changes_nothing_when_a_chunk_is_not_finite() -> None:
    kernel = _steady_kernel()
    assert kernel is not None
    x = _synthetic_ecg(4.0, 360)
    features = QrsFeatureStream(360.0)
    features.push(x[None, :360])
    plan = _LeadPlan(features, 360, kernel)
    assert features._push_compiled(x[360:720], plan, kernel) is not None
    before = pickle.dumps(features)
    chunk = x[720:1080].copy()
    chunk[-1] = np.inf
    assert features._push_compiled(chunk, plan, kernel) is None
    assert pickle.dumps(features) == before


def test_bank_matches_independent_detectors(mitdb: dict[str, BeatRecord]) -> None:
    leads = np.stack([mitdb[n].ecg_mv[: 360 * 40] for n in ("104", "105", "106")])
    leads[1, 360 * 10 : 360 * 12] = np.nan
    bank = RPeakDetectorBank(360, n_streams=3)
    got: list[list[int]] = [[], [], []]
    for start in range(0, leads.shape[1], 360):
        for i, peaks in enumerate(bank.process(leads[:, start : start + 360])):
            got[i] += peaks.tolist()
    for i, peaks in enumerate(bank.flush()):
        got[i] += peaks.tolist()
    assert got == [detect_r_peaks(lead, 360).tolist() for lead in leads]


def test_a_one_stream_bank_matches_the_single_detector(mitdb: dict[str, BeatRecord]) -> None:
    """A one-lead bank (the bedside monitor of a home strap) takes the single-lead fast path."""
    lead = mitdb["105"].ecg_mv[: 360 * 40].copy()
    lead[360 * 10 : 360 * 12] = np.nan
    bank, got = RPeakDetectorBank(360, n_streams=1), []
    for start in range(0, lead.size, 250):
        got += bank.process(lead[None, start : start + 250])[0].tolist()
    got += bank.flush()[0].tolist()
    assert got == detect_r_peaks(lead, 360).tolist()


# --- robustness --------------------------------------------------------------------------


def _synthetic_ecg(
    duration_s: float, fs_hz: float, rr_s: float = 0.8, jitter: float = 0.0
) -> npt.NDArray[np.float64]:
    """Gaussian R waves (1 mV, 10 ms wide) on small T waves; RR = ``rr_s`` +/- ``jitter``."""
    t = np.arange(round(duration_s * fs_hz)) / fs_hz
    x = np.zeros_like(t)
    for beat in _beat_times(duration_s, rr_s, jitter):
        x += np.exp(-0.5 * ((t - beat) / 0.010) ** 2)
        x += 0.2 * np.exp(-0.5 * ((t - beat - 0.25 * rr_s / 0.8) / 0.040) ** 2)
    return x


def _beat_times(duration_s: float, rr_s: float, jitter: float) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(3)
    rr = rr_s * (1 + jitter * rng.uniform(-1, 1, size=int(duration_s / rr_s) + 2))
    times = 0.3 + np.concatenate(([0.0], np.cumsum(rr)))
    return times[times < duration_s - 0.3]


def test_nan_gap_has_no_beats_and_beats_resume_after_it(mitdb: dict[str, BeatRecord]) -> None:
    rec = mitdb["100"]
    x = rec.ecg_mv[: 360 * 120].copy()
    x[360 * 40 : 360 * 55] = np.nan
    det = detect_r_peaks(x, 360)
    assert not np.any((det >= 360 * 40) & (det < 360 * 55))
    beats = rec.beats[(rec.beats < 360 * 120) & ((rec.beats < 360 * 40) | (rec.beats >= 360 * 56))]
    tp, fp, fn = match_beats(det[det < 360 * 120], beats, 360)
    assert fp <= 1 and fn <= 2


def test_flat_constant_and_fully_clipped_signals_have_no_beats() -> None:
    assert detect_r_peaks(np.zeros(360 * 20), 360).size == 0
    assert detect_r_peaks(np.full(360 * 20, -1.25), 360).size == 0
    assert detect_r_peaks(np.full(250 * 20, 5000.0), 250).size == 0


def test_all_nan_signal_has_no_beats() -> None:
    assert detect_r_peaks(np.full(360 * 20, np.nan), 360).size == 0


def test_partly_clipped_ecg_still_gives_the_beats(mitdb: dict[str, BeatRecord]) -> None:
    rec = mitdb["100"]
    x = np.clip(rec.ecg_mv[: 360 * 120], -0.6, 0.6)  # R waves (~1.5 mV) cut flat
    beats = rec.beats[rec.beats < 360 * 120]
    assert match_beats(detect_r_peaks(x, 360), beats, 360) == (beats.size, 0, 0)


def test_synthetic_rhythm_is_found_at_several_rates() -> None:
    for fs_hz in (130, 250, 500):
        x = _synthetic_ecg(30.0, fs_hz)
        truth = np.round(_beat_times(30.0, 0.8, 0.0) * fs_hz).astype(np.int64)
        assert match_beats(detect_r_peaks(x, fs_hz), truth, fs_hz) == (truth.size, 0, 0)


@pytest.mark.parametrize("rate_bpm", [150, 200, 220])
def test_fast_irregular_rhythm_is_not_undercounted(rate_bpm: int) -> None:
    # AF with a fast ventricular response: RR varies +/- 20 % around 60 / rate.
    x = _synthetic_ecg(60.0, 250, rr_s=60 / rate_bpm, jitter=0.2)
    truth = np.round(_beat_times(60.0, 60 / rate_bpm, 0.2) * 250).astype(np.int64)
    tp, fp, fn = match_beats(detect_r_peaks(x, 250), truth, 250)
    assert fp == 0 and fn <= 0.01 * truth.size


def test_short_recording_is_flushed() -> None:
    x = _synthetic_ecg(1.5, 360)
    assert detect_r_peaks(x, 360).size == 2
    assert detect_r_peaks(np.zeros(0), 360).size == 0


def test_empty_chunk_returns_empty_int64() -> None:
    out = RPeakDetector(250).process(np.zeros(0))
    assert out.dtype == np.int64 and out.size == 0


@pytest.mark.parametrize("fs_hz", [0, -250, float("nan"), float("inf"), 20, 1e6, True, "250"])
def test_bad_sampling_rate_is_rejected(fs_hz: object) -> None:
    with pytest.raises(ValueError):
        RPeakDetector(fs_hz)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "chunk", [np.zeros((2, 10)), np.float64(1.0), np.zeros(5, dtype=complex), ["a", "b"]]
)
def test_malformed_chunk_is_rejected(chunk: object) -> None:
    with pytest.raises(ValueError):
        RPeakDetector(250).process(chunk)  # type: ignore[arg-type]


def test_bank_rejects_wrong_number_of_rows() -> None:
    with pytest.raises(ValueError):
        RPeakDetectorBank(250, n_streams=3).process(np.zeros((2, 250)))


def test_processing_after_flush_is_rejected() -> None:
    detector = RPeakDetector(250)
    detector.flush()
    with pytest.raises(ValueError):
        detector.process(np.zeros(10))
