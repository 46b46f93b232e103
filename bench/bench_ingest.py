#!/usr/bin/env python
"""End-to-end ingest benchmark: bridges → hub (store, ack after commit) → bus → /ws/monitor.

Run from the repository root::

    .venv/bin/python bench/bench_ingest.py [--bridges N] [--readings-per-bridge M] [--batch 500]
                                           [--backend sqlite|postgres|both] [--quick] [--profile]

For each backend it

1. creates a fresh database (SQLite temp file; or ``bench_<random>`` on the PostgreSQL server,
   dropped afterwards), migrates it (``clinician_api.migrate.upgrade``) and seeds one patient and
   one home bridge per simulated bridge plus an admin account (admins see every patient);
2. starts a real hub as a subprocess (``telemed serve --port 0``; PostgreSQL runs add Redis
   Streams under a random ``TELEMED_BUS_PREFIX``, whose keys are deleted afterwards), so the load
   generator does not share the hub's event loop;
3. opens one ``/ws/monitor`` socket (admin token from ``POST /auth/token``);
4. runs N concurrent bridge clients speaking protocol v1 over real websockets (hello → welcome,
   then lock-step batches, each awaiting its ack), with every frame JSON-encoded before the clock
   starts, so the client's own cost stays out of the hub's figures;
5. reports ingest throughput (first send → last ack), end-to-end throughput (first send → the
   monitor holds every reading), send-of-batch → monitor-receipt latency per reading, the
   batch ack round trip, CPU used by the hub / the load generator / the whole machine, and
   checks that the monitor and the database hold every reading exactly once;
6. reports "analysed": first send until the hub's signal worker has analysed every batch (its
   ``telemed_worker_messages_total`` on ``/metrics``, polled 5 times a second; each batch is one
   patient's, so one message on that patient's work topic);
7. with ``--profile``, samples the hub with py-spy for the measured window and splits its CPU
   per reading by stage (``bench/_stages.py``).

A reading is identified on the monitor side by (patient_id, seq): each bridge has its own
patient, and a reading's batch is (seq - 1) // batch, whose send time the bridge recorded.

This is a benchmark, not a test: it prints figures and exits non-zero only when a run fails
(a lost reading, an error frame, a hub that does not start).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _stages  # bench/ is on sys.path when a bench runs as a script
from _machine import (  # bench/ is on sys.path when a bench runs as a script
    _busy_pct,
    _cpu_model,
    _machine_ticks,
    _mem_total,
    _proc_cpu_s,
    _telemed_command,
)

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
ADMIN_USER = "bench-admin"
READY_RE = re.compile(r"TELEMED_READY\s+(https?://\S+)")

# Cycle of reading kinds (kind, unit, base value, spread): what a home gateway typically sends.
KINDS = (
    ("heart_rate", "/min", 60.0, 40),
    ("spo2", "%", 90.0, 10),
    ("rr_interval", "ms", 600.0, 400),
    ("bp_systolic", "mm[Hg]", 110.0, 50),
    ("bp_diastolic", "mm[Hg]", 65.0, 30),
    ("body_weight", "kg", 70.0, 20),
)


# --------------------------------------------------------------------------- parameters, results


@dataclass(frozen=True)
class Params:
    bridges: int
    readings_per_bridge: int
    batch: int
    compression: bool
    ack_timeout_s: float
    drain_timeout_s: float
    postgres_url: str
    redis_url: str
    profile: bool = False

    @property
    def total(self) -> int:
        return self.bridges * self.readings_per_bridge

    @property
    def batches_per_bridge(self) -> int:
        return -(-self.readings_per_bridge // self.batch)


@dataclass
class Run:
    """Everything measured in one backend's run."""

    backend: str
    total: int = 0
    acked: int = 0
    ack_stored: int = 0
    ack_duplicates: int = 0
    error_frames: list[str] = field(default_factory=list)
    t_first_send: float | None = None
    t_last_ack: float | None = None
    t_last_monitor: float | None = None
    monitor_unique: int = 0
    monitor_duplicates: int = 0
    monitor_foreign: int = 0
    monitor_frames: int = 0
    monitor_heartbeats: int = 0
    monitor_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    ack_rtts: list[float] = field(default_factory=list)
    stored_in_db: int | None = None
    bridge_done: list[float] = field(default_factory=list)
    max_backlog: int = 0
    max_backlog_at: float = 0.0
    hub_cpu_s: float | None = None
    client_cpu_s: float | None = None
    machine_busy_pct: float | None = None
    machine_busy_s: float | None = None
    servers_cpu_s: float | None = None
    extensions: str = ""
    server_info: str = ""
    failure: str = ""
    busy_before_pct: float | None = None
    params_drain_s: float = 0.0
    processed_batches: int = 0
    t_processed: float | None = None
    stages: list[tuple[str, str]] = field(default_factory=list)
    stages_note: str = ""

    @property
    def ingest_s(self) -> float | None:
        if self.t_first_send is None or self.t_last_ack is None:
            return None
        return self.t_last_ack - self.t_first_send

    @property
    def e2e_s(self) -> float | None:
        if self.t_first_send is None or self.t_last_monitor is None:
            return None
        return self.t_last_monitor - self.t_first_send

    @property
    def processed_s(self) -> float | None:
        if self.t_first_send is None or self.t_processed is None:
            return None
        return self.t_processed - self.t_first_send

    @property
    def ok(self) -> bool:
        return (
            not self.failure
            and not self.error_frames
            and self.acked == self.total
            and self.monitor_unique == self.total
            and self.stored_in_db in (None, self.total)
        )


