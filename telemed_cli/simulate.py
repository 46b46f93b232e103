"""Simulated bridges: enrol patients and bridges on a hub, then stream over the real protocol."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from device_bridge.outbox import Outbox
from device_bridge.pipeline import BridgePipeline
from device_bridge.simulator import SimulatedPatient
from device_bridge.uplink import Uplink
from telemed_core.values import utc_now

#: Enrolment requests in flight at once (the hub's latency, not its CPU, bounds one at a time).
ENROL_IN_FLIGHT = 8


@dataclass
class SimBridge:
    bridge_id: str
    patient_id: str
    token: str


def http_base(hub: str) -> str:
    """``ws://host:port`` or ``http://host:port`` → ``http://host:port``."""
    hub = hub.rstrip("/")
    for ws, http in (("ws://", "http://"), ("wss://", "https://")):
        if hub.startswith(ws):
            hub = http + hub[len(ws) :]
    return hub.removesuffix("/ws/bridge")


def ws_url(hub: str) -> str:
    base = http_base(hub)
    return base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws/bridge"


async def enrol(
    hub: str,
    admin_user: str,
    admin_password: str,
    patients: int,
    programme: str = "heart_failure",
    prefix: str = "sim",
) -> list[SimBridge]:
    """Create (or update) patients ``<prefix>-1..N`` with one home bridge each
    (``<prefix>-bridge-i``), via the admin API."""
    async with httpx.AsyncClient(base_url=http_base(hub), timeout=30) as client:
        response = await client.post(
            "/auth/token", data={"username": admin_user, "password": admin_password}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        in_flight = asyncio.Semaphore(ENROL_IN_FLIGHT)

        async def one(i: int) -> SimBridge:
            pid = f"{prefix}-{i}"
            body = {
                "id": pid,
                "display_name": f"Simulated patient {i}",
                "programme": programme,
                "is_test": True,  # HTEST: shown as test data, removable with --remove
            }
            async with in_flight:
                await _post(client, "/api/patients", body, headers)
                bridge = {"bridge_id": f"{prefix}-bridge-{i}", "patient_id": pid}
                reply = await _post(client, "/api/bridges", bridge, headers)
            return SimBridge(f"{prefix}-bridge-{i}", pid, reply.json()["token"])

        return list(await asyncio.gather(*(one(i) for i in range(1, patients + 1))))


async def _post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """POST, waiting out the hub's rate limit (429 with Retry-After) a few times."""
    for _ in range(5):
        reply = await client.post(path, json=body, headers=headers)
        if reply.status_code != 429:
            break
        await asyncio.sleep(float(reply.headers.get("Retry-After", "1")))
    return reply.raise_for_status()


async def remove(
    hub: str, admin_user: str, admin_password: str, prefix: str = "sim-"
) -> dict[str, Any]:
    """Delete the simulated cohort (test patients ``sim-*``) and all their data on the hub."""
    async with httpx.AsyncClient(base_url=http_base(hub), timeout=60) as client:
        response = await client.post(
            "/auth/token", data={"username": admin_user, "password": admin_password}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        reply = await client.delete("/api/test-data", params={"prefix": prefix}, headers=headers)
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        await client.post("/auth/logout", headers=headers)
        return result


async def produce(
    patient: SimulatedPatient,
    pipeline: BridgePipeline,
    seconds: float | None,
    stop: asyncio.Event,
    speed: float = 1.0,
) -> int:
    """Feed one patient's device bytes through the bridge pipeline, one simulated second per
    1/speed s of wall time; return how many outbox items they produced."""
    produced = 0
    started = utc_now()
    tick = 0
    while not stop.is_set() and (seconds is None or tick < seconds):
        at = started + timedelta(seconds=tick / speed)
        for note in patient.tick(at):
            produced += pipeline.on_payload(
                note.address, note.characteristic, note.payload, note.received_at
            )
        tick += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, (at - utc_now()).total_seconds() + 1 / speed)):
                await stop.wait()
    return produced


