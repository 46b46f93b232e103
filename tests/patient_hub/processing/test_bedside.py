"""The hub worker's bedside streams: a device's ECG leads and pulse waveforms, arriving as
separate wire chunks, are judged together for life-threatening arrhythmias.

The Challenge 2015 alarms are replayed the way a bedside gateway would send them: one chunk
per channel and quarter second, integers with the channel's resolution, NaN stretches not sent
at all, channels interleaved by time. The worker must reach the decisions the signal library
reaches on the original recording, and raise no asystole or VT on the false alarms.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import websockets

from patient_hub.processing.bedside import LIVE_PARAMS, MAX_SKEW_S, BedsideProcessor
from patient_hub.processing.worker import SignalProcessor
from telemed_signal.findings import Finding
from telemed_signal.lethal import ECG_LEADS, LethalArrhythmiaMonitor
from tests import physionet

FloatArray = npt.NDArray[np.float64]
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
ALARM_S = 300.0
#: Wire kind, unit and resolution of a WFDB channel (ECG in whole microvolts).
WIRE = {"PLETH": ("pleth", "1", 1e-4), "ABP": ("abp", "mm[Hg]", 0.01)}
ECG_WIRE = ("ecg", "uV", 1.0)


@cache
def _record(name: str) -> tuple[dict[str, FloatArray], float]:
    import wfdb

    rec = wfdb.rdrecord(str(physionet.record("challenge2015", name)), sampto=int(ALARM_S * 250))
    return {s: rec.p_signal[:, i].astype(np.float64) for i, s in enumerate(rec.sig_name)}, float(
        rec.fs
    )


def wire_chunks(
    signals: dict[str, FloatArray], fs: float, seconds: float = 0.25, device: str = "bedside-1"
) -> list[dict[str, Any]]:
    """Chunks as a gateway sends them: finite runs only, ``seconds`` long, ordered by time."""
    out = []
    step = round(seconds * fs)
    for name, x in signals.items():
        if name not in WIRE and name not in ECG_LEADS:
            continue
        kind, unit, factor = WIRE.get(name, ECG_WIRE)
        scale = 1.0 if kind != "ecg" else 1000.0  # mV -> uV
        finite = np.isfinite(x)
        edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            for i in range(a, b, step):
                j = min(b, i + step)
                q = np.round(x[i:j] * scale / factor).astype(np.int64)
                out.append(
                    {
                        "patient_id": "p1",
                        "device_id": device,
                        "kind": kind,
                        "lead": name,
                        "unit": unit,
                        "factor": factor,
                        "fs_hz": fs,
                        "start": (T0 + timedelta(seconds=i / fs)).isoformat(),
                        "samples": q.tolist(),
                    }
                )
    return sorted(out, key=lambda c: (c["start"], c["lead"]))


def dequantized(signals: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """What the hub reconstructs from the wire chunks (NaN where nothing was sent)."""
    out = {}
    for name, x in signals.items():
        if name in WIRE:  # as the worker scales them
            out[name] = np.round(x / WIRE[name][2]) * WIRE[name][2]
        else:
            out[name] = np.round(x * 1000.0) * 1e-3
    return out


def active_in_alarm_window(findings: list[Finding], kind: str) -> bool:
    lo, hi = T0 + timedelta(seconds=ALARM_S - 16), T0 + timedelta(seconds=ALARM_S)
    return any(
        f.kind == kind and f.start <= hi and (f.end is None or f.end >= lo) for f in findings
    )


def run_worker(chunks: list[dict[str, Any]], per_batch: int = 12) -> list[Finding]:
    processor = SignalProcessor(ZoneInfo("UTC"))
    found: list[Finding] = []
    for i in range(0, len(chunks), per_batch):
        found += processor.samples({"chunks": chunks[i : i + per_batch]})[1]
    return found


@pytest.mark.parametrize(
    ("name", "alarm", "truth"),
    [
        ("a103l", "asystole", False),  # ECG artefact bursts, the PLETH keeps beating
        ("a754s", "asystole", True),
        ("v452s", "ventricular_tachycardia", False),  # one lead of noise, the other clean
        ("v701l", "ventricular_tachycardia", True),
        ("f120s", "ventricular_flutter_fib", False),  # VT with a pulse
        ("f697l", "ventricular_flutter_fib", True),  # VF during CPR, after a shock
    ],
)
def test_the_worker_judges_real_alarms_from_wire_chunks(name: str, alarm: str, truth: bool) -> None:
    signals, fs = _record(name)
    found = run_worker(wire_chunks(signals, fs))
    assert active_in_alarm_window(found, alarm) is truth, [(f.kind, f.start) for f in found]
    if not truth:  # nowhere in the 5 minutes, nor as a HIGH pause of one lead
        assert not [f for f in found if f.kind == alarm]
        assert not [f for f in found if f.kind == "pause" and f.severity.value == "high"]
    for f in found:
        if f.kind == alarm:
            assert f.explanation and f.values["channels"]


def test_the_worker_feeds_the_monitor_exactly_the_recording() -> None:
    """Channels cut at different places, NaN stretches missing: same findings as the library
    fed the whole (dequantized) recording in 1 s chunks."""
    signals, fs = _record("a103l")
    rng = np.random.default_rng(7)
    chunks = []
    for name in signals:  # every channel cut its own way
        one = wire_chunks({name: signals[name]}, fs, seconds=float(rng.uniform(0.1, 1.1)))
        chunks += one
    chunks.sort(key=lambda c: c["start"])
    found = run_worker(chunks, per_batch=7)
    mine = [(f.kind, f.start, f.end) for f in found if f.values.get("channels")]
    monitor = LethalArrhythmiaMonitor(
        ["II", "V", "PLETH"], fs, patient_id="p1", t0=T0, params=LIVE_PARAMS
    )
    exact = dequantized(signals)
    n = exact["II"].size
    want = []
    for i in range(0, n, 250):
        want += monitor.process({k: v[i : i + 250] for k, v in exact.items()})
    assert mine == [(f.kind, f.start, f.end) for f in want]


def _ecg_chunk(start_s: float, samples: list[int], **over: Any) -> dict[str, Any]:
    return {
        "patient_id": "p1",
        "device_id": "strap",
        "kind": "ecg",
        "lead": "I",
        "unit": "uV",
        "fs_hz": 250.0,
        "start": (T0 + timedelta(seconds=start_s)).isoformat(),
        "samples": samples,
        **over,
    }


def test_channels_sent_together_start_together() -> None:
    processor = BedsideProcessor()
    processor.take(_ecg_chunk(0.0, [0] * 250))
    processor.take(_ecg_chunk(0.0, [1000] * 250, kind="pleth", lead="PLETH", unit="1"))
    assert processor.streams == {}  # waits for MAX_SKEW_S of signal
    processor.take(_ecg_chunk(1.0, [0] * 250))
    stream = processor.streams[("p1", "strap")]
    assert list(stream.channels) == ["I", "PLETH"] and stream.t0 == T0
    assert stream.fed == 250  # as far as the PLETH has come


def test_a_silent_channel_delays_the_analysis_by_at_most_the_skew() -> None:
    processor = BedsideProcessor()
    processor.take(_ecg_chunk(0.0, [1000] * 250, kind="pleth", lead="PLETH", unit="1"))
    for k in range(6):  # the PLETH goes quiet, the ECG goes on
        processor.take(_ecg_chunk(float(k), [0] * 250))
    stream = processor.streams[("p1", "strap")]
    assert stream.fed == 6 * 250 - round(MAX_SKEW_S * 250)
    late = _ecg_chunk(1.0, [1000] * 1000, kind="pleth", lead="PLETH", unit="1")
    processor.take(late)  # its first 3 s were analysed as missing: dropped, counted
    assert stream.late_samples == 750 and stream.channels["PLETH"].end == 1250


def test_a_new_channel_restarts_the_stream_with_it() -> None:
    processor = BedsideProcessor()
    processor.take(_ecg_chunk(0.0, [0] * 500))
    first = processor.streams[("p1", "strap")]
    processor.take(_ecg_chunk(2.0, [0] * 250, lead="II"))
    assert ("p1", "strap") not in processor.streams
    processor.take(_ecg_chunk(2.0, [0] * 250))
    processor.take(_ecg_chunk(3.0, [0] * 250))
    second = processor.streams[("p1", "strap")]
    assert second is not first and sorted(second.channels) == ["I", "II"]


def test_a_pulse_channel_at_another_rate_is_interpolated_onto_the_ecg_grid() -> None:
    processor = BedsideProcessor()
    ramp = np.arange(250)
    for start in range(0, 250, 50):  # 125 Hz, in 0.4 s chunks
        processor.take(
            _ecg_chunk(start / 125, ramp[start : start + 50].tolist(), kind="abp",
                       lead="ABP", unit="mm[Hg]", fs_hz=125.0, factor=0.5)
        )  # fmt: skip
    processor.take(_ecg_chunk(0.0, [0] * 100))
    stream = processor.streams[("p1", "strap")]
    # 0.5 mmHg per step at 125 Hz -> a ramp of 0.25 mmHg per 250 Hz sample, no seams
    assert stream.fed == 100  # as far as the ECG has come
    got = stream.channels["ABP"].pending[: 2 * 249 + 1 - 100]
    assert np.allclose(got, 0.25 * np.arange(100, 2 * 249 + 1))


def test_a_long_hole_restarts_and_a_replay_is_ignored() -> None:
    processor = BedsideProcessor()
    processor.take(_ecg_chunk(0.0, [0] * 500))
    first = processor.streams[("p1", "strap")]
    processor.take(_ecg_chunk(100.0, [0] * 500))
    second = processor.streams[("p1", "strap")]
    assert second is not first and second.t0 == T0 + timedelta(seconds=100)
    assert processor.take(_ecg_chunk(0.0, [0] * 250)) == [] and second.fed == 500


def test_pulse_only_devices_and_unknown_kinds_are_left_alone() -> None:
    processor = BedsideProcessor()
    assert processor.take(_ecg_chunk(0.0, [1] * 125, kind="pleth", lead="PLETH", unit="1")) == []
    assert processor.streams == {}
    assert processor.take(_ecg_chunk(0.0, [1] * 125, kind="spo2")) == []


async def test_a_cardiac_arrest_sent_by_a_gateway_becomes_a_finding(hub: Any, seed: Any) -> None:
    """The whole path: a bedside gateway's ECG and ABP chunks over /ws/bridge, stored, the
    worker's finding in the database and the API, explained."""
    signals, fs = _record("a754s")  # a true asystole
    tokens = await seed(hub.settings.database_url)
    chunks = [{**c, "seq": i + 1} for i, c in enumerate(wire_chunks(signals, fs))]
    async with websockets.connect(hub.ws_url + "/ws/bridge", max_size=2**24) as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        await ws.recv()
        for batch_id, i in enumerate(range(0, len(chunks), 400)):
            frame = {"type": "batch", "v": 1, "batch_id": batch_id, "chunks": chunks[i : i + 400]}
            await ws.send(json.dumps(frame))
            ack = json.loads(await ws.recv())
            assert ack["type"] == "ack" and ack["stored"] == len(chunks[i : i + 400]), ack
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post(
            "/auth/token", data={"username": "nurse-a", "password": "pw-nurse-a"}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        asystole: list[dict[str, Any]] = []
        async with asyncio.timeout(60):
            while not asystole:
                await asyncio.sleep(0.5)
                found = (await client.get("/api/patients/p1/findings", headers=headers)).json()
                asystole = [f for f in found if f["kind"] == "asystole"]
    assert asystole[0]["severity"] == "high"
    assert "No QRS" in asystole[0]["explanation"] and "ABP" in asystole[0]["explanation"]
