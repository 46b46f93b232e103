"""The platform a ``telemed loadtest`` measures: the embedded default it starts (a fresh SQLite
file, one ``telemed serve``), a ``telemed cluster`` it starts on PostgreSQL + Redis (a fresh
database and bus prefix of its own, removed afterwards), or a running hub (``--hub``).

Before anything is served, a platform the load test started gets its admin account (``telemed
user add``) and its simulated cohort written straight into its database, in one transaction:
through the admin API, two requests a patient, a loaded machine enrolled about 7 patients a
second (10,000 would take longer than the measurement).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from telemed_cli.simulate import SimBridge

#: The admin of a platform the load test starts itself: random, so the password policy takes it.
ADMIN_PASSWORD = secrets.token_urlsafe(18)
TELEMED = [sys.executable, "-m", "telemed_cli.main"]
START_TIMEOUT_S = 180


@dataclass
class Platform:
    """Where the load test talks to a platform, and how it stops it."""

    api: str  # sign-in, the monitor socket
    ingest: list[str]  # where bridges connect and whose /metrics count what was stored
    password: str
    bridges: list[SimBridge] = field(default_factory=list)  # enrolled already, or [] to enrol
    ecg_bridges: list[SimBridge] = field(default_factory=list)  # the 250 Hz ECG streams'
    workers: list[str] = field(default_factory=list)  # whose /metrics count the analysis
    nodes: dict[str, str] = field(default_factory=dict)  # name → URL (a cluster's nodes)
    pids: dict[str, int] = field(default_factory=dict)  # name → server process (memory)
    stop: Callable[[], Awaitable[None]] | None = None
    database: str | None = None  # the name of a cluster's own database (dropped at stop)


def cohort(n: int) -> list[tuple[str, str]]:
    """(bridge id, patient id) of the simulated patients ``sim-1..N``, as ``telemed simulate``."""
    return [(f"sim-bridge-{i}", f"sim-{i}") for i in range(1, n + 1)]


async def enrol_in_database(
    database_url: str, patients: int, ecg_streams: int = 0
) -> tuple[list[SimBridge], list[SimBridge]]:
    """Patients ``sim-1..N`` and ``sim-ecg-1..M`` (test data, as the admin API makes them) and
    one home bridge each, in one transaction; returns both bridge lists with their tokens."""
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as patients_service
    from telemed_cli.loadtest_ecg import ecg_cohort
    from telemed_core.values import utc_now

    engine = make_engine(database_url)
    made: tuple[list[SimBridge], list[SimBridge]] = ([], [])
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for group, ids in zip(made, (cohort(patients), ecg_cohort(ecg_streams)), strict=True):
                for bridge_id, pid in ids:
                    await patients_service.upsert_patient(
                        s, pid, f"Simulated patient {pid[4:]}", utc_now(), record={"is_test": True}
                    )
                    token = await patients_service.enrol_bridge(s, bridge_id, patient_id=pid)
                    group.append(SimBridge(bridge_id, pid, token))
    finally:
        await engine.dispose()
    return made


async def add_admin(env: dict[str, str]) -> None:
    """``telemed user add admin --role admin`` (it migrates the database first)."""
    add = await asyncio.create_subprocess_exec(
        *TELEMED, "user", "add", "admin", "--role", "admin",
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await add.communicate((ADMIN_PASSWORD + "\n").encode())
    if add.returncode != 0:
        raise RuntimeError(f"could not create the load test's admin account: {out.decode()}")


async def _stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGINT) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        async with asyncio.timeout(60):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def start_embedded(folder: Path, patients: int, ecg_streams: int) -> Platform:
    """A fresh embedded platform: SQLite file, an admin account, ``telemed serve --port 0``."""
    url = f"sqlite:///{folder / 'hub.db'}"
    env = {**os.environ, "TELEMED_DATABASE_URL": url}
    await add_admin(env)
    bridges, ecg = await enrol_in_database(url, patients, ecg_streams)
    # Its JSON log lines go to a file: a pipe nobody reads after the start would fill up and
    # block the hub on its next log line. Stdout carries only the few start-up lines.
    with (folder / "hub.log").open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *TELEMED, "serve", "--port", "0",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=log_file,
        )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(START_TIMEOUT_S):
        while line := (await proc.stdout.readline()).decode():
            if match := re.search(r"TELEMED_READY (\S+)", line):
                hub = match.group(1)
                return Platform(hub, [hub], ADMIN_PASSWORD, bridges, ecg, [hub], {"hub": hub},
                                {"hub": proc.pid}, lambda: _stop(proc, signal.SIGTERM))  # fmt: skip
    raise RuntimeError(f"telemed serve exited before it was ready (see {folder / 'hub.log'})")


async def _create_database(server_url: str) -> str:
    """A fresh database on the PostgreSQL server of ``server_url``; returns its URL."""
    import asyncpg

    name = f"telemed_loadtest_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def _drop_database(server_url: str, database_url: str) -> None:
    import asyncpg

    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _drop_bus(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


async def start_cluster(
    folder: Path,
    patients: int,
    ecg_streams: int,
    server_url: str,
    redis_url: str,
    shape: tuple[int, int, int],
) -> Platform:
    """``telemed cluster --ingest I --workers W --api A`` on a fresh database of the PostgreSQL
    server ``server_url`` and a bus prefix of its own on ``redis_url``; both removed at stop."""
    database_url = await _create_database(server_url)
    prefix = f"loadtest:{secrets.token_hex(6)}:"
    env = {**os.environ, "TELEMED_DATABASE_URL": database_url, "TELEMED_REDIS_URL": redis_url,
           "TELEMED_BUS_PREFIX": prefix}  # fmt: skip
    ingest, workers, api = shape
    proc: asyncio.subprocess.Process | None = None

    async def stop() -> None:
        if proc is not None:
            await _stop(proc)
        await _drop_bus(redis_url, prefix)
        await _drop_database(server_url, database_url)

    try:
        await add_admin(env)
        bridges, ecg = await enrol_in_database(database_url, patients, ecg_streams)
        proc = await asyncio.create_subprocess_exec(
            *TELEMED, "cluster", "--ingest", str(ingest), "--workers", str(workers),
            "--api", str(api), "--port", "0", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        nodes = await _cluster_nodes(proc, folder / "cluster.log")

        def role(name: str) -> list[str]:
            return [url for node, url in nodes.items() if node.startswith(name)]

        platform = Platform(nodes["api-1"], role("ingest"), ADMIN_PASSWORD, bridges, ecg,
                            role("worker"), nodes, stop=stop,
                            database=database_url.rsplit("/", 1)[1])  # fmt: skip
        await node_pids(platform)
        return platform
    except BaseException:
        await stop()
        raise


async def _cluster_nodes(proc: asyncio.subprocess.Process, log: Path) -> dict[str, str]:
    """Read the launcher's ``TELEMED_NODE`` lines until it is ready; then its output (the
    nodes' log lines) goes on to ``log``, drained so that no node blocks on a full pipe."""
    assert proc.stdout is not None
    nodes: dict[str, str] = {}
    async with asyncio.timeout(START_TIMEOUT_S):
        while "TELEMED_CLUSTER_READY" not in (line := (await proc.stdout.readline()).decode()):
            if not line:
                raise RuntimeError("telemed cluster exited before it was ready")
            if match := re.search(r"TELEMED_NODE (\S+) \S+ (\S+)", line):
                nodes[match.group(1)] = match.group(2)

    async def drain() -> None:
        assert proc.stdout is not None
        with log.open("ab") as out:
            while chunk := await proc.stdout.read(65536):
                out.write(chunk)

    _background.add(task := asyncio.create_task(drain()))
    task.add_done_callback(_background.discard)
    return nodes


_background: set[asyncio.Task[None]] = set()


async def node_pids(platform: Platform) -> None:
    """Each node's process id from its ``/healthz`` (a restarted node has a new one)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for name, url in platform.nodes.items():
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                platform.pids[name] = int((await client.get(url + "/healthz")).json()["pid"])


def rss_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None