# --------------------------------------------------------------------------- machine figures


SERVER_COMMS = ("postgres", "redis-server")


def _server_ticks() -> dict[int, int]:
    """CPU ticks of every PostgreSQL and Redis server process, by pid."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if head.split("(", 1)[-1] in SERVER_COMMS:
            fields = tail.split()
            out[int(entry.name)] = int(fields[11]) + int(fields[12])
    return out


def _server_cpu_s(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds the servers used in between (processes started meanwhile count in full)."""
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return max(ticks, 0) / os.sysconf("SC_CLK_TCK")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("uvicorn", "websockets", "fastapi", "sqlalchemy", "aiosqlite", "asyncpg", "redis"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def machine_info() -> list[tuple[str, str]]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return [
        ("nproc", f"{affinity or os.cpu_count()} (os.cpu_count {os.cpu_count()})"),
        ("cpu", _cpu_model()),
        ("memory", _mem_total()),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("platform", platform.platform()),
        ("libraries", _versions()),
    ]


# --------------------------------------------------------------------------- backends


@contextlib.asynccontextmanager
async def sqlite_backend() -> AsyncIterator[tuple[str, str | None, str]]:
    folder = Path(tempfile.mkdtemp(prefix="telemed-bench-"))
    try:
        yield f"sqlite:///{folder / 'hub.db'}", None, f"SQLite {sqlite3.sqlite_version} (WAL)"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def postgres_backend(
    admin_dsn: str, redis_url: str, bus_prefix: str
) -> AsyncIterator[tuple[str, str | None, str]]:
    import asyncpg  # type: ignore[import-untyped]
    import redis.asyncio as aioredis

    name = f"bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        pg_version = await conn.fetchval("SHOW server_version")
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    client: Any = aioredis.from_url(redis_url)
    try:
        info = await client.info("server")
        info_text = f"PostgreSQL {pg_version}, Redis {info.get('redis_version', '?')}"
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name, redis_url, info_text
    finally:
        with contextlib.suppress(Exception):
            keys = [k async for k in client.scan_iter(match=f"{bus_prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        await client.aclose()
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def count_stored(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]

        def count() -> int:
            with contextlib.closing(sqlite3.connect(path)) as db:
                return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])

        return await asyncio.to_thread(count)
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM readings"))
    finally:
        await conn.close()


# --------------------------------------------------------------------------- seed, hub


def patient_id(i: int) -> str:
    return f"bench-p{i}"


def bridge_id(i: int) -> str:
    return f"bench-b{i}"


async def migrate_and_seed(database_url: str, bridges: int) -> tuple[list[str], str]:
    """Schema at head; one patient and one home bridge each; an admin. Returns (tokens, pw)."""
    from clinician_api.migrate import upgrade_async
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as patients
    from telemed_core.values import utc_now

    await upgrade_async(database_url)
    password = secrets.token_urlsafe(16)
    engine = make_engine(database_url)
    tokens: list[str] = []
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            now = utc_now()
            for i in range(bridges):
                await patients.upsert_patient(s, patient_id(i), f"Bench patient {i}", now)
                tokens.append(
                    await patients.enrol_bridge(s, bridge_id(i), patient_id=patient_id(i))
                )
            await create_user(s, ADMIN_USER, password, "admin")
    finally:
        await engine.dispose()
    return tokens, password


class Hub:
    """``telemed serve`` in a subprocess; its output is kept for error reports."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, lines: collections.deque[str]):
        self.proc = proc
        self.url = url
        self.ws_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.lines = lines
        self._drain: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, database_url: str, redis_url: str | None, bus_prefix: str) -> Hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
        env.update(
            TELEMED_DATABASE_URL=database_url,
            TELEMED_HOST="127.0.0.1",
            TELEMED_PORT="0",
            TELEMED_BUS_PREFIX=bus_prefix,
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )
        cmd = [*_telemed_command(), "serve", "--host", "127.0.0.1", "--port", "0"]
        cmd += ["--database-url", database_url]
        if redis_url:
            env["TELEMED_REDIS_URL"] = redis_url
            cmd += ["--redis-url", redis_url]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(REPO),
            env=env,
        )
        assert proc.stdout is not None
        lines: collections.deque[str] = collections.deque(maxlen=200)
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            remaining = deadline - time.monotonic()
            try:
                raw = await asyncio.wait_for(proc.stdout.readline(), max(remaining, 0.01))
            except TimeoutError:
                raw = b""
            if not raw:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                tail = "\n".join(lines)
                raise RuntimeError(f"hub did not become ready (exit {proc.returncode}):\n{tail}")
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            if match := READY_RE.search(line):
                url = match.group(1)
        hub = cls(proc, url, lines)
        hub._drain = asyncio.create_task(hub._keep_reading())
        return hub

    async def _keep_reading(self) -> None:
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            self.lines.append(raw.decode(errors="replace").rstrip())

    def cpu_s(self) -> float | None:
        return _proc_cpu_s(self.proc.pid)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)


async def get_token(hub_url: str, password: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=hub_url, timeout=30) as client:
        response = await client.post(
            "/auth/token", data={"username": ADMIN_USER, "password": password}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


# --------------------------------------------------------------------------- load


def build_frames(i: int, params: Params) -> list[str]:
    """Protocol v1 batch frames of bridge ``i``, JSON-encoded up front (as the uplink sends)."""
    pid, device = patient_id(i), f"bench-dev{i}"
    base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i)
    frames = []
    m = params.readings_per_bridge
    # The clock advances by each RR interval, as a strap's notifications do: RR intervals whose
    # times disagree with their sum would restart the AF stream at every one (a dropout each).
    clock_s = 0.0
    for k, start in enumerate(range(1, m + 1, params.batch)):
        readings = []
        for seq in range(start, min(start + params.batch, m + 1)):
            kind, unit, low, spread = KINDS[seq % len(KINDS)]
            value = low + (seq * 7919 % (spread * 10)) / 10
            if kind == "rr_interval":
                clock_s += value / 1000
            at = (base + timedelta(seconds=clock_s)).isoformat().replace("+00:00", "Z")
            readings.append(
                {
                    "seq": seq,
                    "patient_id": pid,
                    "device_id": device,
                    "kind": kind,
                    "value": value,
                    "unit": unit,
                    "measured_at": at,
                    "received_at": at,
                    "flags": ["simulated"],
                }
            )
        frame = {"type": "batch", "v": 1, "batch_id": k + 1, "readings": readings, "chunks": []}
        frames.append(json.dumps(frame, separators=(",", ":")))
    return frames


def _connect(url: str, params: Params) -> Any:
    from websockets.asyncio.client import connect

    return connect(
        url,
        max_size=2**26,
        compression="deflate" if params.compression else None,
        open_timeout=30,
        ping_interval=None,  # lock-step traffic is the keep-alive; no pings skewing timings
    )


class Bench:
    """One backend's run: the monitor socket and the bridge clients, in this event loop."""

    def __init__(self, run: Run, params: Params, ws_url: str) -> None:
        self.run = run
        self.params = params
        self.ws_url = ws_url
        n, nb = params.bridges, params.batches_per_bridge
        self.send_times: list[list[float]] = [[0.0] * nb for _ in range(n)]
        self.seen = [bytearray(params.readings_per_bridge + 1) for _ in range(n)]
        self.index = {patient_id(i): i for i in range(n)}
        self.go = asyncio.Event()
        self.monitor_ready = asyncio.Event()
        self.all_seen = asyncio.Event()
        self.ready_bridges = 0
        self.all_ready = asyncio.Event()

    async def monitor(self, token: str) -> None:
        run, batch, seen, send_times = self.run, self.params.batch, self.seen, self.send_times
        url = f"{self.ws_url}/ws/monitor?access_token={token}"
        async with _connect(url, self.params) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise RuntimeError(f"monitor refused: {hello}")
            self.monitor_ready.set()
            async for raw in ws:
                t = time.perf_counter()
                run.monitor_bytes += len(raw)
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "heartbeat":
                    run.monitor_heartbeats += 1
                    continue
                if kind != "readings":
                    continue
                run.monitor_frames += 1
                for r in msg["readings"]:
                    i = self.index.get(r["patient_id"])
                    if i is None:
                        run.monitor_foreign += 1
                        continue
                    seq = r["seq"]
                    if seen[i][seq]:
                        run.monitor_duplicates += 1
                        continue
                    seen[i][seq] = 1
                    run.monitor_unique += 1
                    run.latencies.append(t - send_times[i][(seq - 1) // batch])
                run.t_last_monitor = t
                if run.monitor_unique >= run.total:
                    self.all_seen.set()

    async def bridge(self, i: int, token: str, frames: list[str]) -> None:
        run, params, send_times = self.run, self.params, self.send_times[i]
        async with _connect(f"{self.ws_url}/ws/bridge", params) as ws:
            if i == 0:
                run.extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "") or "none"
            hello = {"type": "hello", "v": 1, "bridge_id": bridge_id(i), "token": token,
                     "software": "bench"}  # fmt: skip
            await ws.send(json.dumps(hello))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if welcome.get("type") != "welcome":
                raise RuntimeError(f"bridge {bridge_id(i)} refused: {welcome}")
            if welcome.get("last_seq"):
                raise RuntimeError(f"bridge {bridge_id(i)} is not fresh: {welcome}")
            self.ready_bridges += 1
            if self.ready_bridges == params.bridges:
                self.all_ready.set()
            await self.go.wait()
            for k, frame in enumerate(frames):
                t0 = time.perf_counter()
                send_times[k] = t0
                if run.t_first_send is None:
                    run.t_first_send = t0
                await ws.send(frame)
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), params.ack_timeout_s))
                    kind = reply.get("type")
                    if kind == "ack":
                        break
                    if kind == "error":
                        run.error_frames.append(f"{bridge_id(i)}: {reply}")
                        raise RuntimeError(f"hub error for {bridge_id(i)}: {reply}")
                t1 = time.perf_counter()
                if reply.get("batch_id") != k + 1:
                    raise RuntimeError(f"ack for batch {reply.get('batch_id')}, expected {k + 1}")
                run.ack_rtts.append(t1 - t0)
                run.acked += frame_count(params, k)
                run.ack_stored += int(reply.get("stored", 0))
                run.ack_duplicates += int(reply.get("duplicates", 0))
                run.t_last_ack = t1 if run.t_last_ack is None else max(run.t_last_ack, t1)
            run.bridge_done.append(time.perf_counter())

    async def sample_backlog(self) -> None:
        """Largest number of readings acked to a bridge but not yet received by the monitor."""
        run = self.run
        while True:
            await asyncio.sleep(0.05)
            backlog = run.acked - run.monitor_unique
            if backlog > run.max_backlog and run.t_first_send is not None:
                run.max_backlog = backlog
                run.max_backlog_at = time.perf_counter() - run.t_first_send


