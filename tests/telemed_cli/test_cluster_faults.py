"""Faults injected into a running ``telemed cluster`` on PostgreSQL and Redis: the ingest node
and the API node killed with SIGKILL while simulated bridges send; every item stored once."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.telemed_cli.test_cluster import TELEMED, count_rows

PASSWORD = "Violet-Harbor-Kettle-93"


def two_free_ports() -> int:
    """A port p with p and p + 1 free (the ingest and API nodes keep their ports on restart)."""
    for _ in range(50):
        port = random.randint(20_000, 60_000)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture
async def fixed_port_cluster(postgres_url: str, redis_url: str) -> AsyncIterator[dict[str, Any]]:
    env = {
        **os.environ,
        "TELEMED_DATABASE_URL": postgres_url,
        "TELEMED_REDIS_URL": redis_url,
        "TELEMED_BUS_PREFIX": f"faults:{uuid.uuid4().hex}:",
        "TELEMED_ADMIN_PASSWORD": PASSWORD,
        "TELEMED_WORKER_LEASE_S": "2",
    }
    add = await asyncio.to_thread(
        subprocess.run, [*TELEMED, "user", "add", "admin", "--role", "admin"],
        input=f"{PASSWORD}\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    port = two_free_ports()
    proc = await asyncio.create_subprocess_exec(
        *TELEMED, "cluster", "--ingest", "1", "--workers", "1", "--api", "1",
        "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    nodes: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        assert line, "telemed cluster exited before it was ready"
        if match := re.search(r"TELEMED_NODE (\S+) \S+ (\S+)", line):
            nodes[match.group(1)] = match.group(2)
        if "TELEMED_CLUSTER_READY" in line:
            break
    output: list[str] = []

    async def keep() -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            output.append(raw.decode(errors="replace"))

    drain = asyncio.create_task(keep())
    yield {"env": env, "nodes": nodes, "output": output}
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 60)
    await drain


async def kill_node(client: httpx.AsyncClient, url: str) -> int:
    pid = int((await client.get(url + "/healthz")).json()["pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


async def back_up(client: httpx.AsyncClient, url: str, old_pid: int) -> None:
    """Until the node answers again from a new process (the launcher restarts it)."""
    while True:
        with_pid = None
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
async def test_killed_ingest_and_api_nodes_lose_and_double_nothing(
    fixed_port_cluster: dict[str, Any],
) -> None:
    nodes, env = fixed_port_cluster["nodes"], fixed_port_cluster["env"]
    sim = await asyncio.create_subprocess_exec(
        *TELEMED, "simulate", "--hub", nodes["ingest-1"], "--api", nodes["api-1"],
        "--patients", "4", "--seconds", "10", "--no-ecg",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as client:
        async with asyncio.timeout(60):  # the simulator has enrolled its patients and sends
            while (await count_rows(env["TELEMED_DATABASE_URL"]))[0] < 20:
                await asyncio.sleep(0.2)
        ingest_pid = await kill_node(client, nodes["ingest-1"])  # mid-stream, batches in flight
        api_pid = await kill_node(client, nodes["api-1"])
        async with asyncio.timeout(60):
            await back_up(client, nodes["ingest-1"], ingest_pid)
            await back_up(client, nodes["api-1"], api_pid)
        out, _ = await asyncio.wait_for(sim.communicate(), 120)
        assert sim.returncode == 0, out.decode()
        produced = int(re.search(r"produced (\d+) items", out.decode()).group(1))  # type: ignore[union-attr]
        # Every item the bridges produced is stored, once: none lost with the killed node,
        # none doubled by the resends of batches whose ack it never sent.
        assert await count_rows(env["TELEMED_DATABASE_URL"]) == (produced, produced)
        login = await client.post(
            nodes["api-1"] + "/auth/token", data={"username": "admin", "password": PASSWORD}
        )
        snapshot = await client.get(
            nodes["api-1"] + "/api/monitor/snapshot",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
    assert snapshot.status_code == 200  # the restarted API node serves the screens again
    said = " ".join("".join(fixed_port_cluster["output"]).split())  # the console wraps lines
    assert re.search(r"ingest-1\]? exited with -9; restarting", said), said[-2000:]
    assert re.search(r"api-1\]? exited with -9; restarting", said), said[-2000:]
