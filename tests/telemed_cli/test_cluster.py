"""`telemed cluster` as an operator runs it: ingest, worker and API nodes as real processes on
PostgreSQL and Redis; bridges on the ingest node, a monitor on the API node, a worker killed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from tests.fault_kit import TELEMED, ClusterRun, count_items, running_cluster


@pytest.fixture
async def cluster(postgres_url: str, redis_url: str) -> AsyncIterator[ClusterRun]:
    async with running_cluster(postgres_url, redis_url, "Violet-Harbor-Kettle-93") as run:
        yield run


async def held(client: httpx.AsyncClient, url: str) -> set[int] | None:
    """A worker's partitions from its /readyz (None while it is not ready)."""
    try:
        reply = await client.get(url + "/readyz")
    except httpx.TransportError:
        return None
    return set(reply.json()["partitions"]) if reply.status_code == 200 else None


async def partitions(client: httpx.AsyncClient, nodes: dict[str, str]) -> list[set[int] | None]:
    return [await held(client, nodes[w]) for w in ("worker-1", "worker-2")]


async def test_a_cluster_ingests_fans_out_and_survives_a_killed_worker(
    cluster: ClusterRun,
) -> None:
    nodes, env = cluster.nodes, cluster.env
    async with httpx.AsyncClient(timeout=10) as client:
        async with asyncio.timeout(30):  # the workers split the partitions between them
            while True:
                one, two = await partitions(client, nodes)
                if one and two and one | two == set(range(32)):
                    break
                await asyncio.sleep(0.2)
        assert not one & two
        login = await client.post(
            nodes["api-1"] + "/auth/token",
            data={"username": "admin", "password": "Violet-Harbor-Kettle-93"},
        )
        token = login.json()["access_token"]
        monitor_url = nodes["api-1"].replace("http://", "ws://") + "/ws/monitor"
        async with websockets.connect(f"{monitor_url}?access_token={token}") as monitor:
            assert json.loads(await monitor.recv())["type"] == "hello"
            sim = await asyncio.create_subprocess_exec(
                *TELEMED, "simulate", "--hub", nodes["ingest-1"], "--api", nodes["api-1"],
                "--patients", "4", "--seconds", "4", "--no-ecg",
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            seen: set[str] = set()
            while len(seen) < 4:  # readings stored by the ingest node, pushed by the API node
                frame = json.loads(await asyncio.wait_for(monitor.recv(), 30))
                seen |= {r["patient_id"] for r in frame.get("readings", [])}
            out, _ = await asyncio.wait_for(sim.communicate(), 90)
        assert sim.returncode == 0, out.decode()
        produced = int(re.search(r"produced (\d+) items", out.decode()).group(1))  # type: ignore[union-attr]
        assert await count_items(env["TELEMED_DATABASE_URL"]) == (produced, produced)
        victim = (await client.get(nodes["worker-1"] + "/healthz")).json()["pid"]
        os.kill(victim, signal.SIGKILL)
        async with asyncio.timeout(30):  # worker-2 takes worker-1's partitions over
            while (await held(client, nodes["worker-2"])) != set(range(32)):
                await asyncio.sleep(0.1)