WORKER_MESSAGES_RE = re.compile(r"^telemed_worker_messages_total\s+([0-9.e+]+)$", re.M)


async def watch_processed(run: Run, hub_url: str, batches: int, done: asyncio.Event) -> None:
    """Until the signal worker has analysed every batch (its ``/metrics`` counter): each batch
    is one patient's, so one message on that patient's work topic. Polled 5 times a second."""
    import httpx

    async with httpx.AsyncClient(base_url=hub_url, timeout=30) as client:
        while True:
            text = (await client.get("/metrics")).text
            match = WORKER_MESSAGES_RE.search(text)
            run.processed_batches = int(float(match.group(1))) if match else 0
            if run.processed_batches >= batches:
                run.t_processed = time.perf_counter()
                done.set()
                return
            await asyncio.sleep(0.2)


def frame_count(params: Params, k: int) -> int:
    return min(params.batch, params.readings_per_bridge - k * params.batch)


async def _wait_all_seen(bench: Bench, drain_timeout_s: float) -> None:
    """Until the monitor holds every reading, or it makes no progress for drain_timeout_s."""
    last, since = -1, time.monotonic()
    while not bench.all_seen.is_set():
        if bench.run.monitor_unique != last:
            last, since = bench.run.monitor_unique, time.monotonic()
        elif time.monotonic() - since > drain_timeout_s:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bench.all_seen.wait(), 0.2)


