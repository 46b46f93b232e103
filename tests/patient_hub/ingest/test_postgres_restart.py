"""Fault: the hub's PostgreSQL restarts while a bridge sends (a private server on a port of its
own, never the shared one). Every reading is stored exactly once and the hub is ready again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from tests.device_bridge.test_uplink import fill, stored_seqs

BIN = Path("/usr/lib/postgresql/15/bin")
N = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_postgres(*args: str) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` account then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class PrivatePostgres:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="telemed-pg-"))
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            as_postgres(str(BIN / "initdb"), "-D", str(self.folder / "data"), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *as_postgres(str(BIN / "postgres"), "-D", str(self.folder / "data"),
                         "-p", str(self.port), "-k", str(self.folder),
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        import asyncpg

        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    conn = await asyncpg.connect(self.url)
                    await conn.close()
                    return
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            # A fast shutdown: open sessions (the hub's pool) are cut, as in a real restart.
            stop = as_postgres(str(BIN / "pg_ctl"), "-D", str(self.folder / "data"), "stop",
                               "-m", "fast", "-w")  # fmt: skip
            await asyncio.to_thread(subprocess.run, stop, capture_output=True, timeout=60)
            await asyncio.wait_for(self.proc.wait(), 30)


@pytest.fixture
async def postgres() -> AsyncIterator[PrivatePostgres]:
    if not (BIN / "initdb").exists() or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    server = PrivatePostgres()
    await asyncio.to_thread(server.init)
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.mark.slow
async def test_a_postgres_restart_loses_and_doubles_nothing(
    postgres: PrivatePostgres, run_hub: Any, seed: Any, tmp_path: Path
) -> None:
    from clinician_api.migrate import upgrade_async

    await upgrade_async(postgres.url)
    tokens = await seed(postgres.url)
    hub = await run_hub(postgres.url)
    box = Outbox(tmp_path / "outbox.db")
    fill(box, N)
    uplink = Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=20)
    stop = asyncio.Event()
    try:
        sender = asyncio.create_task(uplink.run(stop))
        async with asyncio.timeout(30):
            while uplink.status.acked_items < N // 4:
                await asyncio.sleep(0.01)
        await postgres.stop()  # batches in flight: their transactions die with the server
        await asyncio.sleep(1.0)
        await postgres.start()
        async with asyncio.timeout(60):
            while box.depth():
                await asyncio.sleep(0.05)
        stop.set()
        await sender
        assert await stored_seqs(postgres.url) == list(range(1, N + 1))  # each once
        assert uplink.status.reconnects >= 1  # the fault did reach the bridge: it lost its link
        async with httpx.AsyncClient(base_url=hub.url) as client, asyncio.timeout(30):
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        box.close()
        await hub.stop()
