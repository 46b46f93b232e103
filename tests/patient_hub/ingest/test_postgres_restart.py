"""Fault: the hub's PostgreSQL restarts while a bridge sends (a private server on a port of its
own, never the shared one). Every reading is stored exactly once, the hub is ready again, and a
probe patient's desaturation before, during and after the restart raises one alert each while
escalations due meanwhile fire once.

``TELEMED_FAULT_ROUNDS`` restarts PostgreSQL that many times in one run (CI: once)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from tests.device_bridge.test_uplink import fill
from tests.fault_kit import PrivatePostgres, Probe, record, rounds, seqs_of, tally

N = 600


@pytest.mark.slow
async def test_a_postgres_restart_loses_and_doubles_nothing(
    private_postgres: PrivatePostgres, run_hub: Any, seed: Any, tmp_path: Path
) -> None:
    from clinician_api.migrate import upgrade_async

    url = private_postgres.url
    await upgrade_async(url)
    tokens = await seed(url)
    hub = await run_hub(url)
    n = N * rounds()
    box = Outbox(tmp_path / "outbox.db")
    fill(box, n)
    uplink = Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=20)
    probe = Probe(url, hub.ws_url + "/ws/bridge", tmp_path)
    stop = asyncio.Event()
    try:
        await probe.enrol()
        await probe.before()
        sender = asyncio.create_task(uplink.run(stop))
        for r in range(rounds()):
            async with asyncio.timeout(30):
                while uplink.status.acked_items < n * (4 * r + 1) // (4 * rounds()):
                    await asyncio.sleep(0.01)
            if r == 0:  # due while the database is down: it fires once it is back
                await probe.escalate_in("during", 1.0)
            await private_postgres.stop()  # batches in flight: their transactions die with it
            if r == 0:
                await probe.drive("during")
            await asyncio.sleep(1.0)
            await private_postgres.start()
        await probe.drive("after")
        await probe.escalate_in("after", 1.0)
        async with asyncio.timeout(60):
            while box.depth():
                await asyncio.sleep(0.05)
        stop.set()
        await sender
        await probe.drained()
        stored = tally(n, await seqs_of(url, "bridge-p1"))
        alerts = await probe.settled()
        record("postgres restart", {"postgres restart": rounds()}, **stored, **alerts)
        assert stored == {"sent": n, "stored": n, "duplicated": 0, "lost": 0}
        assert uplink.status.reconnects >= 1  # the fault did reach the bridge: it lost its link
        async with httpx.AsyncClient(base_url=hub.url) as client, asyncio.timeout(30):
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
        assert alerts["alerts_raised"] == alerts["alerts_expected"] == 3, alerts
        assert alerts["alerts_doubled"] == 0, alerts
        assert alerts["escalations_fired"] == alerts["escalations_expected"] == 3, alerts
        assert alerts["escalations_doubled"] == 0, alerts
    finally:
        stop.set()
        await probe.close()
        box.close()
        await hub.stop()