async def run_backend(backend: str, params: Params, log: Any) -> Run:
    run = Run(backend=backend, total=params.total, params_drain_s=params.drain_timeout_s)
    bus_prefix = f"bench:{secrets.token_hex(6)}:"
    if backend == "sqlite":
        backend_cm = sqlite_backend()
    else:
        backend_cm = postgres_backend(params.postgres_url, params.redis_url, bus_prefix)
    async with backend_cm as (database_url, redis_url, server_info):
        run.server_info = server_info
        log(f"[{backend}] migrating and seeding {params.bridges} patients/bridges …")
        tokens, password = await migrate_and_seed(database_url, params.bridges)
        log(f"[{backend}] encoding {params.total:,} readings into frames …")
        frames = [build_frames(i, params) for i in range(params.bridges)]
        log(f"[{backend}] starting hub: telemed serve (bus: {'Redis' if redis_url else 'memory'})")
        hub = await Hub.start(database_url, redis_url, bus_prefix)
        tasks: list[asyncio.Task[Any]] = []
        try:
            bench = Bench(run, params, hub.ws_url)
            access = await get_token(hub.url, password)
            monitor = asyncio.create_task(bench.monitor(access), name="monitor")
            tasks.append(monitor)
            await _first(bench.monitor_ready.wait(), monitor)
            bridges = [
                asyncio.create_task(bench.bridge(i, tokens[i], frames[i]), name=f"bridge-{i}")
                for i in range(params.bridges)
            ]
            tasks += bridges
            await _first(bench.all_ready.wait(), *bridges)
            run.busy_before_pct = await _busy_pct(1.0)
            log(
                f"[{backend}] hub {hub.url}: {params.bridges} bridges connected; machine "
                f"{run.busy_before_pct:.0f}% busy before the run; running …"
            )
            profile = None
            if params.profile:
                raw = REPO / "build" / f"bench_ingest_{backend}.pyspy"  # kept for a closer look
                raw.parent.mkdir(exist_ok=True)
                profile = await _stages.Profile.start(hub.proc.pid, raw)
            hub_cpu0, client_cpu0, ticks0 = hub.cpu_s(), time.process_time(), _machine_ticks()
            servers0 = _server_ticks()
            bench.go.set()
            sampler = asyncio.create_task(bench.sample_backlog())
            tasks.append(sampler)
            processed = asyncio.Event()
            batches = params.bridges * params.batches_per_bridge
            tasks.append(asyncio.create_task(watch_processed(run, hub.url, batches, processed)))
            results = await asyncio.gather(*bridges, return_exceptions=True)
            for exc in results:
                if isinstance(exc, BaseException) and not run.failure:
                    run.failure = f"{type(exc).__name__}: {exc}"
            if not run.failure:
                await _wait_all_seen(bench, params.drain_timeout_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(processed.wait(), params.drain_timeout_s)
            hub_cpu1, client_cpu1, ticks1 = hub.cpu_s(), time.process_time(), _machine_ticks()
            if profile is not None:
                counts = await profile.stop()
                run.stages_note = profile.note
                if hub_cpu0 is not None and hub_cpu1 is not None:
                    run.stages = _stages.rows(counts, hub_cpu1 - hub_cpu0, params.total)
            run.servers_cpu_s = _server_cpu_s(servers0, _server_ticks())
            if monitor.done() and monitor.exception() and not run.failure:
                exc = monitor.exception()
                run.failure = f"monitor: {type(exc).__name__}: {exc}"
            if hub_cpu0 is not None and hub_cpu1 is not None:
                run.hub_cpu_s = hub_cpu1 - hub_cpu0
            run.client_cpu_s = client_cpu1 - client_cpu0
            if ticks0 and ticks1 and ticks1[1] > ticks0[1]:
                run.machine_busy_pct = 100 * (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1])
                run.machine_busy_s = (ticks1[0] - ticks0[0]) / os.sysconf("SC_CLK_TCK")
        except BaseException as exc:
            if not run.failure:
                run.failure = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, Exception):
                raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await hub.stop()
            hub_log = list(hub.lines)
        if run.failure or any("Traceback" in line or "ERROR" in line for line in hub_log):
            log(f"[{backend}] last lines of the hub's output:")
            for line in hub_log[-40:]:
                log("    " + line)
        with contextlib.suppress(Exception):
            run.stored_in_db = await count_stored(database_url)
    return run


