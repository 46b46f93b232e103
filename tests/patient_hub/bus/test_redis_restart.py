"""Fault: the hub's Redis restarts while a bridge sends (a private server, never the shared one).
Every reading is stored exactly once, the monitor gets the readings sent after the restart, the
hub is ready again, and a probe patient's desaturation before, during and after the restart
raises one alert each while escalations due meanwhile fire once.

``TELEMED_FAULT_ROUNDS`` restarts Redis that many times in one run (CI: once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from tests.conftest import token_for
from tests.device_bridge.test_uplink import fill
from tests.fault_kit import PrivateRedis, Probe, record, rounds, seqs_of, tally

N = 600


async def monitor(url: str, token: str, seen: set[int], ready: asyncio.Event) -> None:
    async with websockets.connect(f"{url}/ws/monitor?access_token={token}") as ws:
        ready.set()
        async for raw in ws:
            frame = json.loads(raw)
            seen |= {r["seq"] for r in frame.get("readings", []) if r["patient_id"] == "p1"}


@pytest.mark.slow
async def test_a_redis_restart_loses_and_doubles_nothing(
    private_redis: PrivateRedis, run_hub: Any, seed: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    from clinician_api.migrate import upgrade_async

    await upgrade_async(url)
    tokens = await seed(url)
    hub = await run_hub(url, private_redis.url)
    n = N * rounds()
    seen: set[int] = set()
    ready = asyncio.Event()
    watcher = asyncio.create_task(monitor(hub.ws_url, await token_for(hub, "admin"), seen, ready))
    box = Outbox(tmp_path / "outbox.db")
    fill(box, n)
    uplink = Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=20)
    probe = Probe(url, hub.ws_url + "/ws/bridge", tmp_path)
    stop = asyncio.Event()
    try:
        await probe.enrol()
        await probe.before()
        async with asyncio.timeout(10):
            await ready.wait()
        sender = asyncio.create_task(uplink.run(stop))
        for r in range(rounds()):
            async with asyncio.timeout(30):
                while uplink.status.acked_items < n * (4 * r + 1) // (4 * rounds()):
                    await asyncio.sleep(0.01)
            await private_redis.stop()  # batches in flight: stored, not yet published or acked
            if r == 0:
                await probe.drive("during")
                await probe.escalate_in("during", 0.5)
            await asyncio.sleep(1.0)
            await private_redis.start()
        await probe.drive("after")
        await probe.escalate_in("after", 1.0)
        async with asyncio.timeout(45):
            while box.depth():
                await asyncio.sleep(0.05)
        stop.set()
        await sender
        await probe.drained()
        stored = tally(n, await seqs_of(url, "bridge-p1"))
        alerts = await probe.settled()
        record("redis restart", {"redis restart": rounds()}, **stored, **alerts)
        assert stored == {"sent": n, "stored": n, "duplicated": 0, "lost": 0}
        assert uplink.status.reconnects >= 1  # the fault did reach the bridge: it lost its link
        async with asyncio.timeout(20):  # the screens got everything, the restart's too
            while len(seen) < n:
                await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=hub.url) as client, asyncio.timeout(20):
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
        assert alerts["alerts_raised"] == alerts["alerts_expected"] == 3, alerts
        assert alerts["alerts_doubled"] == 0, alerts
        assert alerts["escalations_fired"] == alerts["escalations_expected"] == 3, alerts
        assert alerts["escalations_doubled"] == 0, alerts
    finally:
        stop.set()
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher
        await probe.close()
        box.close()
        await hub.stop()