async def run_bridges(
    hub: str,
    bridges: list[SimBridge],
    *,
    seconds: float | None,
    outbox_dir: Path | None = None,
    ecg: bool = True,
    speed: float = 1.0,
    drain_timeout_s: float = 60.0,
    stop: asyncio.Event | None = None,
    scenarios: dict[str, str] | None = None,
    scenario_start_s: int | None = None,
    on_uplink: Callable[[Uplink], None] | None = None,
    online_within_s: float = 0.0,
) -> dict[str, int]:
    """Run simulated bridges; after ``seconds`` (or ``stop``), drain the outboxes. Returns
    how many items each bridge produced; ``on_uplink`` is shown each bridge's uplink. With
    ``online_within_s``, the bridges start producing once all are online (or that time has
    passed): a load test measures the stream, not the connection storm before it."""
    stop = stop or asyncio.Event()
    folder = outbox_dir or Path(tempfile.mkdtemp(prefix="telemed-sim-"))
    link_stop = asyncio.Event()
    uplinks, patients = [], []
    for i, b in enumerate(bridges):
        outbox = Outbox(folder / f"{b.bridge_id}.db")
        uplink = Uplink(ws_url(hub), b.bridge_id, b.token, outbox)
        uplinks.append(uplink)
        if on_uplink is not None:
            on_uplink(uplink)
        scenario = (scenarios or {}).get(b.patient_id)
        patient = SimulatedPatient(
            b.patient_id, seed=1000 + i, ecg=ecg, scenario=scenario,
            scenario_start_s=scenario_start_s if scenario else None,
        )  # fmt: skip
        pipeline = BridgePipeline(outbox, {d.address: d for d in patient.bindings()})
        pipeline.recover()
        patients.append((patient, pipeline))
        await asyncio.sleep(0)  # thousands of bridges: the sockets already open stay served
    # Every bridge produces from the moment its uplink runs: a bridge that produced while the
    # others were still being set up (minutes, for 2,500 outboxes on a loaded machine) held
    # its readings until then, and the load test counted that wait as the hub's latency.
    links = [asyncio.create_task(u.run(link_stop)) for u in uplinks]
    await _online(uplinks, online_within_s)
    producers = [
        asyncio.create_task(produce(patient, pipeline, seconds, stop, speed))
        for patient, pipeline in patients
    ]
    produced = await asyncio.gather(*producers)
    deadline = asyncio.get_running_loop().time() + drain_timeout_s
    while any(u.outbox.depth() for u in uplinks) and asyncio.get_running_loop().time() < deadline:
        if any(link.done() for link in links):
            break
        await asyncio.sleep(0.1)
    link_stop.set()
    await asyncio.gather(*links, return_exceptions=True)
    for u in uplinks:
        u.outbox.close()
    return {b.bridge_id: n for b, n in zip(bridges, produced, strict=True)}


async def _online(uplinks: list[Uplink], within_s: float) -> None:
    """Until every uplink is online, for at most ``within_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if all(u.status.state == "online" for u in uplinks):
            return
        await asyncio.sleep(0.2)


def scenario_programme(scenario: str | None) -> str:
    """A missed measurement is a hypertension patient's (BP twice a day); others heart failure."""
    return "hypertension" if scenario == "missed-measurement" else "heart_failure"


async def prepare_scenario(
    hub: str,
    admin_user: str,
    admin_password: str,
    patient_ids: list[str],
    scenario: str | None,
    start_s: int,
) -> None:
    """What a scenario needs on the hub: for ``missed-measurement``, a blood-pressure slot due
    a minute after the scenario starts, one minute of grace and an alert at the first miss (the
    programme's 07:00/19:00 schedule would take hours to show anything)."""
    if scenario != "missed-measurement":
        return
    async with httpx.AsyncClient(base_url=http_base(hub), timeout=30) as client:
        response = await client.post(
            "/auth/token", data={"username": admin_user, "password": admin_password}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        due = utc_now().astimezone(ZoneInfo("Europe/Prague")) + timedelta(seconds=start_s + 60)
        local_time = f"{due.hour:02d}:{due.minute:02d}"
        body = {"kind": "bp_systolic", "local_time": local_time, "grace_min": 1,
                "misses_before_alert": 1}  # fmt: skip
        for pid in patient_ids:
            reply = await client.post(f"/api/patients/{pid}/schedules", json=body, headers=headers)
            reply.raise_for_status()
