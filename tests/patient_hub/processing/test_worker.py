"""The signal worker: bus payloads in, findings and derived readings out, idempotently."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import websockets

from device_bridge.simulator import synthetic_ecg_uv
from patient_hub.processing.worker import SignalProcessor

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def spo2(i: int, value: float, patient: str = "p1") -> dict[str, Any]:
    return {
        "patient_id": patient,
        "device_id": "ox-1",
        "kind": "spo2",
        "value": value,
        "unit": "%",
        "measured_at": (T0 + timedelta(seconds=i)).isoformat(),
        "flags": [],
    }


def bp(minute: float, sbp: float, dbp: float) -> list[dict[str, Any]]:
    at = (T0 + timedelta(minutes=minute)).isoformat()
    base = {
        "patient_id": "p1",
        "device_id": "cuff-1",
        "unit": "mm[Hg]",
        "measured_at": at,
        "flags": [],
    }
    return [
        {**base, "kind": "bp_systolic", "value": sbp},
        {**base, "kind": "bp_diastolic", "value": dbp},
    ]


def desaturation_stream() -> list[dict[str, Any]]:
    return [spo2(i, 97) for i in range(180)] + [spo2(180 + i, 86) for i in range(90)]


def test_sustained_low_spo2_becomes_a_finding_that_says_why() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    findings = processor.readings({"readings": desaturation_stream()})
    low = [f for f in findings if f.kind == "spo2_sustained_low"]
    assert low, [f.kind for f in findings]
    assert low[0].start == T0 + timedelta(seconds=180)
    assert low[0].values["nadir_spo2_pct"] == 86
    assert "90" in low[0].method or "90" in low[0].explanation


def test_replayed_readings_change_nothing() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    stream = desaturation_stream()
    first = processor.readings({"readings": stream})
    again = processor.readings({"readings": stream})
    assert first and again == []


def test_a_confirmed_hypertensive_crisis_needs_a_repeat() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    one = processor.readings({"readings": bp(0, 186, 112)})
    assert [f.kind for f in one] == ["hypertensive_crisis_unconfirmed"]
    two = processor.readings({"readings": bp(4, 188, 114)})
    assert "hypertensive_crisis" in [f.kind for f in two]


def test_ecg_chunks_give_a_derived_heart_rate() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    derived: list[dict[str, Any]] = []
    for second in range(20):
        samples = synthetic_ecg_uv(72.0, 130.0, 130, float(second))
        chunk = {
            "patient_id": "p1",
            "device_id": "strap-1",
            "lead": "I",
            "fs_hz": 130.0,
            "start": (T0 + timedelta(seconds=second)).isoformat(),
            "samples": samples,
        }
        more, findings = processor.samples({"chunks": [chunk]})
        derived += more
        assert findings == []  # regular sinus rhythm at 72/min
        if second == 10:
            assert processor.samples({"chunks": [chunk]}) == ([], [])  # a replay adds nothing
    assert derived and all(r["kind"] == "heart_rate" and "derived" in r["flags"] for r in derived)
    assert abs(derived[-1]["value"] - 72.0) < 1.5


def test_an_ecg_stream_restarts_after_a_gap_whatever_it_still_holds() -> None:
    """A strap back after a gap restarts its lead, also when the old stream held nothing."""
    from patient_hub.processing.ecg import EcgProcessor

    processor = EcgProcessor()
    chunk = {"patient_id": "p1", "device_id": "strap-1", "lead": "I", "fs_hz": 130.0,
             "start": T0.isoformat(), "samples": synthetic_ecg_uv(72.0, 130.0, 130, 0.0)}  # fmt: skip
    processor.take(chunk)  # one whole second: analysed at once, nothing left held
    first = processor.streams[("p1", "strap-1", "I")]
    later = {**chunk, "start": (T0 + timedelta(seconds=10)).isoformat()}
    assert processor.take(later) == ([], [])
    restarted = processor.streams[("p1", "strap-1", "I")]
    assert restarted is not first and restarted.t0 == T0 + timedelta(seconds=10)


async def test_findings_reach_the_database_the_api_and_the_monitor(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post(
            "/auth/token", data={"username": "nurse-a", "password": "pw-nurse-a"}
        )
        token = login.json()["access_token"]
        async with websockets.connect(f"{hub.ws_url}/ws/monitor?access_token={token}") as monitor:
            assert json.loads(await monitor.recv())["type"] == "hello"
            async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
                hello = {
                    "type": "hello",
                    "v": 1,
                    "bridge_id": "bridge-p1",
                    "token": tokens["bridge-p1"],
                }
                await ws.send(json.dumps(hello))
                await ws.recv()
                readings = [{**r, "seq": i + 1} for i, r in enumerate(desaturation_stream())]
                for r in readings:
                    r.pop("flags")
                frame = {"type": "batch", "v": 1, "batch_id": 1, "readings": readings}
                await ws.send(json.dumps(frame))
                assert json.loads(await ws.recv())["type"] == "ack"
            pushed: list[dict[str, Any]] = []
            async with asyncio.timeout(15):
                while not pushed:
                    message = json.loads(await monitor.recv())
                    pushed += message.get("findings", [])
        headers = {"Authorization": f"Bearer {token}"}
        stored = (await client.get("/api/patients/p1/findings", headers=headers)).json()
    assert pushed[0]["patient_id"] == "p1" and pushed[0]["kind"].startswith("spo2")
    assert {f["kind"] for f in stored} >= {"spo2_sustained_low"}
    assert all(f["method"] for f in stored)


def test_a_pause_on_good_signal_is_found_and_on_a_flat_lead_is_not() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))

    def feed(second: int, samples: list[int]) -> list[Any]:
        chunk = {"patient_id": "p1", "device_id": "strap-1", "fs_hz": 130.0,
                 "start": (T0 + timedelta(seconds=second)).isoformat(), "samples": samples}  # fmt: skip
        return processor.samples({"chunks": [chunk]})[1]

    found: list[Any] = []
    for second in range(30):
        found += feed(second, synthetic_ecg_uv(70.0, 130.0, 130, float(second)))
    # 6 s of baseline with small noise: the heart "stops" while the lead still records.
    import random

    rng = random.Random(1)
    for second in range(30, 36):
        found += feed(second, [rng.randint(-20, 20) for _ in range(130)])
    for second in range(36, 40):
        found += feed(second, synthetic_ecg_uv(70.0, 130.0, 130, float(second)))
    pauses = [f for f in found if f.kind == "pause"]
    assert pauses and max(p.values["pause_s"] for p in pauses) >= 5  # ongoing, then ended
    assert len({p.start for p in pauses}) == 1  # one episode (one key) updated as it grows

    flat = SignalProcessor(ZoneInfo("UTC"))
    processor = flat
    found = []
    for second in range(30):
        found += feed(second, synthetic_ecg_uv(70.0, 130.0, 130, float(second)))
    for second in range(30, 36):  # lead off: an exactly flat line
        found += feed(second, [0] * 130)
    for second in range(36, 40):
        found += feed(second, synthetic_ecg_uv(70.0, 130.0, 130, float(second)))
    assert [f for f in found if f.kind == "pause"] == []


def test_news2_is_scored_on_a_complete_fresh_set_and_reported_once_per_score() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    at = T0.isoformat()
    base = {"patient_id": "p1", "device_id": "kiosk", "measured_at": at, "flags": []}
    vitals = [
        {**base, "kind": "respiratory_rate", "value": 26, "unit": "/min"},  # 3 (red)
        {**base, "kind": "spo2", "value": 95, "unit": "%"},  # 1
        {**base, "kind": "bp_systolic", "value": 105, "unit": "mm[Hg]"},  # 1
        {**base, "kind": "bp_diastolic", "value": 70, "unit": "mm[Hg]"},
        {**base, "kind": "pulse_rate", "value": 95, "unit": "/min"},  # 1
        {**base, "kind": "body_temperature", "value": 38.5, "unit": "Cel"},  # 1
    ]
    found = [f for f in processor.readings({"readings": vitals}) if f.kind == "news2"]
    assert len(found) == 1
    assert found[0].values["news2_total"] == 7 and "assumed" in found[0].explanation
    assert found[0].severity.value == "high"
    later = [{**v, "measured_at": (T0 + timedelta(minutes=1)).isoformat()} for v in vitals]
    assert [f for f in processor.readings({"readings": later}) if f.kind == "news2"] == []


def test_news2_is_not_scored_without_a_respiratory_rate() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    base = {"patient_id": "p1", "device_id": "d", "measured_at": T0.isoformat(), "flags": []}
    vitals = [
        {**base, "kind": "spo2", "value": 85, "unit": "%"},
        {**base, "kind": "bp_systolic", "value": 85, "unit": "mm[Hg]"},
        {**base, "kind": "pulse_rate", "value": 135, "unit": "/min"},
        {**base, "kind": "body_temperature", "value": 39.5, "unit": "Cel"},
    ]
    assert [f for f in processor.readings({"readings": vitals}) if f.kind == "news2"] == []


def test_two_oximeters_and_sub_second_readings_are_taken_at_1_hz() -> None:
    processor = SignalProcessor(ZoneInfo("UTC"))
    readings = []
    for i in range(300):
        for device, offset in (("ox-1", 0.0), ("ox-2", 0.4)):
            at = T0 + timedelta(seconds=i * 0.7 + offset)
            value = 97 if i < 150 else 86
            readings.append({**spo2(0, value), "device_id": device, "measured_at": at.isoformat()})
    found = processor.readings({"readings": readings})  # must not raise
    assert "spo2_sustained_low" in {f.kind for f in found}


def weighing(day: int, hour: float, kg: float) -> dict[str, Any]:
    at = T0.replace(hour=0) + timedelta(days=day, hours=hour)
    return {
        "patient_id": "p1",
        "device_id": "scale-1",
        "kind": "body_weight",
        "value": kg,
        "unit": "kg",
        "measured_at": at.isoformat(),
        "flags": [],
    }


def test_weight_gain_is_judged_on_each_days_first_weighing_and_not_repeated_within_the_day() -> (
    None
):
    from telemed_signal.trends import WeightReading, weight_gain_findings

    tz = ZoneInfo("Europe/Prague")
    processor = SignalProcessor(tz)
    stream = [
        weighing(day, hour, 80 + 1.2 * day + (0.7 if hour > 7 else 0))
        for day in range(6)
        for hour in (6.5, 12, 21)
    ]
    emitted = []
    for r in stream:
        emitted += [f for f in processor.readings({"readings": [r]}) if "weight" in f.kind]
    every = [WeightReading(datetime.fromisoformat(r["measured_at"]), r["value"]) for r in stream]
    expected = weight_gain_findings("p1", every, tz)
    assert expected  # 1.2 kg a day: day-to-day gains, then 2 kg within 3 days
    assert {(f.kind, f.start) for f in emitted} == {(f.kind, f.start) for f in expected}
    # A later, heavier weighing of the same day is not the day's weight: nothing is repeated.
    later = processor.readings({"readings": [weighing(5, 22, 99.0)]})
    assert [f for f in later if "weight" in f.kind] == []