async def _first(waitable: Any, *tasks: asyncio.Task[Any]) -> None:
    """Await ``waitable``, but raise at once if one of ``tasks`` fails first."""
    waiter = asyncio.ensure_future(waitable)
    done, _ = await asyncio.wait({waiter, *tasks}, timeout=60, return_when="FIRST_COMPLETED")
    if waiter in done:
        return
    waiter.cancel()
    for task in done:
        task.result()  # raises the task's exception
        raise RuntimeError(f"{task.get_name()} ended before it was ready")
    raise TimeoutError("clients not ready within 60 s")


# --------------------------------------------------------------------------- report


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def _ms(x: float) -> str:
    return f"{x * 1000:,.1f} ms"


def _rate(n: int, seconds: float | None) -> str:
    return f"{n / seconds:,.0f} /s" if seconds else "n/a"


def _others(run: Run) -> str:
    """Busy CPU the bench cannot account for: other work on the machine skews the figures."""
    if run.machine_busy_s is None or run.hub_cpu_s is None or run.client_cpu_s is None:
        return "?"
    mine = run.hub_cpu_s + run.client_cpu_s + (run.servers_cpu_s or 0.0)
    others = max(0.0, run.machine_busy_s - mine)
    note = (
        "  (busy machine: figures are pessimistic)"
        if run.e2e_s and others > 0.2 * run.e2e_s
        else ""
    )
    return f"{others:.1f} s{note}"


