"""A ``telemed cluster`` as the fault tests run it, and what it stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import func, select

from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow, SampleChunkRow

TELEMED = [sys.executable, "-m", "telemed_cli.main"]


@dataclass
class ClusterRun:
    """A running ``telemed cluster``: its environment, nodes (name → URL) and console output."""

    env: dict[str, str]
    nodes: dict[str, str]
    output: list[str]

    def said(self) -> str:
        return " ".join("".join(self.output).split())  # the console wraps long lines

    def url_of(self, name: str) -> str:
        """Where a node listens now: a restarted worker (any free port) moves."""
        found = re.findall(rf"\[{re.escape(name)}\] telemed hub listening on (\S+)", self.said())
        return str(found[-1]) if found else self.nodes[name]


@contextlib.asynccontextmanager
async def running_cluster(
    database_url: str, redis_url: str, password: str, *, workers: int = 2, port: int = 0
) -> AsyncIterator[ClusterRun]:
    """``telemed cluster --ingest 1 --workers W --api 1`` on ``database_url`` (an admin
    account with ``password``), a bus prefix of its own, 2 s worker leases; stopped after."""
    env = {
        **os.environ,
        "TELEMED_DATABASE_URL": database_url,
        "TELEMED_REDIS_URL": redis_url,
        "TELEMED_BUS_PREFIX": f"cluster:{uuid.uuid4().hex}:",
        "TELEMED_ADMIN_PASSWORD": password,
        "TELEMED_WORKER_LEASE_S": "2",
    }
    add = await asyncio.to_thread(
        subprocess.run, [*TELEMED, "user", "add", "admin", "--role", "admin"],
        input=f"{password}\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    proc = await asyncio.create_subprocess_exec(
        *TELEMED, "cluster", "--ingest", "1", "--workers", str(workers), "--api", "1",
        "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    run = ClusterRun(env, {}, [])
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        assert line, "telemed cluster exited before it was ready"
        if match := re.search(r"TELEMED_NODE (\S+) \S+ (\S+)", line):
            run.nodes[match.group(1)] = match.group(2)
        if "TELEMED_CLUSTER_READY" in line:
            break

    async def keep() -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            run.output.append(raw.decode(errors="replace"))

    drain = asyncio.create_task(keep())
    try:
        yield run
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
        await drain


async def count_items(database_url: str, bridge_prefix: str = "") -> tuple[int, int]:
    """(items stored, distinct (bridge, seq) keys) over readings and sample chunks of the
    bridges whose id starts with ``bridge_prefix``."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            total = keys = 0
            for table in (ReadingRow, SampleChunkRow):
                mine = table.bridge_id.like(f"{bridge_prefix}%")
                total += int(await s.scalar(select(func.count(table.id)).where(mine)) or 0)
                distinct = select(table.bridge_id, table.seq).where(mine).distinct().subquery()
                keys += int(await s.scalar(select(func.count()).select_from(distinct)) or 0)
            return total, keys
    finally:
        await engine.dispose()
