"""The uplink against a real hub: nothing lost, nothing doubled, whatever happens to the link."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow
from telemed_core.errors import NotAuthenticated
from telemed_core.protocol import SEQ_BLOCK


def fill(box: Outbox, n: int, patient: str = "p1", first_kg: float = 70) -> None:
    box.append(
        (
            "reading",
            {
                "patient_id": patient,
                "device_id": "scale-1",
                "kind": "body_weight",
                "value": first_kg + i / 1000,
                "unit": "kg",
                "measured_at": "2026-11-27T08:00:00Z",
            },
        )
        for i in range(n)
    )


async def stored_seqs(database_url: str) -> list[int]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return list(await s.scalars(select(ReadingRow.seq).order_by(ReadingRow.seq)))
    finally:
        await engine.dispose()


async def drain(uplink: Uplink, timeout_s: float = 30) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    async with asyncio.timeout(timeout_s):
        while uplink.outbox.depth():
            await asyncio.sleep(0.02)
    stop.set()
    await task


async def test_uplink_delivers_everything_once(hub: Any, seed: Any, tmp_path: Path) -> None:
    tokens = await seed(hub.settings.database_url)
    box = Outbox(tmp_path / "o.db")
    fill(box, 1234)
    uplink = Uplink(
        hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=100
    )
    await drain(uplink)
    assert await stored_seqs(hub.settings.database_url) == list(range(1, 1235))
    assert uplink.status.acked_items == 1234 and uplink.status.duplicates == 0


async def stored_values(database_url: str) -> list[float]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return sorted(v for v in await s.scalars(select(ReadingRow.value)) if v is not None)
    finally:
        await engine.dispose()


async def test_a_replaced_outbox_filled_before_it_reaches_the_hub_loses_nothing(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    url, token = hub.ws_url + "/ws/bridge", tokens["bridge-p1"]
    first = Outbox(tmp_path / "o.db")
    fill(first, 300, first_kg=70)
    await drain(Uplink(url, "bridge-p1", token, first))
    first.close()  # the disk is replaced: the bridge starts with an empty outbox file
    second = Outbox(tmp_path / "new-disk" / "o.db")
    fill(second, 200, first_kg=80)  # captured before the new outbox has ever met the hub
    uplink = Uplink(url, "bridge-p1", token, second)
    await drain(uplink)
    expected = [70 + i / 1000 for i in range(300)] + [80 + i / 1000 for i in range(200)]
    assert await stored_values(hub.settings.database_url) == sorted(expected)
    assert uplink.status.duplicates == 0
    seqs = await stored_seqs(hub.settings.database_url)
    assert seqs == list(range(1, 301)) + list(range(SEQ_BLOCK + 1, SEQ_BLOCK + 201))


async def test_killing_the_uplink_at_random_moments_loses_and_doubles_nothing(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    box = Outbox(tmp_path / "o.db")
    fill(box, 3000)
    rng = random.Random(7)
    kills = 0
    while box.depth():
        uplink = Uplink(
            hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=50
        )
        task = asyncio.create_task(uplink.run())
        await asyncio.sleep(rng.uniform(0.005, 0.1))
        task.cancel()  # dies wherever it is: mid-send, before the ack, mid-delete
        await asyncio.gather(task, return_exceptions=True)
        kills += 1
        assert kills < 500
    assert kills > 3  # small batches and short lives: several kills even on a fast hub
    base = box.seq_base  # a kill before the outbox saved its reserved block costs the block
    assert base is not None and base % SEQ_BLOCK == 0
    assert await stored_seqs(hub.settings.database_url) == list(range(base + 1, base + 3001))


async def test_hub_down_for_the_whole_run_then_up_delivers_everything(
    tmp_path: Path, seed: Any, run_hub: Any
) -> None:
    database_url = f"sqlite:///{tmp_path / 'later.db'}"
    box = Outbox(tmp_path / "o.db")
    fill(box, 500)
    # Nobody listens on this port yet: the bridge keeps everything and retries with backoff.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub = await run_hub(database_url)
    tokens = await seed(database_url)
    await hub.stop()
    uplink = Uplink(
        f"ws://127.0.0.1:{port}/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, max_backoff_s=0.2
    )
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    await asyncio.sleep(1.0)
    assert box.depth() == 500 and uplink.status.reconnects >= 2
    stop.set()
    await task
    hub = await run_hub(database_url)
    try:
        uplink.url = hub.ws_url + "/ws/bridge"
        await drain(uplink)
    finally:
        await hub.stop()
    assert await stored_seqs(database_url) == list(range(1, 501))


async def test_a_refused_credential_stops_the_uplink_with_a_clear_error(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    await seed(hub.settings.database_url)
    box = Outbox(tmp_path / "o.db")
    fill(box, 3)
    uplink = Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", "wrong-token-wrong-token", box)
    with pytest.raises(NotAuthenticated, match="refused"):
        await asyncio.wait_for(uplink.run(), 10)
    assert box.depth() == 3


async def test_a_refused_batch_stays_in_the_outbox_and_is_reported(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    box = Outbox(tmp_path / "o.db")
    fill(box, 2, patient="p3")  # not this bridge's patient
    uplink = Uplink(
        hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, max_backoff_s=0.1
    )
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    async with asyncio.timeout(10):
        while not uplink.status.rejected:
            await asyncio.sleep(0.02)
    stop.set()
    await task
    assert box.depth() == 2
    assert "forbidden" in uplink.status.rejected[0]
    assert await stored_seqs(hub.settings.database_url) == []
