"""AF from a chest strap's RR-interval readings, as the hub worker receives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from patient_hub.processing.worker import SignalProcessor
from telemed_signal.af import AfDetector
from telemed_signal.findings import Finding
from tests import physionet

FloatArray = npt.NDArray[np.float64]
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def notifications(beats_s: FloatArray, device: str = "strap-1") -> list[dict[str, Any]]:
    """Heart Rate Measurement readings as a bridge uploads them: each notification carries the
    intervals of the beats since the previous one and is stamped with its last beat's time."""
    rows: list[dict[str, Any]] = []
    seq = 0
    edges = np.searchsorted(beats_s, np.arange(np.ceil(beats_s[-1]) + 1), side="right")
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b - a < 1 or a == 0:
            continue
        at = (T0 + timedelta(seconds=float(beats_s[b - 1]))).isoformat()
        for rr in np.diff(beats_s[a - 1 : b]):
            seq += 1
            rows.append(
                {"seq": seq, "patient_id": "p1", "device_id": device, "kind": "rr_interval",
                 "value": round(float(rr) * 1000, 3), "unit": "ms", "measured_at": at,
                 "flags": []}
            )  # fmt: skip
    return rows


def run(rows: list[dict[str, Any]], processor: SignalProcessor | None = None) -> list[Finding]:
    processor = processor or SignalProcessor(ZoneInfo("UTC"))
    found: list[Finding] = []
    for i in range(0, len(rows), 40):
        found += processor.readings({"readings": rows[i : i + 40]})
    return [f for f in found if f.kind == "atrial_fibrillation"]


def sinus_af_sinus(seed: int = 3) -> FloatArray:
    rng = np.random.default_rng(seed)
    rr = np.concatenate(
        (
            0.8 + 0.02 * rng.standard_normal(360),
            rng.uniform(0.35, 1.1, 600),
            0.8 + 0.02 * rng.standard_normal(360),
        )
    )
    return 1.0 + np.cumsum(rr)


def test_af_from_strap_intervals_has_onset_and_offset() -> None:
    beats = sinus_af_sinus()
    found = run(notifications(beats))
    af_start = float(beats[360])
    af_end = float(beats[960])
    onset, offset = found[0], found[-1]
    assert onset.end is None and offset.end is not None
    assert abs((onset.start - T0).total_seconds() - af_start) < 10
    assert abs((offset.end - T0).total_seconds() - af_end) < 10
    assert "RR" in onset.method or "Petr" in onset.method


def test_the_intervals_give_the_libraries_episodes_on_a_real_record() -> None:
    import wfdb

    path = physionet.record("afdb", "04043", ext="qrs")
    beats = np.asarray(wfdb.rdann(str(path), "qrs").sample, dtype=np.float64)[:12000] / 250.0
    found = run(notifications(beats))
    # The library on the same beats (the first beat is where the strap's first note starts).
    first = int(np.searchsorted(beats, 1.0, side="right"))
    direct = AfDetector("p1", T0 + timedelta(seconds=float(beats[first - 1])))
    want = direct.process(beats[first - 1 :] - beats[first - 1])
    assert len(want) >= 2, "04043 goes into AF and back to sinus rhythm"
    got = [(f.start, f.end) for f in found]
    assert len(got) == len(want)
    for (s, e), w in zip(got, want, strict=True):
        assert abs((s - w.start).total_seconds()) < 0.01
        assert (e is None) == (w.end is None)


def test_replays_change_nothing_and_a_dropout_restarts() -> None:
    beats = sinus_af_sinus()
    rows = notifications(beats)
    processor = SignalProcessor(ZoneInfo("UTC"))
    first = run(rows[:900], processor)  # sinus, then AF under way
    assert [f.end for f in first] == [None]
    assert run(rows[:900], processor) == []  # the same batches again
    stream = processor.rr.streams[("p1", "strap-1")]
    hole = rows[950]["measured_at"]
    later = run([r for r in rows[900:] if r["measured_at"] > hole], processor)
    assert processor.rr.streams[("p1", "strap-1")] is not stream  # ~40 s lost: restarted
    closed = later[0]  # the episode ends where the intervals stopped, not across the hole
    assert closed.start == first[0].start and closed.end is not None
    assert closed.end <= datetime.fromisoformat(hole)


def test_a_strap_whose_ecg_is_analysed_is_not_analysed_twice() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    ecg = {
        "patient_id": "p1", "device_id": "strap-1", "kind": "ecg", "lead": "I", "unit": "uV",
        "fs_hz": 130.0, "samples": [0] * 130,
    }  # fmt: skip
    beats = sinus_af_sinus()
    for k in range(int(beats[-1]) + 2):  # the strap streams its ECG all along
        processor.samples({"chunks": [{**ecg, "start": (T0 + timedelta(seconds=k)).isoformat()}]})
    assert run(notifications(beats), processor) == []
    assert run(notifications(beats, device="other-strap"), processor)


def test_episodes_do_not_depend_on_how_notifications_are_batched() -> None:
    """A batch's notifications reach the AF detector in one call (cheaper per reading); the
    episodes must be those of one notification at a time."""
    rows = notifications(sinus_af_sinus(seed=5))
    episodes = []
    for size in (1, 40, len(rows)):
        processor = SignalProcessor(ZoneInfo("UTC"))
        found: list[Finding] = []
        for i in range(0, len(rows), size):
            found += processor.readings({"readings": rows[i : i + size]})
        episodes.append([(f.start, f.end) for f in found if f.kind == "atrial_fibrillation"])
    assert episodes[0] and episodes[0][-1][1] is not None  # an onset, then its end
    assert episodes[1] == episodes[0]
    assert episodes[2] == episodes[0]
