"""Faults injected into a running ``telemed cluster`` on PostgreSQL and Redis: the ingest node,
a worker and the API node killed with SIGKILL while simulated bridges send. Every item is
stored once; a probe patient's desaturation before, during and after the kills raises one
alert each; escalations due meanwhile fire once; the workers never split the partitions.

``TELEMED_FAULT_ROUNDS`` kills each node that many times (CI: once each)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from telemed_cli.simulate import enrol, run_bridges
from tests.fault_kit import (
    ClusterRun,
    Probe,
    count_items,
    record,
    rounds,
    running_cluster,
    two_free_ports,
)
from tests.telemed_cli.test_cluster import partitions

PASSWORD = "Violet-Harbor-Kettle-93"
VICTIMS = {"ingest-1": "ingest node kill -9", "worker-1": "worker kill -9",
           "api-1": "API node kill -9"}  # fmt: skip


@pytest.fixture
async def fixed_port_cluster(postgres_url: str, redis_url: str) -> AsyncIterator[ClusterRun]:
    """Ingest and API nodes on fixed ports: a restarted node is where the bridges look."""
    async with running_cluster(postgres_url, redis_url, PASSWORD, port=two_free_ports()) as run:
        yield run


async def kill_node(client: httpx.AsyncClient, url: str) -> int:
    pid = int((await client.get(url + "/healthz")).json()["pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


async def back_up(
    client: httpx.AsyncClient, url_of: Callable[[str], str], name: str, old_pid: int
) -> None:
    """Until the node answers again from a new process (the launcher restarts it)."""
    while True:
        with_pid = None
        url = url_of(name)
        try:
            reply = await client.get(url + "/readyz")
            if reply.status_code == 200:
                with_pid = (await client.get(url + "/healthz")).json()["pid"]
        except httpx.TransportError:
            pass
        if with_pid is not None and with_pid != old_pid:
            return
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_killed_ingest_worker_and_api_nodes_lose_and_double_nothing(
    fixed_port_cluster: ClusterRun, tmp_path: Path
) -> None:
    nodes, env = fixed_port_cluster.nodes, fixed_port_cluster.env
    database_url = env["TELEMED_DATABASE_URL"]
    probe = Probe(database_url, nodes["ingest-1"].replace("http://", "ws://") + "/ws/bridge",
                  tmp_path)  # fmt: skip
    await probe.enrol()
    kills: Counter[str] = Counter()
    sim: asyncio.Task[dict[str, int]] | None = None
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            await probe.before()
            bridges = await enrol(nodes["api-1"], "admin", PASSWORD, 4)
            # Drained however long the restarts take (three nodes start again on a loaded
            # machine): what is still in an outbox at the end is not stored, but not lost.
            sim = asyncio.create_task(
                run_bridges(nodes["ingest-1"], bridges, seconds=10 * rounds(), ecg=False,
                            outbox_dir=tmp_path / "sim", drain_timeout_s=300)
            )  # fmt: skip
            async with asyncio.timeout(60):  # the simulator has enrolled its patients and sends
                while (await count_items(database_url, "sim-"))[0] < 20:
                    await asyncio.sleep(0.2)
            for r in range(rounds()):
                killed = {
                    name: await kill_node(client, fixed_port_cluster.url_of(name))
                    for name in VICTIMS
                }
                kills.update(VICTIMS[name] for name in killed)  # mid-stream, batches in flight
                if r == 0:
                    await probe.drive("during")
                    await probe.escalate_in("during", 1.0)
                for name, pid in killed.items():
                    try:
                        async with asyncio.timeout(120):
                            await back_up(client, fixed_port_cluster.url_of, name, pid)
                    except TimeoutError:
                        pytest.fail(f"{name} is not back: {fixed_port_cluster.said()[-3000:]}")
            await probe.drive("after")
            await probe.escalate_in("after", 1.0)
            produced = sum((await asyncio.wait_for(sim, 400)).values())
            await probe.drained()
            alerts = await probe.settled()
        finally:
            if sim is not None and not sim.done():
                sim.cancel()
            await probe.close()
        total, keys = await count_items(database_url, "sim-")
        stored = {"sent": produced, "stored": keys, "duplicated": total - keys,
                  "lost": produced - keys}  # fmt: skip
        record("cluster node kills", dict(kills), **stored, **alerts)
        # Every item the bridges produced is stored, once: none lost with the killed node,
        # none doubled by the resends of batches whose ack it never sent.
        assert stored == {"sent": produced, "stored": produced, "duplicated": 0, "lost": 0}
        assert alerts["alerts_raised"] == alerts["alerts_expected"] == 3, alerts
        assert alerts["alerts_doubled"] == 0, alerts
        assert alerts["escalations_fired"] == alerts["escalations_expected"] == 3, alerts
        assert alerts["escalations_doubled"] == 0, alerts
        workers = {w: fixed_port_cluster.url_of(w) for w in ("worker-1", "worker-2")}
        one, two = await partitions(client, workers)  # the restarted worker took its share back
        assert one is not None and two is not None and not one & two, (one, two)
        login = await client.post(
            nodes["api-1"] + "/auth/token", data={"username": "admin", "password": PASSWORD}
        )
        snapshot = await client.get(
            nodes["api-1"] + "/api/monitor/snapshot",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
    assert snapshot.status_code == 200  # the restarted API node serves the screens again
    said = fixed_port_cluster.said()
    for name in VICTIMS:
        assert re.search(rf"{name}\]? exited with -9; restarting", said), said[-2000:]
