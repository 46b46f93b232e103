"""Shared fixtures: real PostgreSQL and Redis when they answer (mandatory when CI=true)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "TELEMED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _per_worker(url: str) -> str:
    """Under pytest-xdist each test process gets its own Redis database (base + worker number),
    so streams, groups and leases of tests running at the same moment never meet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db or 0) + int(worker[2:])) % 16}"


REDIS_URL = _per_worker(os.environ.get("TELEMED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when the server is not there, except in CI where it is mandatory."""
    if _answers(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} on {host}:{port} is mandatory in CI and does not answer")
    pytest.skip(f"{name} on {host}:{port} does not answer")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_dsn = POSTGRES_URL

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # In a thread of its own: the fixture may be requested from inside a running event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run(f'CREATE DATABASE "{name}"')).result()
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        pool.submit(asyncio.run, run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')).result()


class RunningHub:
    """A real hub on a real socket (uvicorn in this event loop) plus direct DB access."""

    def __init__(
        self, settings: object, url: str, server: object, task: asyncio.Task[None]
    ) -> None:
        self.settings = settings
        self.url = url
        self.ws_url = url.replace("http://", "ws://")
        self._server = server
        self._task = task

    async def stop(self) -> None:
        self._server.should_exit = True  # type: ignore[attr-defined]
        await asyncio.wait_for(self._task, 10)


async def start_hub(
    database_url: str, redis_url: str | None = None, **overrides: Any
) -> RunningHub:
    import uvicorn

    from clinician_api.app import create_app
    from clinician_api.migrate import upgrade_async
    from clinician_api.settings import ServerSettings

    settings = ServerSettings(
        database_url=database_url,
        redis_url=redis_url,
        port=0,
        bus_prefix=overrides.pop("bus_prefix", None) or f"test:{uuid.uuid4().hex}:",
        **overrides,
    )
    await upgrade_async(database_url)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningHub(settings, f"http://127.0.0.1:{port}", server, task)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A hub on SQLite with an in-process bus."""
    running = await start_hub(f"sqlite:///{tmp_path / 'hub.db'}")
    yield running
    await running.stop()


@pytest.fixture
def run_hub() -> object:
    """Factory for hubs on other backends: ``await run_hub(database_url, redis_url)``."""
    return start_hub


async def token_for(hub: Any, username: str) -> str:
    """A bearer token of a ``seed_world`` account (password ``pw-<name>``). Sign-in verifies an
    argon2 hash (memory-hard by design), which takes seconds on a loaded test machine."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        response = await client.post(
            "/auth/token", data={"username": username, "password": f"pw-{username}"}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


async def seed_world(database_url: str) -> dict[str, str]:
    """Two telemedpoints, three patients, one bridge per patient, one account per role.

    Returns bridge tokens by bridge id. Passwords are ``pw-<username>``.
    """
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as patients
    from telemed_core.values import utc_now

    engine = make_engine(database_url)
    tokens: dict[str, str] = {}
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await patients.ensure_telemedpoint(s, "tmp-a", "Point A")
            await patients.ensure_telemedpoint(s, "tmp-b", "Point B")
            for pid, point in (("p1", "tmp-a"), ("p2", "tmp-a"), ("p3", "tmp-b")):
                await patients.upsert_patient(
                    s, pid, f"Patient {pid}", utc_now(), telemedpoint_id=point
                )
                tokens[f"bridge-{pid}"] = await patients.enrol_bridge(
                    s, f"bridge-{pid}", patient_id=pid
                )
            tokens["kiosk-a"] = await patients.enrol_bridge(s, "kiosk-a", telemedpoint_id="tmp-a")
            await create_user(s, "pat1", "pw-pat1", "patient", patient_id="p1")
            await create_user(s, "nurse-a", "pw-nurse-a", "nurse", telemedpoint_id="tmp-a")
            cardio = await create_user(s, "cardio", "pw-cardio", "cardiologist")
            await patients.add_to_care_team(s, cardio.id, "p3")
            await create_user(s, "resp", "pw-resp", "responder")
            await create_user(s, "admin", "pw-admin", "admin")
    finally:
        await engine.dispose()
    return tokens


@pytest.fixture
def seed() -> object:
    return seed_world


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium (``tests/browser.py``); skipped without it, mandatory in CI."""
    from tests.browser import chromium

    async with chromium() as instance:
        yield instance


# --- fault tests (``tests/fault_kit.py``) ------------------------------------------------------


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[Any]:
    """A redis-server of the test's own (a port and folder of its own): restart it at will."""
    import shutil

    from tests.fault_kit import PrivateRedis

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def private_postgres() -> AsyncIterator[Any]:
    """A PostgreSQL server of the test's own (initdb in a temp folder): restart it at will."""
    import shutil

    from tests.fault_kit import PrivatePostgres, postgres_binaries

    if not postgres_binaries():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    server = PrivatePostgres()
    await asyncio.to_thread(server.init)
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
async def cutting_proxy(hub: RunningHub) -> AsyncIterator[Any]:
    """A TCP proxy in front of the ``hub`` fixture that can cut every connection through it."""
    from tests.fault_kit import CuttingProxy

    proxy = CuttingProxy(int(hub.url.rsplit(":", 1)[1]))
    await proxy.start()
    yield proxy
    await proxy.stop()


def pytest_configure(config: pytest.Config) -> None:
    """The fault report's file, shared by the pytest-xdist workers (they inherit it)."""
    import tempfile

    from tests.fault_kit import REPORT_ENV

    if not os.environ.get(REPORT_ENV):
        fd, path = tempfile.mkstemp(prefix="telemed-faults-", suffix=".jsonl")
        os.close(fd)
        os.environ[REPORT_ENV] = path
        config.stash[_OWN_REPORT] = path


_OWN_REPORT = pytest.StashKey[str]()


def pytest_unconfigure(config: pytest.Config) -> None:
    if path := config.stash.get(_OWN_REPORT, None):
        Path(path).unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.fault_kit import REPORT_ENV, summary

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    lines = summary(os.environ.get(REPORT_ENV, ""))
    if lines:
        terminalreporter.section("fault report")
        for line in lines:
            terminalreporter.write_line(line)