def _problems(run: Run) -> list[str]:
    problems = [run.failure] if run.failure else []
    if run.error_frames:
        problems.append(f"{len(run.error_frames)} error frames")
    if run.acked != run.total and not run.failure:
        problems.append(f"{run.total - run.acked:,} readings not acked")
    if run.stored_in_db is not None and run.stored_in_db != run.total:
        problems.append(f"database holds {run.stored_in_db:,} of {run.total:,}")
    if run.monitor_unique != run.total and not run.failure:
        problems.append(
            f"monitor never received {run.total - run.monitor_unique:,} readings "
            f"(waited {run.params_drain_s:.0f} s without progress)"
        )
    return problems


def report_rows(run: Run, params: Params) -> list[tuple[str, str]]:
    lat = sorted(run.latencies)
    rtt = sorted(run.ack_rtts)
    rows = [
        ("servers", run.server_info),
        ("websocket extensions", run.extensions or "?"),
        ("readings sent", f"{run.total:,}"),
        ("readings acked (stored / dup.)", f"{run.acked:,} ({run.ack_stored:,} / {run.ack_duplicates:,})"),
        ("readings in database", f"{run.stored_in_db:,}" if run.stored_in_db is not None else "?"),
        ("readings at monitor (unique)", f"{run.monitor_unique:,}" + ("" if run.monitor_unique == run.total else f"  MISSING {run.total - run.monitor_unique:,}")),
        ("monitor duplicates / foreign", f"{run.monitor_duplicates:,} / {run.monitor_foreign:,}"),
        ("monitor frames (bytes)", f"{run.monitor_frames:,} ({run.monitor_bytes / 1e6:,.1f} MB)"),
        ("wall: first send → last ack", f"{run.ingest_s:.2f} s" if run.ingest_s else "n/a"),
        ("wall: first send → last monitor receipt", f"{run.e2e_s:.2f} s" if run.e2e_s else "n/a"),
        ("ingest → store (acked)", _rate(run.acked, run.ingest_s)),
        ("ingest → store → websocket", _rate(run.monitor_unique, run.e2e_s)),
        ("ingest → store → analysed (signal worker)", _rate(run.total if run.t_processed else 0, run.processed_s) + (f"  ({run.processed_s:.2f} s)" if run.processed_s else f"  NOT all analysed: {run.processed_batches:,} batches")),
        ("latency send → monitor p50", _ms(_pct(lat, 50)) if lat else "n/a"),
        ("latency send → monitor p95", _ms(_pct(lat, 95)) if lat else "n/a"),
        ("latency send → monitor p99", _ms(_pct(lat, 99)) if lat else "n/a"),
        ("latency send → monitor max", _ms(lat[-1]) if lat else "n/a"),
        ("monitor backlog max (acked, not yet seen)", f"{run.max_backlog:,} readings at t={run.max_backlog_at:.1f} s" if run.t_first_send else "n/a"),
        ("bridges done: first / last", " / ".join(f"{t - run.t_first_send:.1f} s" for t in (min(run.bridge_done), max(run.bridge_done))) if run.bridge_done and run.t_first_send else "n/a"),
        ("batch ack round trip p50 / p99 / max", " / ".join(_ms(x) for x in (_pct(rtt, 50), _pct(rtt, 99), rtt[-1])) if rtt else "n/a"),
        ("CPU: hub process", f"{run.hub_cpu_s:.1f} s ({100 * run.hub_cpu_s / run.e2e_s:.0f}% of a core)" if run.hub_cpu_s is not None and run.e2e_s else "?"),
        ("CPU: load generator + monitor", f"{run.client_cpu_s:.1f} s ({100 * run.client_cpu_s / run.e2e_s:.0f}% of a core)" if run.client_cpu_s is not None and run.e2e_s else "?"),
        ("CPU: PostgreSQL + Redis servers", f"{run.servers_cpu_s:.1f} s" if run.servers_cpu_s is not None and run.backend == "postgres" else "n/a"),
        ("CPU: whole machine busy (before the run)", (f"{run.machine_busy_pct:.0f}% of all cores" if run.machine_busy_pct is not None else "?") + (f" ({run.busy_before_pct:.0f}% before)" if run.busy_before_pct is not None else "")),
        ("CPU: other processes (not this bench)", _others(run)),
        ("result", "OK: every reading stored once and seen by the monitor" if run.ok else "FAILED: " + "; ".join(_problems(run))),
    ]  # fmt: skip
    if run.error_frames:
        rows.append(("error frames", "; ".join(run.error_frames[:3])))
    if run.stages_note:
        rows.append(("CPU per stage", run.stages_note))
    rows += [(f"CPU: {stage}", value) for stage, value in run.stages]
    return rows


