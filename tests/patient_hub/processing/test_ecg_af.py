"""AF on a streamed ECG lead: beats reach the AF detector in batches (``AF_EVERY_S``), and the
findings are those of the detector fed every beat at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from patient_hub.processing.ecg import AF_EVERY_S, EcgProcessor
from telemed_signal.af import AfDetector
from telemed_signal.ecg import detect_r_peaks
from telemed_signal.findings import Finding

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
FS = 250.0


#: (centre s from R, width s, amplitude uV) of Q, R, S and T (the simulator's shape, no P wave)
WAVES = ((-0.05, 0.01, -150.0), (0.0, 0.012, 1200.0), (0.04, 0.01, -250.0), (0.25, 0.05, 300.0))


def _ecg_uv(rr_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """QRS-T complexes at the beat times of these RR intervals, with 10 uV of noise."""
    beats = 1.0 + np.concatenate(([0.0], np.cumsum(rr_s)))
    t = np.arange(round((beats[-1] + 1.0) * FS)) / FS
    x = np.random.default_rng(0).normal(0.0, 10.0, t.size)
    for b in beats:
        lo, hi = int((b - 0.15) * FS), int((b + 0.45) * FS)
        for mu, width, amp in WAVES:
            x[lo:hi] += amp * np.exp(-0.5 * ((t[lo:hi] - b - mu) / width) ** 2)
    return x


def _sinus_then_af() -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(3)
    sinus = 0.8 + rng.normal(0.0, 0.01, 150)
    af = np.clip(rng.normal(0.65, 0.13, 400), 0.35, 1.5)
    return _ecg_uv(np.concatenate((sinus, af)))


def _chunk(x: npt.NDArray[np.float64], second: int) -> dict[str, Any]:
    return {
        "patient_id": "p1",
        "device_id": "strap-1",
        "lead": "I",
        "fs_hz": FS,
        "start": (T0 + timedelta(seconds=second)).isoformat(),
        "samples": np.round(x[int(second * FS) : int((second + 1) * FS)]).astype(int).tolist(),
    }


def _af_findings(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.kind == "atrial_fibrillation"]


def test_batched_af_onset_is_the_onset_of_the_unbatched_detector() -> None:
    x = _sinus_then_af()
    processor, got = EcgProcessor(), []
    for second in range(int(x.size // FS)):
        got += _af_findings(processor.take(_chunk(x, second))[1])
    direct = AfDetector("p1", T0)
    expected = _af_findings(direct.process(detect_r_peaks(x, FS) / FS))
    assert expected and expected[0].end is None  # the onset, while AF goes on
    assert [(f.start, f.end) for f in got] == [(f.start, f.end) for f in expected[: len(got)]]
    assert got, "no AF onset from the streamed lead"


def test_beats_wait_at_most_af_every_s_for_the_detector() -> None:
    x = _sinus_then_af()
    processor = EcgProcessor()
    for second in range(60):
        processor.take(_chunk(x, second))
        stream = processor.streams[("p1", "strap-1", "I")]
        assert stream.n_samples / FS - stream.af_fed_s < AF_EVERY_S
        assert all(b >= stream.af_fed_s - 1.5 for b in stream.af_pending)


def test_a_restart_gives_the_old_streams_beats_to_its_af_detector_first() -> None:
    x = _sinus_then_af()
    processor = EcgProcessor()
    for second in range(25):
        processor.take(_chunk(x, second))
    old = processor.streams[("p1", "strap-1", "I")]
    assert old.af_pending  # beats gathered since the last batch
    before = old.af.classifier.n_intervals
    pending = len(old.af_pending)
    processor.take({**_chunk(x, 40), "start": (T0 + timedelta(seconds=40)).isoformat()})
    assert processor.streams[("p1", "strap-1", "I")] is not old
    assert old.af.classifier.n_intervals == before + pending and not old.af_pending
