"""The FHIR search tests' shared world: one hub with a known data set (p1's readings, panels,
ECG and findings; p2's pulse waveform; p3's heart rate), the seed users' tokens, and helpers.

Each test module that imports the fixtures gets its own hub (module scope: starting a hub and
hashing the seed users' passwords costs seconds); the tests only read, except the one that
inserts a reading while paging, which uses a kind no other test counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import RunningHub, seed_world, start_hub

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
HL7_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FINDING_CATEGORY = "https://fhir.telemed.example/CodeSystem/observation-category"
READING_ID = "https://fhir.telemed.example/sid/reading"
HR_MDC = f"{MDC}|147842"
DAY = datetime(2026, 11, 26, tzinfo=UTC)
USERS = ("pat1", "nurse-a", "cardio", "resp", "admin")
hub_test = pytest.mark.asyncio(loop_scope="module")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# == a hub with data ===========================================================================


@dataclass
class World:
    hub: RunningHub
    tokens: dict[str, str]

    def client(self, user: str | None = "admin", **headers: str) -> httpx.AsyncClient:
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.AsyncClient(base_url=self.hub.url + "/fhir", headers=headers)


def reading(seq: int, patient: str, device: str, kind: str, value: float, when: datetime) -> Any:
    from telemed_core.kinds import UNITS, Kind
    from telemed_core.values import Reading

    unit = UNITS[Kind(kind)]
    return Reading(
        seq=seq, patient_id=patient, device_id=device, kind=kind, value=value, unit=unit,
        measured_at=when,
    )  # fmt: skip


def _p1_readings() -> list[tuple[datetime, list[Any]]]:
    """p1: 24 hourly heart rates on 26 Nov and 6 on 27 Nov; pulse rate and SpO2 twice; three
    BP panels (two with mean) with a cuff pulse, one lone systolic; one glucose. Each batch
    with its stored_at (the day after it was measured)."""
    rows: list[Any] = []
    hr = [DAY + timedelta(hours=h, minutes=30) for h in range(30)]
    rows += [("hr-1", "heart_rate", 60 + i, t) for i, t in enumerate(hr)]
    for h in (8, 20):
        rows += [("ox-1", "pulse_rate", 70, DAY + timedelta(hours=h))]
        rows += [("ox-1", "spo2", 97, DAY + timedelta(hours=h))]
    for t, mean in ((DAY + timedelta(hours=7), True), (DAY + timedelta(hours=19), True),
                    (DAY + timedelta(days=1, hours=7), False)):  # fmt: skip
        rows += [("bp-1", "bp_systolic", 130, t), ("bp-1", "bp_diastolic", 85, t)]
        rows += [("bp-1", "bp_mean", 100, t)] if mean else []
    rows += [("bp-1", "pulse_rate", 66, DAY + timedelta(hours=7))]
    rows += [("bp-1", "bp_systolic", 142, DAY + timedelta(hours=12))]
    rows += [("gl-1", "glucose", 5.5, DAY + timedelta(hours=9))]
    readings = [reading(seq, "p1", d, k, v, t) for seq, (d, k, v, t) in enumerate(rows, start=1)]
    by_day: dict[datetime, list[Any]] = {}
    for r in readings:
        stored = r.measured_at.replace(hour=0, minute=0) + timedelta(days=1)
        by_day.setdefault(stored, []).append(r)
    return sorted(by_day.items())


async def _load(database_url: str) -> None:
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.findings.repository import upsert_findings
    from patient_hub.ingest.repository import insert_chunks, insert_readings
    from telemed_core.values import SampleChunk
    from telemed_signal.findings import Finding, Severity

    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for stored_at, batch in _p1_readings():
                await insert_readings(s, "bridge-p1", batch, stored_at)
            for pid in ("p2", "p3"):
                hr = reading(1, pid, f"hr-{pid[1]}", "heart_rate", 80, DAY + timedelta(hours=12))
                await insert_readings(s, f"bridge-{pid}", [hr], DAY + timedelta(days=1))
            ecg = [
                SampleChunk(seq=100 + i, patient_id="p1", device_id="h10", lead=lead, fs_hz=130,
                            start=DAY + timedelta(hours=10, seconds=s), samples=[1, -2, 3, 40])
                for i, (lead, s) in enumerate((("I", 0), ("I", 10), ("II", 0)))
            ]  # fmt: skip
            await insert_chunks(s, "bridge-p1", ecg, DAY + timedelta(days=1))
            pleth = SampleChunk(seq=200, patient_id="p2", device_id="bedside", kind="pleth",
                                unit="1", fs_hz=125, start=DAY + timedelta(hours=9),
                                samples=[1500, 1620, 2100, 1900])  # fmt: skip
            await insert_chunks(s, "bridge-p2", [pleth], DAY + timedelta(days=1))
            findings = [
                Finding("p1", "atrial_fibrillation", DAY + timedelta(hours=10), None,
                        Severity.HIGH, "RR irregularity (Petrenas 2015)", {"hr_bpm": 120}),
                Finding("p1", "spo2_desaturation", DAY + timedelta(hours=8),
                        DAY + timedelta(hours=8, minutes=5), Severity.MEDIUM, "ODI 3%",
                        {"spo2_pct": 88}),
            ]  # fmt: skip
            await upsert_findings(s, findings, DAY + timedelta(days=1))
    finally:
        await engine.dispose()


@asynccontextmanager
async def running_world(database_url: str) -> AsyncIterator[World]:
    hub = await start_hub(database_url)
    try:
        await seed_world(database_url)
        await _load(database_url)
        tokens = {}
        async with httpx.AsyncClient(base_url=hub.url) as c:
            for user in USERS:
                r = await c.post("/auth/token", data={"username": user, "password": f"pw-{user}"})
                tokens[user] = r.json()["access_token"]
        yield World(hub, tokens)
    finally:
        await hub.stop()


async def search(world: World, params: Any, user: str = "admin", path: str = "Observation") -> Any:
    async with world.client(user) as c:
        r = await c.get(f"/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(bundle: Any) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def codes(resource: Any) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in resource["code"]["coding"]}


def times(bundle: Any) -> list[str]:
    return [e["resource"]["effectiveDateTime"] for e in bundle["entry"]]


P1_HR = {"patient": "p1", "code": HR_MDC, "_count": "100"}
