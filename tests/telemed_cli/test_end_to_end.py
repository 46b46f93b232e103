"""End to end over real sockets and real processes: `telemed serve`, `telemed simulate`, a monitor.

The same test runs on the embedded default (SQLite file, in-process bus) and on PostgreSQL +
Redis Streams (mandatory in CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow, SampleChunkRow

TELEMED = [sys.executable, "-m", "telemed_cli.main"]


async def start_serve(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *TELEMED,
        "serve",
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise AssertionError("telemed serve exited before it was ready")
        if match := re.search(r"TELEMED_READY (\S+)", line):
            return proc, match.group(1)


@pytest.fixture(params=["sqlite", "postgres+redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    env = {**os.environ, "TELEMED_ADMIN_PASSWORD": "Violet-Harbor-Kettle-93"}
    if request.param == "sqlite":
        env["TELEMED_DATABASE_URL"] = f"sqlite:///{tmp_path / 'e2e.db'}"
    else:
        env["TELEMED_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["TELEMED_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["TELEMED_BUS_PREFIX"] = f"e2e:{uuid.uuid4().hex}:"
    yield env


async def count_rows(database_url: str) -> tuple[int, int, int]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            readings = await s.scalar(select(func.count(ReadingRow.id)))
            distinct = await s.scalar(
                select(func.count()).select_from(
                    select(ReadingRow.bridge_id, ReadingRow.seq).distinct().subquery()
                )
            )
            chunks = await s.scalar(select(func.count(SampleChunkRow.id)))
            return int(readings or 0), int(distinct or 0), int(chunks or 0)
    finally:
        await engine.dispose()


async def test_simulated_bridges_reach_a_monitor_through_serve(
    backend: dict[str, str], tmp_path: Path
) -> None:
    add = await asyncio.to_thread(
        subprocess.run,
        [*TELEMED, "user", "add", "admin", "--role", "admin"],
        input="Violet-Harbor-Kettle-93\n",
        env=backend,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert add.returncode == 0, add.stdout + add.stderr
    serve, url = await start_serve(backend)
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            login = await client.post(
                "/auth/token", data={"username": "admin", "password": "Violet-Harbor-Kettle-93"}
            )
            token = login.json()["access_token"]
        ws_url = url.replace("http://", "ws://") + f"/ws/monitor?access_token={token}"
        async with websockets.connect(ws_url) as monitor:
            assert json.loads(await monitor.recv())["type"] == "hello"
            sim = await asyncio.create_subprocess_exec(
                *TELEMED,
                "simulate",
                "--hub",
                url,
                "--patients",
                "2",
                "--seconds",
                "3",
                "--outbox-dir",
                str(tmp_path / "outbox"),
                env=backend,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            seen: dict[str, set[str]] = {}
            while len(seen) < 2 or any(len(kinds) < 3 for kinds in seen.values()):
                frame = json.loads(await asyncio.wait_for(monitor.recv(), 30))
                for r in frame.get("readings", []):
                    seen.setdefault(r["patient_id"], set()).add(r["kind"])
            out, _ = await asyncio.wait_for(sim.communicate(), 90)
        assert sim.returncode == 0, out.decode()
        assert set(seen) == {"sim-1", "sim-2"}
        assert {"heart_rate", "spo2", "bp_systolic"} <= seen["sim-1"]
        produced = int(re.search(r"produced (\d+) items", out.decode()).group(1))  # type: ignore[union-attr]
        readings, distinct, chunks = await count_rows(backend["TELEMED_DATABASE_URL"])
        assert readings == distinct  # nothing doubled
        assert readings + chunks == produced  # nothing lost
        assert chunks == 2 * 3 * 2  # two Polar ECG frames (73 + 57 samples) per second per patient
    finally:
        serve.terminate()
        await asyncio.wait_for(serve.wait(), 30)


async def simulate(hub: str, env: dict[str, str]) -> int:
    """One `telemed simulate` run with a fresh outbox (no --outbox-dir); items it produced."""
    sim = await asyncio.create_subprocess_exec(
        *TELEMED, "simulate", "--hub", hub, "--patients", "2", "--seconds", "3",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(sim.communicate(), 90)
    assert sim.returncode == 0, out.decode()
    return int(re.search(r"produced (\d+) items", out.decode()).group(1))  # type: ignore[union-attr]


async def test_a_second_simulate_run_with_fresh_outboxes_loses_nothing(
    backend: dict[str, str],
) -> None:
    add = await asyncio.to_thread(
        subprocess.run,
        [*TELEMED, "user", "add", "admin", "--role", "admin"],
        input="Violet-Harbor-Kettle-93\n", env=backend, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    serve, url = await start_serve(backend)
    try:
        # The second run re-enrols the same bridges, whose new outboxes number from 1 locally.
        produced = await simulate(url, backend) + await simulate(url, backend)
        readings, distinct, chunks = await count_rows(backend["TELEMED_DATABASE_URL"])
        assert readings == distinct
        assert readings + chunks == produced
    finally:
        serve.terminate()
        await asyncio.wait_for(serve.wait(), 30)
