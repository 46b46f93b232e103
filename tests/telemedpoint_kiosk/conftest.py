"""Kiosk fixtures: a real hub, a kiosk app on a real socket with simulated devices, a cuttable
network link between them, and Debian's Chromium."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemedpoint_kiosk.hub_client import Enrolment
from telemedpoint_kiosk.runtime import Kiosk
from telemedpoint_kiosk.serve import build_kiosk
from telemedpoint_kiosk.settings import KioskSettings
from telemedpoint_kiosk.setup import save_identity
from telemedpoint_kiosk.simulated import SimulatedDevices
from telemedpoint_kiosk.web.app import create_kiosk_app
from tests.browser import SCREENS

REPO = Path(__file__).resolve().parents[2]


class Link:
    """A TCP forwarder standing for the village's network: ``cut()`` drops every connection
    and refuses new ones until ``restore()``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self.up = False
        for w in list(self._writers):
            w.close()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@dataclass
class RunningKiosk:
    url: str
    kiosk: Kiosk
    sim: SimulatedDevices
    server: Any
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)

    async def drained(self, timeout_s: float = 30.0) -> None:
        """Wait until the hub acked everything the kiosk stored."""
        async with asyncio.timeout(timeout_s):
            await self.kiosk.outbox.drained.wait()


def kiosk_settings(state_dir: Path) -> KioskSettings:
    return KioskSettings(
        state_dir=state_dir, port=0, simulate=True, strip_s=30.0, sim_measure_wall_s=0.2,
        sim_strip_wall_s=1.5, measure_timeout_s=5.0, hub_timeout_s=10.0, heartbeat_s=1.0,
    )  # fmt: skip


async def start_kiosk(settings: KioskSettings) -> RunningKiosk:
    import uvicorn

    kiosk, sim = build_kiosk(settings)
    assert sim is not None
    config = uvicorn.Config(create_kiosk_app(kiosk), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningKiosk(f"http://127.0.0.1:{port}", kiosk, sim, server, task)


@dataclass
class World:
    hub: Any
    link: Link
    settings: KioskSettings
    start: Callable[[], Awaitable[RunningKiosk]]


@pytest.fixture
async def world(hub: Any, seed: Any, tmp_path: Path) -> AsyncIterator[World]:
    """The seeded hub, a link to it, and a kiosk of telemedpoint tmp-a behind that link."""
    tokens = await seed(hub.settings.database_url)
    link = Link(int(hub.url.rsplit(":", 1)[1]))
    await link.start()
    settings = kiosk_settings(tmp_path / "kiosk")
    save_identity(settings, link.url, Enrolment("kiosk-a", tokens["kiosk-a"], "tmp-a", "Point A"))
    started: list[RunningKiosk] = []

    async def start() -> RunningKiosk:
        running = await start_kiosk(settings)
        started.append(running)
        return running

    yield World(hub, link, settings, start)
    for running in started:
        with contextlib.suppress(Exception):
            await running.stop()
    await link.stop()


async def screen(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / f"kiosk-{name}.png"), full_page=True)


async def hub_get(hub: Any, path: str, user: str = "nurse-a", **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post("/auth/token", data={"username": user, "password": f"pw-{user}"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        reply = await client.get(path, headers=headers, params=params)
        reply.raise_for_status()
        return reply.json()