class Printer:
    def __init__(self, plain: bool) -> None:
        self.console = None
        if not plain:
            with contextlib.suppress(ImportError):
                from rich.console import Console

                self.console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)

    def log(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, style="dim", markup=False)
        else:
            print(text, flush=True)

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        if self.console is not None:
            from rich.table import Table

            table = Table(title=title, show_header=False, title_justify="left")
            table.add_column("what", style="bold")
            table.add_column("value")
            for k, v in rows:
                table.add_row(k, v)
            self.console.print(table)
            return
        print(f"\n{title}")
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"  {k:<{width}}  {v}")
        print(flush=True)

    def comparison(self, runs: list[Run]) -> None:
        headers = ["backend", "readings", "acked/s", "at monitor/s", "analysed/s", "p50 ms", "p95 ms", "p99 ms",
                   "max ms", "at monitor", "ok"]  # fmt: skip

        def n(x: float | None) -> str:
            return f"{x:,.0f}" if x is not None else "n/a"

        rows = []
        for r in runs:
            lat = sorted(r.latencies)
            ms = [n(1000 * _pct(lat, q)) if lat else "n/a" for q in (50, 95, 99, 100)]
            rows.append([
                r.backend, f"{r.total:,}",
                n(r.acked / r.ingest_s if r.ingest_s else None),
                n(r.monitor_unique / r.e2e_s if r.e2e_s else None),
                n(r.total / r.processed_s if r.processed_s else None),
                *ms, f"{r.monitor_unique:,}", "yes" if r.ok else "NO",
            ])  # fmt: skip
        if self.console is not None:
            from rich.table import Table

            table = Table(title="Summary", title_justify="left")
            for h in headers:
                table.add_column(h, justify="left" if h == "backend" else "right")
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            return
        widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(headers)]
        print("Summary")
        print("  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        for row in rows:
            print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Params]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bridges", type=int, default=None, help="concurrent bridges (default 10)")
    p.add_argument(
        "--readings-per-bridge", type=int, default=None, help="readings each (default 20000)"
    )
    p.add_argument("--batch", type=int, default=500, help="readings per batch (default 500)")
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--quick", action="store_true", help="a ~10 s run: 4 bridges x 5,000 readings")
    p.add_argument(
        "--compression",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="permessage-deflate on the client sockets (default on, as the real uplink)",
    )
    p.add_argument("--ack-timeout", type=float, default=120.0, help="seconds to wait for an ack")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="give up on the monitor after this many seconds without progress",
    )
    p.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    p.add_argument("--plain", action="store_true", help="plain text instead of rich tables")
    p.add_argument(
        "--profile", action="store_true", help="sample the hub with py-spy: CPU per stage"
    )
    args = p.parse_args(argv)
    bridges = args.bridges or (4 if args.quick else 10)
    per_bridge = args.readings_per_bridge or (5_000 if args.quick else 20_000)
    if bridges < 1 or per_bridge < 1 or not 1 <= args.batch <= 5_000:
        p.error("--bridges and --readings-per-bridge must be >= 1, --batch within 1..5000")
    params = Params(
        bridges=bridges,
        readings_per_bridge=per_bridge,
        batch=args.batch,
        compression=args.compression,
        ack_timeout_s=args.ack_timeout,
        drain_timeout_s=args.drain_timeout,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        profile=args.profile,
    )
    return args, params


