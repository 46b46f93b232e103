"""Fault: the hub's Redis restarts while a bridge sends (a private server, never the shared one).
Every reading is stored exactly once, the monitor gets the readings sent after the restart, and
the hub is ready again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from tests.conftest import token_for
from tests.device_bridge.test_uplink import fill, stored_seqs

N = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """redis-server on a loopback port of its own, data (AOF) in a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--appendonly", "yes", "--save", "",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # SIGTERM: Redis writes its AOF and exits
            await asyncio.wait_for(self.proc.wait(), 10)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    await server.start()
    yield server
    await server.stop()


async def monitor(url: str, token: str, seen: set[int], ready: asyncio.Event) -> None:
    async with websockets.connect(f"{url}/ws/monitor?access_token={token}") as ws:
        ready.set()
        async for raw in ws:
            frame = json.loads(raw)
            seen |= {r["seq"] for r in frame.get("readings", []) if r["patient_id"] == "p1"}


@pytest.mark.slow
async def test_a_redis_restart_loses_and_doubles_nothing(
    redis: PrivateRedis, run_hub: Any, seed: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    from clinician_api.migrate import upgrade_async

    await upgrade_async(url)
    tokens = await seed(url)
    hub = await run_hub(url, redis.url)
    seen: set[int] = set()
    ready = asyncio.Event()
    watcher = asyncio.create_task(monitor(hub.ws_url, await token_for(hub, "admin"), seen, ready))
    box = Outbox(tmp_path / "outbox.db")
    fill(box, N)
    uplink = Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box, batch_size=20)
    stop = asyncio.Event()
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        sender = asyncio.create_task(uplink.run(stop))
        async with asyncio.timeout(30):
            while uplink.status.acked_items < N // 4:
                await asyncio.sleep(0.01)
        await redis.stop()  # batches in flight: stored, not yet published or acked
        await asyncio.sleep(1.0)
        await redis.start()
        async with asyncio.timeout(45):
            while box.depth():
                await asyncio.sleep(0.05)
        stop.set()
        await sender
        assert await stored_seqs(url) == list(range(1, N + 1))  # each once
        assert uplink.status.reconnects >= 1  # the fault did reach the bridge: it lost its link
        async with asyncio.timeout(20):  # the screens got everything, the restart's too
            while len(seen) < N:
                await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=hub.url) as client, asyncio.timeout(20):
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher
        box.close()
        await hub.stop()
