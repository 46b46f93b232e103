"""``telemed loadtest --ecg-streams N``: continuous 250 Hz single-lead ECG streams (a bedside
monitor's lead, one 250-sample chunk a second, as the protocol's sample chunks), each from a
bridge of its own, and whether the signal workers keep up with them.

"Kept up in real time" is measured at the end: once the bridges have drained, how long the
workers still analyse (their ``telemed_worker_messages_total`` on ``/metrics`` still rising).
A worker that kept pace finishes within a poll or two; one that fell behind works off its
backlog for as long as it is behind.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx

from device_bridge.outbox import Outbox
from device_bridge.simulator import synthetic_ecg_beats
from device_bridge.uplink import Uplink
from telemed_cli.simulate import SimBridge, ws_url
from telemed_core.values import utc_now

ECG_FS_HZ = 250
#: Six seconds at 70/min are seven whole beats: the stream loops over them seamlessly.
LOOP_UV = synthetic_ecg_beats(70.0, ECG_FS_HZ, 6 * ECG_FS_HZ, 0.0)[0]
WORKER_MESSAGES = re.compile(r"^telemed_worker_messages_total\s+([0-9.e+]+)$", re.M)
SETTLED_S = 2.0  # no analysis for this long: the workers are idle


def ecg_cohort(n: int) -> list[tuple[str, str]]:
    """(bridge id, patient id) of the ECG streams ``sim-ecg-1..N``."""
    return [(f"sim-ecg-bridge-{i}", f"sim-ecg-{i}") for i in range(1, n + 1)]


async def stream(
    hub: str,
    bridge: SimBridge,
    seconds: float,
    folder: Path,
    drain_timeout_s: float,
    on_uplink: Callable[[Uplink], None] | None = None,
) -> int:
    """One 250 Hz lead for ``seconds`` at real time; returns the chunks it produced."""
    box = Outbox(folder / f"{bridge.bridge_id}.db")
    uplink = Uplink(ws_url(hub), bridge.bridge_id, bridge.token, box)
    if on_uplink is not None:
        on_uplink(uplink)
    stop = asyncio.Event()
    link = asyncio.create_task(uplink.run(stop))
    loop = asyncio.get_running_loop()
    started, t0 = loop.time(), utc_now()
    k = 0
    while k < seconds:
        await asyncio.sleep(max(0.0, started + k + 1 - loop.time()))
        i = (k % 6) * ECG_FS_HZ
        chunk = {"patient_id": bridge.patient_id, "device_id": f"ecg-{bridge.patient_id}",
                 "kind": "ecg", "lead": "II", "unit": "uV", "fs_hz": float(ECG_FS_HZ),
                 "start": (t0 + timedelta(seconds=k)).isoformat(),
                 "samples": LOOP_UV[i : i + ECG_FS_HZ]}  # fmt: skip
        box.append([("chunk", chunk)])
        k += 1
    drained = asyncio.create_task(box.drained.wait())
    await asyncio.wait(
        {drained, link}, timeout=drain_timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    drained.cancel()
    stop.set()
    await asyncio.gather(link, return_exceptions=True)
    box.close()
    return k


async def analysed(client: httpx.AsyncClient, workers: list[str]) -> float:
    """Bus messages the workers have analysed so far (their ``/metrics`` summed)."""
    total = 0.0
    for url in workers:
        if m := WORKER_MESSAGES.search((await client.get(url + "/metrics")).text):
            total += float(m.group(1))
    return total


async def backlog_s(workers: list[str], timeout_s: float = 300.0) -> float | None:
    """Seconds the workers still analysed after the bridges drained (None: still busy after
    ``timeout_s``)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        last, last_change = await analysed(client, workers), time.monotonic()
        while time.monotonic() - last_change < SETTLED_S:
            if time.monotonic() - started > timeout_s:
                return None
            await asyncio.sleep(0.25)
            if (now := await analysed(client, workers)) != last:
                last, last_change = now, time.monotonic()
    return round(last_change - started, 1)