async def main_async(args: argparse.Namespace, params: Params, out: Printer) -> list[Run]:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    runs = []
    for backend in backends:
        try:
            run = await run_backend(backend, params, out.log)
        except Exception as exc:  # a backend that cannot start still lets the others run
            run = Run(backend=backend, total=params.total, failure=f"{type(exc).__name__}: {exc}")
        title = f"{backend}: " + (
            "SQLite file + in-process bus" if backend == "sqlite" else "PostgreSQL + Redis Streams"
        )
        out.table(title, report_rows(run, params))
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    args, params = parse_args(argv)
    out = Printer(args.plain)
    out.table("Machine", machine_info())
    out.table(
        "Parameters",
        [
            ("command", " ".join([Path(sys.executable).name, *sys.argv])),
            ("bridges", str(params.bridges)),
            ("readings per bridge", f"{params.readings_per_bridge:,}"),
            (
                "batch",
                f"{params.batch} ({params.batches_per_bridge} batches per bridge, lock-step)",
            ),
            ("total readings", f"{params.total:,}"),
            ("backend", args.backend),
            ("client compression", "permessage-deflate" if params.compression else "off"),
            ("hub", "subprocess: telemed serve --port 0 (uvicorn, one process)"),
        ],
    )
    runs = asyncio.run(main_async(args, params, out))
    if len(runs) > 1:
        out.comparison(runs)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
