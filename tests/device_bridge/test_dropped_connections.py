"""Fault: bridge connections dropped at random moments. A TCP proxy between three bridges and
the hub cuts every connection through it, mid-frame, at random points of the stream: each bridge reconnects and sends
again what was not acked. Every reading is stored exactly once; a probe patient's desaturation
before, during and after the cuts raises one alert each, and escalations due meanwhile fire once.

``TELEMED_FAULT_ROUNDS`` scales the run (CI: 1 round, 4 cuts, 3 × 1,500 readings)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from tests.device_bridge.test_uplink import fill
from tests.fault_kit import CuttingProxy, Probe, cut_during, record, rounds, seqs_of, tally

PATIENTS = ("p1", "p2", "p3")


@pytest.mark.slow
async def test_dropped_bridge_connections_lose_and_double_nothing(
    hub: Any, seed: Any, cutting_proxy: CuttingProxy, tmp_path: Path
) -> None:
    url = hub.settings.database_url
    tokens = await seed(url)
    n, cuts = 1500 * rounds(), 4 * rounds()
    probe = Probe(url, cutting_proxy.ws_url + "/ws/bridge", tmp_path)
    await probe.enrol()
    await probe.before()  # its alert raised and its escalation fired before the first cut
    stop = asyncio.Event()
    senders = []
    for pid in PATIENTS:
        box = Outbox(tmp_path / f"{pid}.db")
        fill(box, n, patient=pid)
        uplink = Uplink(cutting_proxy.ws_url + "/ws/bridge", f"bridge-{pid}",
                        tokens[f"bridge-{pid}"], box, batch_size=20)  # fmt: skip
        senders.append((uplink, asyncio.create_task(uplink.run(stop))))
    try:
        uplinks = [u for u, _ in senders]
        cutter = asyncio.create_task(
            cut_during(cutting_proxy, uplinks, 3 * n, cuts, random.Random())
        )
        await probe.drive("during")
        await probe.escalate_in("during", 1.5)
        found = await cutter
        await probe.drive("after")
        await probe.escalate_in("after", 1.0)
        async with asyncio.timeout(120):
            while any(u.outbox.depth() for u, _ in senders):
                await asyncio.sleep(0.1)
        await probe.drained()
        stored = [tally(n, await seqs_of(url, f"bridge-{pid}")) for pid in PATIENTS]
        alerts = await probe.settled()
    finally:
        stop.set()
        await asyncio.gather(*(t for _, t in senders), return_exceptions=True)
        for u, _ in senders:
            u.outbox.close()
        await probe.close()
    figures = {k: sum(s[k] for s in stored) for k in ("sent", "stored", "duplicated", "lost")}
    record(
        "dropped bridge connections",
        {"connections cut": cutting_proxy.cuts, "cut moments": cuts},
        **figures, resent_and_refused=sum(u.status.duplicates for u, _ in senders), **alerts,
    )  # fmt: skip
    assert figures == {"sent": 3 * n, "stored": 3 * n, "duplicated": 0, "lost": 0}
    assert sum(found) >= 1 and sum(u.status.reconnects for u, _ in senders) >= 1  # it did cut
    assert alerts["alerts_raised"] == alerts["alerts_expected"] == 3
    assert alerts["alerts_doubled"] == 0, alerts
    assert alerts["escalations_fired"] == alerts["escalations_expected"] == 3
    assert alerts["escalations_doubled"] == 0
