"""The patient timeline's API: trends bucketed in SQL, ESH home BP, today's schedule, notes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import token_for


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def send(hub: Any, token: str, patient: str, readings: list[dict[str, Any]]) -> None:
    """Readings through the real bridge socket (``seq`` numbered from the bridge's last)."""
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": f"bridge-{patient}", "token": token}
        await ws.send(json.dumps(hello))
        last = json.loads(await ws.recv())["last_seq"]
        for i, r in enumerate(readings):
            r.setdefault("seq", last + i + 1)
            r.setdefault("patient_id", patient)
            r.setdefault("device_id", "cuff-1")
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": readings}))
        assert json.loads(await ws.recv())["type"] == "ack"


def bp_pairs(now: datetime, days: int) -> list[dict[str, Any]]:
    """Morning and evening cuff readings, two a session as ESH asks (Prague 07:00 and 19:00),
    for ``days`` days."""
    out = []
    for d in range(days, 0, -1):
        for hour_utc, minute, sbp in ((6, 0, 150.0), (6, 2, 150.0), (18, 0, 140.0), (18, 2, 140.0)):
            day = now - timedelta(days=d)
            at = day.replace(hour=hour_utc, minute=minute, second=0, microsecond=0)
            for kind, value in (("bp_systolic", sbp), ("bp_diastolic", 90.0)):
                out.append(
                    {"kind": kind, "value": value, "unit": "mm[Hg]", "measured_at": _iso(at)}
                )
    return out


@pytest.fixture
async def world(hub: Any, seed: Any) -> dict[str, str]:
    tokens: dict[str, str] = await seed(hub.settings.database_url)
    return tokens


async def _as(hub: Any, user: str) -> httpx.AsyncClient:
    token = await token_for(hub, user)
    return httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {token}"})


async def test_a_day_trend_is_bucketed_by_five_minutes(hub: Any, world: dict[str, str]) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    start = now.replace(minute=now.minute - now.minute % 5)
    readings = [
        {"kind": "heart_rate", "value": 60.0 + i, "unit": "/min", "device_id": "strap",
         "measured_at": _iso(start + timedelta(seconds=30 * i))}
        for i in range(20)  # 10 minutes at one per 30 s: two full buckets
    ]  # fmt: skip
    await send(hub, world["bridge-p1"], "p1", readings)
    async with await _as(hub, "nurse-a") as c:
        t = (await c.get("/api/patients/p1/trends", params={"kind": "heart_rate"})).json()
    assert t["bucket_s"] == 300 and t["n"] == [10, 10]
    assert t["mean"] == [64.5, 74.5] and t["min"] == [60, 70] and t["max"] == [69, 79]
    assert t["t"][0] == start.timestamp()


async def test_home_bp_averages_morning_and_evening_over_seven_days(
    hub: Any, world: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    await send(hub, world["bridge-p1"], "p1", bp_pairs(now, 8))
    async with await _as(hub, "nurse-a") as c:
        summary = (await c.get("/api/patients/p1/summary")).json()
    bp = summary["home_bp"]
    assert bp["morning"]["sbp_mmhg"] == 150 and bp["evening"]["sbp_mmhg"] == 140
    assert bp["sufficient"] is True and bp["elevated"] is True
    assert [d["device_id"] for d in summary["devices"]] == ["cuff-1"]


async def test_bad_trend_queries_get_clear_errors(hub: Any, world: dict[str, str]) -> None:
    async with await _as(hub, "nurse-a") as c:
        bad_range = await c.get("/api/patients/p1/trends", params={"kind": "spo2", "range": "year"})
        waveform = await c.get("/api/patients/p1/trends", params={"kind": "ecg"})
        naive = await c.get(
            "/api/patients/p1/trends", params={"kind": "spo2", "until": "2026-01-01T00:00:00"}
        )
        other = await c.get("/api/patients/p3/trends", params={"kind": "spo2"})
    assert bad_range.status_code == 422
    assert waveform.status_code == 400 and "waveform" in waveform.json()["detail"]
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    assert other.status_code == 404


async def test_today_lists_the_programme_schedule(hub: Any, world: dict[str, str]) -> None:
    async with await _as(hub, "pat1") as c:
        slots = (await c.get("/api/patients/p1/today")).json()
    assert sorted(s["kind"] for s in slots) == ["body_weight", "bp_systolic"]  # heart failure
    assert {s["status"] for s in slots} <= {"done", "due", "missed", "upcoming"}


async def test_a_weighing_in_its_window_marks_the_slot_done(
    hub: Any, world: dict[str, str]
) -> None:
    async with await _as(hub, "pat1") as c:
        [weight] = [s for s in (await c.get("/api/patients/p1/today")).json()
                    if s["kind"] == "body_weight"]  # fmt: skip
        due = datetime.fromisoformat(weight["due"])
        await send(hub, world["bridge-p1"], "p1", [
            {"kind": "body_weight", "value": 80.2, "unit": "kg", "device_id": "scale",
             "measured_at": _iso(due + timedelta(minutes=10))},
        ])  # fmt: skip
        [after] = [s for s in (await c.get("/api/patients/p1/today")).json()
                   if s["kind"] == "body_weight"]  # fmt: skip
    assert after["status"] == "done"


async def test_a_contact_is_stored_with_its_outcome(hub: Any, world: dict[str, str]) -> None:
    async with await _as(hub, "nurse-a") as c:
        created = await c.post(
            "/api/patients/p1/notes",
            json={"kind": "contact", "channel": "phone", "outcome": "advice", "text": "Called."},
        )
        listed = (await c.get("/api/patients/p1/notes")).json()
    assert created.status_code == 201
    assert [(n["kind"], n["outcome"], n["author"]) for n in listed] == [
        ("contact", "advice", "nurse-a")
    ]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"text": ""}, 422, "text"),
        ({"text": "   "}, 400, "1-4000"),
        ({"text": "x" * 4001}, 422, "text"),
        ({"text": 5}, 422, "text"),
        ({"kind": "contact", "text": "Called"}, 400, "channel and its outcome"),
        ({"kind": "note", "outcome": "advice", "text": "x"}, 400, "no channel or outcome"),
        ({"kind": "contact", "channel": "fax", "outcome": "advice", "text": "x"}, 422, "channel"),
    ],
)
async def test_bad_notes_are_refused_and_nothing_stored(
    hub: Any, world: dict[str, str], body: dict[str, Any], status: int, message: str
) -> None:
    async with await _as(hub, "nurse-a") as c:
        response = await c.post("/api/patients/p1/notes", json=body)
        listed = (await c.get("/api/patients/p1/notes")).json()
    assert response.status_code == status and message in response.text
    assert listed == []


async def test_notes_of_another_patient_and_by_patients_are_refused(
    hub: Any, world: dict[str, str]
) -> None:
    async with await _as(hub, "nurse-a") as c:
        other = await c.post("/api/patients/p3/notes", json={"text": "x"})
    async with await _as(hub, "pat1") as c:
        own_write = await c.post("/api/patients/p1/notes", json={"text": "x"})
        own_read = await c.get("/api/patients/p1/notes")
    assert other.status_code == 404
    assert own_write.status_code == 403 and own_read.status_code == 403
