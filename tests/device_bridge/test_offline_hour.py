"""Fault: a bridge offline for an hour (of measured time) drains its outbox when the link comes
back: every reading is stored exactly once and the desaturation inside that hour raises one
alert episode per rule, not one per batch or per resend."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.episodes.models import AlertEpisode
from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from patient_hub.db import make_engine, make_sessionmaker
from tests.device_bridge.test_uplink import stored_seqs
from tests.fault_kit import record, tally

HOUR_S = 3600
T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
LOW = range(20 * 60, 23 * 60)  # three minutes at 86 % (limit 90 %, 60 s persistence)


def an_hour_of_spo2(box: Outbox) -> None:
    """One SpO2 reading a second, as a pulse oximeter sends them, while the link is down."""
    box.append(
        (
            "reading",
            {
                "patient_id": "p1",
                "device_id": "ox-1",
                "kind": "spo2",
                "value": 86.0 if s in LOW else 97.0,
                "unit": "%",
                "measured_at": (T0 + timedelta(seconds=s)).isoformat(),
                "received_at": (T0 + timedelta(seconds=s)).isoformat(),
            },
        )  # fmt: skip
        for s in range(HOUR_S)
    )


async def episodes_by_rule(database_url: str) -> Counter[str]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = await s.scalars(select(AlertEpisode).where(AlertEpisode.patient_id == "p1"))
            return Counter(e.rule for e in rows)
    finally:
        await engine.dispose()


async def drain_an_offline_hour(hub: Any, seed: Any, folder: Path) -> Uplink:
    tokens = await seed(hub.settings.database_url)
    box = Outbox(folder / "outbox.db")
    an_hour_of_spo2(box)  # captured while offline: nothing has reached the hub
    assert box.depth() == HOUR_S
    uplink = Uplink(
        hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=200
    )
    stop = asyncio.Event()
    sender = asyncio.create_task(uplink.run(stop))
    try:
        async with asyncio.timeout(60):
            while box.depth():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await sender
        box.close()
    return uplink


@pytest.mark.slow
async def test_an_hour_offline_drains_every_reading_once(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    uplink = await drain_an_offline_hour(hub, seed, tmp_path)
    seqs = await stored_seqs(hub.settings.database_url)
    record("offline hour", {"bridge offline an hour": 1}, **tally(HOUR_S, seqs))
    assert seqs == list(range(1, HOUR_S + 1))
    assert uplink.status.duplicates == 0


@pytest.mark.slow
async def test_an_hour_offline_drained_pages_once_per_rule(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    await drain_an_offline_hour(hub, seed, tmp_path)
    async with asyncio.timeout(30):  # the alert engine has seen the desaturation
        while not await episodes_by_rule(hub.settings.database_url):
            await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # and everything after it: nothing more may open
    got = await episodes_by_rule(hub.settings.database_url)
    assert any("desaturation" in rule for rule in got), got
    assert all(n == 1 for n in got.values()), got  # one episode per rule, however it arrived
