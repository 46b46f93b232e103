"""`telemed cluster` as an operator runs it: ingest, worker and API nodes as real processes on
PostgreSQL and Redis; bridges on the ingest node, a monitor on the API node, a worker killed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow, SampleChunkRow

TELEMED = [sys.executable, "-m", "telemed_cli.main"]


@pytest.fixture
async def cluster(postgres_url: str, redis_url: str) -> AsyncIterator[dict[str, Any]]:
    env = {
        **os.environ,
        "TELEMED_DATABASE_URL": postgres_url,
        "TELEMED_REDIS_URL": redis_url,
        "TELEMED_BUS_PREFIX": f"cluster:{uuid.uuid4().hex}:",
        "TELEMED_ADMIN_PASSWORD": "Violet-Harbor-Kettle-93",
        "TELEMED_WORKER_LEASE_S": "2",
    }
    add = await asyncio.to_thread(
        subprocess.run, [*TELEMED, "user", "add", "admin", "--role", "admin"],
        input="Violet-Harbor-Kettle-93\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    proc = await asyncio.create_subprocess_exec(
        *TELEMED, "cluster", "--ingest", "1", "--workers", "2", "--api", "1", "--port", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
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
    drain = asyncio.create_task(proc.stdout.read())
    yield {"env": env, "nodes": nodes, "proc": proc}
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 60)
    await drain


async def count_rows(database_url: str) -> tuple[int, int]:
    """(items stored, distinct (bridge, seq) keys) over readings and sample chunks."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            total = 0
            keys = 0
            for table in (ReadingRow, SampleChunkRow):
                total += int(await s.scalar(select(func.count(table.id))) or 0)
                keys += int(
                    await s.scalar(
                        select(func.count()).select_from(
                            select(table.bridge_id, table.seq).distinct().subquery()
                        )
                    )
                    or 0
                )
            return total, keys
    finally:
        await engine.dispose()


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
    cluster: dict[str, Any],
) -> None:
    nodes, env = cluster["nodes"], cluster["env"]
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
        assert await count_rows(env["TELEMED_DATABASE_URL"]) == (produced, produced)
        victim = (await client.get(nodes["worker-1"] + "/healthz")).json()["pid"]
        os.kill(victim, signal.SIGKILL)
        async with asyncio.timeout(30):  # worker-2 takes worker-1's partitions over
            while (await held(client, nodes["worker-2"])) != set(range(32)):
                await asyncio.sleep(0.1)
